"""The raw store, on a local folder and on S3-compatible storage (moto's server): imports append part files
per day (never rewriting a day), a window reads only its days, unknown labels are nulls, retention drops
old days, erasure removes every row of a request id and rewrites only the files that held one; the Hive
partitions read back with pyarrow.dataset. One function opens a store from its location."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from data import scale_gen as sg
from services.core.config import ConfigError
from services.monitoring import raw_store

SPEC = sg.ScaleSpec(3_000, days=4)


@pytest.fixture(scope="module")
def frames():
    return [f.drop(columns=["outcome_ts"]).assign(label=np.where(np.arange(len(f)) % 3 == 0, np.nan, 1.0))
            for _, f in sg.iter_days(SPEC)]  # fmt: skip


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> raw_store.RawStore:
    location = str(tmp_path) if request.param == "local" else request.getfixturevalue("s3_location")
    return raw_store.open_store(location)


def _mtime(store: raw_store.RawStore, path: str):
    return store.filesystem.get_file_info(path).mtime


def test_append_read_window_and_nulls(store, frames):
    for f in frames:
        raw_store.append(store, "churn", 1, f.iloc[: len(f) // 2])
    for f in frames:
        raw_store.append(store, "churn", 1, f.iloc[len(f) // 2 :])  # a second import: a second part file
    names = [p.rsplit("/", 1)[-1] for p in raw_store.parts(store, "churn", 1, SPEC.day_date(1))]
    assert [n.split("-")[1] for n in names] == ["0", "1"] and all(n.endswith(".parquet") for n in names)
    window = raw_store.read_window(store, "churn", 1, SPEC.day_date(1), SPEC.day_date(2))
    assert len(window) == len(frames[1]) + len(frames[2])
    whole = ds.dataset(store.root, filesystem=store.filesystem, format="parquet", partitioning="hive").to_table()
    assert whole.num_rows == sum(len(f) for f in frames)
    assert whole.column("label").null_count == sum(int(f["label"].isna().sum()) for f in frames)
    assert raw_store.versions(store) == [("churn", 1)]


def test_retention_and_erasure(store, frames):
    for f in frames:
        raw_store.append(store, "churn", 1, f)
    raw_store.append(store, "churn", 1, frames[3].iloc[:1])  # a part holding only an erased id: deleted
    assert raw_store.drop_before(store, "churn", 1, SPEC.day_date(2)) == [SPEC.day_date(0), SPEC.day_date(1)]
    assert raw_store.days(store, "churn", 1) == [SPEC.day_date(2), SPEC.day_date(3)]
    gone = [frames[3]["request_id"].iloc[0], frames[3]["request_id"].iloc[9], "not-there"]
    (untouched,) = raw_store.parts(store, "churn", 1, SPEC.day_date(2))
    before = _mtime(store, untouched)
    result = raw_store.erase(store, "churn", 1, gone)
    assert result == raw_store.EraseResult(rows_removed=3, files_rewritten=2)
    assert len(raw_store.parts(store, "churn", 1, SPEC.day_date(3))) == 1
    left = raw_store.read_window(store, "churn", 1, SPEC.day_date(0), SPEC.day_date(3) + timedelta(days=1))
    assert len(left) == len(frames[2]) + len(frames[3]) - 2 and not set(gone) & set(left["request_id"])
    assert _mtime(store, untouched) == before  # a file without an erased id is not touched


def test_a_window_unites_the_parts_columns(store, frames):
    day = frames[0]
    raw_store.append(store, "churn", 1, day.iloc[:10].drop(columns=["tier"]))  # an import without a cohort
    raw_store.append(store, "churn", 1, day.iloc[10:20])
    window = raw_store.read_window(store, "churn", 1, SPEC.day_date(0), SPEC.day_date(0))
    assert len(window) == 20 and window["tier"].isna().sum() == 10


def test_partition_names_are_checked(tmp_path, frames):
    with pytest.raises(ValueError):
        raw_store.append(tmp_path, "../etc", 1, frames[0])


def test_open_store_by_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    store = raw_store.open_store()
    assert store.local and store.root == (tmp_path / "raw").as_posix()
    assert raw_store.open_store(store) is store
    monkeypatch.setenv("LOOPDECK_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    s3 = raw_store.open_store("s3://bucket/some/prefix/")
    assert isinstance(s3.filesystem, pafs.S3FileSystem) and s3.root == "bucket/some/prefix"
    for bad in ("gs://bucket/x", "s3://", "s3://bucket?x=1"):
        with pytest.raises(ConfigError, match="s3://bucket"):
            raw_store.open_store(bad)
    monkeypatch.setenv("LOOPDECK_S3_ENDPOINT_URL", "ftp://host")
    with pytest.raises(ConfigError, match="LOOPDECK_S3_ENDPOINT_URL"):
        raw_store.open_store("s3://bucket")


def test_a_named_part_is_replaced_and_days_can_be_dropped(store, frames):
    """A batch written again under its name replaces its part (no copy); drop_days removes chosen days."""
    batch = frames[0].iloc[:30]
    raw_store.append(store, "churn", 1, batch, name="1001")
    raw_store.append(store, "churn", 1, batch, name="1001")
    raw_store.append(store, "churn", 1, frames[0].iloc[30:40])
    names = [p.rsplit("/", 1)[-1] for p in raw_store.parts(store, "churn", 1, SPEC.day_date(0))]
    assert len(names) == 2 and names[0] == "part-1001.parquet" and names[1].startswith("part-1002-")
    assert len(raw_store.read_window(store, "churn", 1, SPEC.day_date(0), SPEC.day_date(0))) == 40
    with pytest.raises(ValueError):
        raw_store.append(store, "churn", 1, batch, name="../x")
    raw_store.append(store, "churn", 1, frames[1])
    raw_store.drop_days(store, "churn", 1, [SPEC.day_date(0), SPEC.day_date(3)])
    assert raw_store.days(store, "churn", 1) == [SPEC.day_date(1)]
