"""The raw store: imports append part files per day (never rewriting a day), a window reads only its
days, unknown labels are nulls, retention drops old days, erasure removes every row of a request id and
rewrites only the files that held one; DuckDB-style Hive partitions read back with pyarrow.dataset."""

from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
import pyarrow.dataset as ds
import pytest

from data import scale_gen as sg
from services.monitoring import raw_store

SPEC = sg.ScaleSpec(3_000, days=4)


@pytest.fixture
def frames():
    return [f.drop(columns=["outcome_ts"]).assign(label=np.where(np.arange(len(f)) % 3 == 0, np.nan, 1.0))
            for _, f in sg.iter_days(SPEC)]  # fmt: skip


def test_append_read_window_and_nulls(tmp_path, frames):
    for f in frames:
        raw_store.append(tmp_path, "churn", 1, f.iloc[: len(f) // 2])
    for f in frames:
        raw_store.append(tmp_path, "churn", 1, f.iloc[len(f) // 2 :])  # a second import: a second part file
    names = [p.rsplit("/", 1)[-1] for p in raw_store.parts(tmp_path, "churn", 1, SPEC.day_date(1))]
    assert [n.split("-")[1] for n in names] == ["0", "1"] and all(n.endswith(".parquet") for n in names)
    window = raw_store.read_window(tmp_path, "churn", 1, SPEC.day_date(1), SPEC.day_date(2))
    assert len(window) == len(frames[1]) + len(frames[2])
    whole = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert whole.num_rows == sum(len(f) for f in frames)
    assert whole.column("label").null_count == sum(int(f["label"].isna().sum()) for f in frames)


def test_retention_and_erasure(tmp_path, frames):
    for f in frames:
        raw_store.append(tmp_path, "churn", 1, f)
    assert raw_store.drop_before(tmp_path, "churn", 1, SPEC.day_date(2)) == [SPEC.day_date(0), SPEC.day_date(1)]
    assert raw_store.days(tmp_path, "churn", 1) == [SPEC.day_date(2), SPEC.day_date(3)]
    gone = [frames[3]["request_id"].iloc[5], frames[3]["request_id"].iloc[9], "not-there"]
    (untouched,) = raw_store.parts(tmp_path, "churn", 1, SPEC.day_date(2))
    before = os.stat(untouched).st_mtime_ns
    result = raw_store.erase(tmp_path, "churn", 1, gone)
    assert result == raw_store.EraseResult(rows_removed=2, files_rewritten=1)
    left = raw_store.read_window(tmp_path, "churn", 1, SPEC.day_date(0), SPEC.day_date(3) + timedelta(days=1))
    assert len(left) == len(frames[2]) + len(frames[3]) - 2 and not set(gone) & set(left["request_id"])
    after = os.stat(untouched).st_mtime_ns
    assert before == after  # a file without an erased id is not touched


def test_partition_names_are_checked(tmp_path, frames):
    with pytest.raises(ValueError):
        raw_store.append(tmp_path, "../etc", 1, frames[0])
