"""The Performance, Calibration and Estimated views from day summaries against the same views from the
window's rows (rows=True) on the demo story: exact where summary_metrics says exact, within the reported
bound elsewhere; views the strata do not hold read rows."""

from __future__ import annotations

import numpy as np
import pytest

from services.core.db import make_engine
from services.monitoring import estimated, metrics, performance
from services.monitoring import summary_metrics as smx
from services.monitoring import views as mon
from services.stats import performance as perf
from tests.services.monitoring.test_monitoring import RELEASE, W, demo_database

EXACT = ("accuracy", "precision", "recall", "f1", "positive_rate")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = make_engine(f"sqlite:///{demo_database(tmp_path_factory.getbasetemp() / 'monitoring-demo')}")
    yield engine
    engine.dispose()


@pytest.fixture
def v2(demo) -> mon.VersionInfo:
    return mon.default_version(mon.list_versions(demo))


def _same_metric(a: perf.MetricCI, b: perf.MetricCI, bound: float, bootstrap_ci: bool = True) -> None:
    assert a.n == b.n, a.metric
    if a.metric in EXACT:
        assert a.value == pytest.approx(b.value, abs=1e-12, nan_ok=True), a.metric
    else:
        assert abs(a.value - b.value) <= bound + 1e-12, a.metric
    if a.metric in perf.PROPORTION_METRICS:
        assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high), abs=1e-12, nan_ok=True), a.metric
    elif bootstrap_ci and np.isfinite(b.ci_low):  # two bootstrap draws of one distribution
        width = b.ci_high - b.ci_low
        assert abs(a.ci_low - b.ci_low) <= 0.5 * width and abs(a.ci_high - b.ci_high) <= 0.5 * width, a.metric


def test_cohort_report_equals_the_rows_where_exact_and_within_the_bound_elsewhere(demo, v2):
    reference, after = mon.preset_window(v2, "first14"), W(RELEASE, v2.last_day)
    got = performance.cohort_report(demo, v2.id, after, ("platform",), reference=reference)
    want = performance.cohort_report(demo, v2.id, after, ("platform",), reference=reference, rows=True)
    assert (got.source, want.source) == (smx.SOURCE, "rows")
    assert (got.n_predictions, got.n_labelled) == (want.n_predictions, want.n_labelled)
    assert got.bounds["accuracy"] == 0.0 and 0 < got.bounds["roc_auc"] < 1e-3 and got.bounds["log_loss"] < 1e-3
    assert got.from_blocks == ()  # the demo's refresh stored every day's summary (summary_fold)
    assert [line.label for line in got.lines] == [line.label for line in want.lines]
    for a, b in zip(got.lines, want.lines, strict=True):
        assert (a.row.n, a.row.flagged, a.row.rank, a.new_since_reference) == (
            b.row.n, b.row.flagged, b.row.rank, b.new_since_reference)  # fmt: skip
        assert (a.row.gap, a.row.gap_ci_low, a.row.gap_ci_high) == pytest.approx(
            (b.row.gap, b.row.gap_ci_low, b.row.gap_ci_high), abs=1e-12)  # fmt: skip
        for m in perf.METRICS:
            _same_metric(a.row.metrics[m], b.row.metrics[m], got.bounds[m])
    for m in perf.METRICS:
        _same_metric(got.overall[m], want.overall[m], got.bounds[m])


def test_every_field_ranked_together_and_a_bootstrap_ranking_metric(demo, v2):
    reference, after = mon.preset_window(v2, "first14"), W(RELEASE, v2.last_day)
    for rank_by in ("accuracy", "roc_auc"):
        got = performance.cohort_report(demo, v2.id, after, rank_by=rank_by, reference=reference)
        want = performance.cohort_report(demo, v2.id, after, rank_by=rank_by, reference=reference, rows=True)
        assert got.source == smx.SOURCE
        assert {line.label for line in got.lines} == {line.label for line in want.lines}
        by_label = {line.label: line for line in want.lines}
        for a in got.lines:
            b = by_label[a.label]
            assert a.row.n == b.row.n
            _same_metric(a.row.metrics[rank_by], b.row.metrics[rank_by], got.bounds[rank_by])
        if rank_by == "accuracy":  # exact gaps and Newcombe intervals: the same flags and order
            assert [line.label for line in got.lines] == [line.label for line in want.lines]
            assert [line.row.flagged for line in got.lines] == [line.row.flagged for line in want.lines]


