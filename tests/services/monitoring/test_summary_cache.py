"""summary_cache: a window's days from stored summaries when they are current, else built from the day's
block (and said so); one-field cohort filters exact; two fields refused; cached by the days' generations.
On SQLite and Postgres (the `engine` fixture)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from services.monitoring import block_build, frames, metrics, performance, summary_cache, summary_store
from services.monitoring import day_summary as dsum
from services.monitoring import summary_merge as sm
from services.monitoring import summary_metrics as smx
from services.monitoring.views import Window
from tests.services.monitoring.test_monitoring_data import (
    START,
    import_outcomes,
    import_predictions,
    model,
    predictions_frame,
)

SCHEMA = dsum.SummarySchema(("x", "n"), ("plan",), ("platform", "region"), sample_k=50)
WINDOW = Window(date(2026, 3, 2), date(2026, 3, 5))


@pytest.fixture(autouse=True)
def _fresh_caches():
    frames.clear_caches()
    yield
    frames.clear_caches()


def _rows_as_folded(frame: pd.DataFrame, labels: dict[str, float]) -> pd.DataFrame:
    """The imported rows as the import path folds them (features and cohorts by name, label or NaN)."""
    return pd.DataFrame({
        "request_id": frame["request_id"], "ts": pd.to_datetime(frame["ts"], utc=True), "score": frame["score"],
        "predicted_label": frame["predicted_label"], "label": frame["request_id"].map(labels).astype(float),
        "x": frame["feature_x"], "n": frame["feature_n"].astype(float), "plan": frame["feature_plan"],
        "platform": frame["cohort_platform"], "region": frame["cohort_region"],
    })  # fmt: skip


@pytest.fixture
def loaded(engine):
    mv = model(engine, {"x": "numeric", "n": "numeric", "plan": "categorical"})
    frame = predictions_frame(800, 4)
    import_predictions(engine, frame)
    labelled = frame["request_id"][:600]
    y = (frame["score"][:600] + 0.3 * np.sin(np.arange(600)) > 0.5).astype(int)
    import_outcomes(engine, labelled, y)
    block_build.refresh(engine)
    return engine, mv, _rows_as_folded(frame, dict(zip(labelled, y.astype(float), strict=True)))


def _row_metrics(rows: pd.DataFrame) -> sm.sh.HistogramMetrics:
    return sm.performance(sm.merge_window(dsum.fold_chunk(rows, SCHEMA).values(), sample=False))


def test_days_without_a_summary_are_built_from_their_blocks_and_said_so(loaded):
    engine, mv, rows = loaded
    got = summary_cache.window_summary(engine, mv, WINDOW)
    assert got.from_blocks == tuple(date(2026, 3, 2) + timedelta(days=i) for i in range(4))
    assert got.n_rows == len(rows) and got.summary is not None and got.summary.n_rows == len(rows)
    want = _row_metrics(rows)
    m = sm.performance(got.summary)
    assert (m.n, m.tp, m.fp, m.tn, m.fn) == (want.n, want.tp, want.fp, want.tn, want.fn)
    assert m.n == 600
    assert summary_cache.window_summary(engine, mv, WINDOW) is got  # cached


def test_a_current_stored_summary_is_read_and_a_stale_one_is_not(loaded):
    engine, mv, rows = loaded
    day0 = rows[rows["ts"].dt.date == date(2026, 3, 2)]
    summary_store.fold_rows(engine, mv, day0, SCHEMA)
    got = summary_cache.window_summary(engine, mv, WINDOW)
    assert date(2026, 3, 2) not in got.from_blocks and len(got.from_blocks) == 3
    np.testing.assert_array_equal(sm.performance(got.summary).tp, _row_metrics(rows).tp)
    # A summary behind its block (here: holding half the day's rows) is not read: the block is.
    day1 = rows[rows["ts"].dt.date == date(2026, 3, 3)]
    summary_store.fold_rows(engine, mv, day1.iloc[: len(day1) // 2], SCHEMA)
    again = summary_cache.window_summary(engine, mv, WINDOW)
    assert again is not got and date(2026, 3, 3) in again.from_blocks
    assert again.n_rows == len(rows)


def test_one_cohort_field_filters_exactly_and_two_are_refused(loaded):
    engine, mv, rows = loaded
    got = summary_cache.window_summary(engine, mv, WINDOW, {"platform": ["ios", "web"]})
    want = _row_metrics(rows[rows["platform"].isin(["ios", "web"])])
    m = sm.performance(got.summary)
    assert (m.n, m.tp, m.fp, m.tn, m.fn) == (want.n, want.tp, want.fp, want.tn, want.fn)
    assert got.n_rows == int(rows["platform"].isin(["ios", "web"]).sum())
    assert set(got.summary.sample["platform"].astype(str)) <= {"ios", "web"}
    assert {f for f, _ in got.summary.strata[1:]} == {"platform"}
    with pytest.raises(summary_cache.NotInStrata, match="one cohort field at a time"):
        summary_cache.window_summary(engine, mv, WINDOW, {"platform": "ios", "region": "EU"})


def test_new_rows_move_the_generation_and_only_that_day_is_read_again(loaded):
    engine, mv, rows = loaded
    first = summary_cache.window_summary(engine, mv, WINDOW, sample=False)
    import_predictions(engine, predictions_frame(30, 1, start=START + timedelta(days=3), prefix="late"))
    block_build.refresh(engine)
    after = summary_cache.window_summary(engine, mv, WINDOW, sample=False)
    assert after.n_rows == first.n_rows + 30
    changed = [a for a, b in zip(after.token, first.token, strict=True) if a != b]
    assert [c[0] for c in changed] == [date(2026, 3, 5)]


def test_the_performance_views_read_summaries_on_either_database(loaded):
    engine, mv, _ = loaded
    got = performance.cohort_report(engine, mv, WINDOW, ("platform",), min_size=10)
    want = performance.cohort_report(engine, mv, WINDOW, ("platform",), min_size=10, rows=True)
    assert got.source == smx.SOURCE and want.source == "rows" and got.n_labelled == want.n_labelled == 600
    assert [line.label for line in got.lines] == [line.label for line in want.lines]
    assert [line.row.metrics["accuracy"].value for line in got.lines] == pytest.approx(
        [line.row.metrics["accuracy"].value for line in want.lines], abs=1e-12)  # fmt: skip
    value = metrics.metric_value(engine, mv, "accuracy", WINDOW, cohort_filter={"platform": "ios"})
    row = metrics.metric_value(engine, mv, "accuracy", WINDOW, cohort_filter={"platform": "ios"}, rows=True)
    assert (value.value, value.n, value.detail["source"]) == (pytest.approx(row.value), row.n, smx.SOURCE)
