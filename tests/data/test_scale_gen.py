"""The streaming scale generator: exact row counts, one day at a time, reproducible per day, Hive-partitioned
Parquet that pyarrow.dataset reads back whole, outcomes only where known at the snapshot, and the demo
story (mobile accuracy drops after the release day, web does not)."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import pytest

from data import scale_gen as sg


def test_daily_counts_sum_to_rows_and_days_are_reproducible_alone():
    spec = sg.ScaleSpec(50_000, days=10)
    counts = spec.daily_counts()
    assert counts.sum() == 50_000 and len(counts) == 10
    day = sg.generate_day(spec, 3, int(counts[3]))
    again = sg.generate_day(spec, 3, int(counts[3]))
    assert day.equals(again)
    assert day["request_id"].is_unique and day["request_id"].iloc[0] == "churn-1-3-0"
    assert (day["ts"].dt.date == spec.day_date(3)).all()
    sizes = [len(frame) for _, frame in sg.iter_days(spec)]
    assert sizes == counts.tolist()  # one frame per day: never more than a day in memory


def test_parquet_partitions_read_back_whole(tmp_path):
    spec = sg.ScaleSpec(20_000, days=5)
    rows, size = sg.write_dataset(tmp_path, spec, echo=None)
    assert rows == 20_000 and size > 0
    pred = ds.dataset(tmp_path / "predictions", format="parquet", partitioning="hive").to_table()
    assert pred.num_rows == 20_000
    assert set(pred.column("day").to_pylist()) == {spec.day_date(d).isoformat() for d in range(5)}
    assert set(pred.column("model").to_pylist()) == {"churn"}
    out = ds.dataset(tmp_path / "outcomes", format="parquet", partitioning="hive").to_table()
    # 5 days from START: every outcome is due 7-30 days later, after NOW, so none is known yet.
    assert out.num_rows == 0


def test_outcomes_are_known_only_before_the_snapshot_and_the_story_holds():
    spec = sg.ScaleSpec(900_000, days=90)
    early, late = sg.generate_day(spec, 20, 30_000), sg.generate_day(spec, 80, 30_000)
    assert early["label"].notna().mean() > 0.95  # due 7-30 days later: all arrived (2% never do)
    assert late["label"].notna().mean() < 0.2  # 10 days before NOW: few have
    assert (early["outcome_ts"].dropna() > early["ts"][early["outcome_ts"].notna()]).all()

    def accuracy(frame, platform):
        lab = frame[frame["label"].notna() & (frame["platform"] == platform)]
        return float((lab["predicted_label"] == lab["label"]).mean())

    after = sg.generate_day(spec, 65, 30_000)
    assert accuracy(after, "ios") < accuracy(early, "ios") - 0.08  # the release broke mobile
    assert accuracy(after, "web") == pytest.approx(accuracy(early, "web"), abs=0.02)
    assert np.median(after.loc[after["platform"] == "ios", "app_latency_ms"]) > 1.5 * np.median(
        early.loc[early["platform"] == "ios", "app_latency_ms"]
    )


def test_bounded_arguments():
    with pytest.raises(ValueError):
        sg.ScaleSpec(0)
    with pytest.raises(ValueError):
        sg.ScaleSpec(sg.MAX_ROWS + 1)