def test_a_filter_on_two_fields_reads_rows_and_one_field_reads_summaries(demo, v2):
    after = W(RELEASE, v2.last_day)
    two_fields = {"platform": "ios", "tier": "free"}
    two = performance.cohort_report(demo, v2.id, after, ("platform",), cohort_filter=two_fields)
    assert two.source == "rows"
    one = performance.cohort_report(demo, v2.id, after, ("platform",), cohort_filter={"platform": ["ios", "android"]})
    rows = performance.cohort_report(demo, v2.id, after, ("platform",), cohort_filter={"platform": ["ios", "android"]},
                                     rows=True)  # fmt: skip
    assert one.source == smx.SOURCE and one.n_labelled == rows.n_labelled
    assert [line.label for line in one.lines] == [line.label for line in rows.lines]
    # every field one at a time inside a filtered cohort: not in the strata
    assert performance.cohort_report(demo, v2.id, after, cohort_filter={"platform": "ios"}).source == "rows"


def test_performance_over_time_equals_the_rows(demo, v2):
    for metric, field in (("accuracy", "platform"), ("roc_auc", None)):
        got = performance.performance_over_time(demo, v2.id, "week", metric, field)
        want = performance.performance_over_time(demo, v2.id, "week", metric, field, rows=True)
        assert got.source == smx.SOURCE
        assert got.bound == 0.0 if metric == "accuracy" else 0 < got.bound < 5e-3  # weeks of a few hundred rows
        cols = ["window_start", "cohort", "n", "n_predictions"]
        assert got.frame[cols].to_dict("records") == want.frame[cols].to_dict("records")
        assert np.abs(got.frame["value"] - want.frame["value"]).max() <= got.bound + 1e-12


def test_calibration_is_exact_for_bins_dividing_1000_and_other_bins_read_rows(demo, v2):
    window = mon.preset_window(v2, "last28")
    got = performance.calibration_report(demo, v2.id, window, "platform", n_bins=10)
    want = performance.calibration_report(demo, v2.id, window, "platform", n_bins=10, rows=True)
    assert got.source == smx.SOURCE and got.n_labelled == want.n_labelled
    assert got.overall.ece == pytest.approx(want.overall.ece, abs=1e-12)
    assert [b.count for b in got.overall.bins] == [b.count for b in want.overall.bins]
    assert sorted(zip(got.cohorts.cohorts, got.cohort_sizes, strict=True)) == sorted(
        zip(want.cohorts.cohorts, want.cohort_sizes, strict=True))  # fmt: skip
    for c in want.cohorts.cohorts:
        assert got.cohorts[c].ece == pytest.approx(want.cohorts[c].ece, abs=1e-12)
    assert performance.calibration_report(demo, v2.id, window, n_bins=15).source == "rows"
    assert performance.calibration_report(demo, v2.id, window, strategy="quantile").source == "rows"


def test_realized_metric_values_for_alert_rules_equal_the_rows(demo, v2):
    window = mon.preset_window(v2, "last14")
    for metric in ("accuracy", "recall", "roc_auc", "brier"):
        got = metrics.metric_value(demo, v2.id, metric, window)
        want = metrics.metric_value(demo, v2.id, metric, window, rows=True)
        assert got.n == want.n and got.detail["n_predictions"] == want.detail["n_predictions"]
        assert got.detail["source"] == smx.SOURCE
        assert abs(got.value - want.value) <= got.detail["bound"] + 1e-12
        if metric in EXACT:
            assert got.detail["bound"] == 0.0


def test_cbpe_from_summaries_tracks_the_row_estimates(demo, v2):
    reference = mon.preset_window(v2, "first14")
    got = estimated.cbpe_report(demo, v2.id, reference, "week")
    want = estimated.cbpe_report(demo, v2.id, reference, "week", rows=True)
    # the same rows (the demo's samples hold every row) give the same "auto" verdict, whatever their order
    assert got.source == smx.SOURCE and got.calibration == want.calibration
    g, w = got.frame, want.frame
    assert g[["window_start", "metric", "n", "n_labelled", "band_check"]].shape == w[
        ["window_start", "metric", "n", "n_labelled", "band_check"]].shape  # fmt: skip
    assert (g["n"] == w["n"]).all() and (g["n_labelled"] == w["n_labelled"]).all()
    exact = g["metric"] != "roc_auc"
    np.testing.assert_allclose(g.loc[exact, "realized"], w.loc[exact, "realized"], atol=1e-12)
    # a calibrator fitted on another uniform sample of the reference: estimates close, not equal
    assert np.nanmax(np.abs(g["estimate"] - w["estimate"])) < 0.02
    assert (g["band_check"] == w["band_check"]).mean() >= 0.9
    assert "None" not in g.astype(str).to_string()
    current = mon.preset_window(v2, "last7")
    est = estimated.estimate_window(demo, v2.id, reference, current)
    row = estimated.estimate_window(demo, v2.id, reference, current, rows=True)
    assert est.n == row.n and abs(est.accuracy.value - row.accuracy.value) < 0.02
