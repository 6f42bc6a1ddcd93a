"""What matters first on the Performance tab: cohorts that regressed since the reference window rank ahead
of gaps that were there already (services/monitoring/cohort_rank.py), on the demo story and on a small
synthetic version (SQLite and Postgres); the change's interval (services.stats.cohort_metrics.metric_change).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from services import ingest
from services.monitoring import block_build, cohort_rank, performance
from services.monitoring import views as mon
from services.stats import cohort_metrics
from services.stats.performance import MetricCI
from tests.services import factories
from tests.services.monitoring.test_monitoring import ANALYST, demo, v2  # noqa: F401 - fixtures

W = mon.Window
START = datetime(2026, 3, 2, tzinfo=UTC)


# --- the change's interval ---------------------------------------------------------------------------


def test_a_proportion_change_has_newcombs_interval_as_statsmodels_computes_it():
    now = MetricCI("accuracy", 480 / 640, 0.0, 1.0, 640, "wilson")
    before = MetricCI("accuracy", 520 / 601, 0.0, 1.0, 601, "wilson")
    change = cohort_metrics.metric_change(now, before)
    lo, hi = confint_proportions_2indep(480, 640, 520, 601, method="newcomb", compare="diff")
    assert change.change == pytest.approx(480 / 640 - 520 / 601)
    assert (change.ci_low, change.ci_high) == pytest.approx((lo, hi))
    assert change.method == "newcomb" and change.worse and change.regression > 0.1


def test_other_metrics_combine_the_two_intervals_and_a_rising_loss_is_a_regression():
    auc = cohort_metrics.metric_change(MetricCI("roc_auc", 0.85, 0.82, 0.88, 500, "bootstrap"),
                                       MetricCI("roc_auc", 0.90, 0.88, 0.92, 500, "bootstrap"))  # fmt: skip
    assert auc.method == "MOVER" and auc.change == pytest.approx(-0.05)
    assert auc.ci_low == pytest.approx(-0.05 - np.hypot(0.03, 0.02))
    assert auc.ci_high == pytest.approx(-0.05 + np.hypot(0.03, 0.02)) and auc.worse
    loss = cohort_metrics.metric_change(MetricCI("log_loss", 0.50, 0.47, 0.53, 500, "bootstrap"),
                                        MetricCI("log_loss", 0.40, 0.38, 0.42, 500, "bootstrap"))  # fmt: skip
    assert loss.change == pytest.approx(0.1) and loss.regression == pytest.approx(0.1) and loss.worse
    better = cohort_metrics.metric_change(MetricCI("log_loss", 0.30, 0.28, 0.32, 500, "bootstrap"),
                                          MetricCI("log_loss", 0.40, 0.38, 0.42, 500, "bootstrap"))  # fmt: skip
    assert better.regression < 0 and not better.worse
    with pytest.raises(ValueError):
        cohort_metrics.metric_change(MetricCI("accuracy", 0.8, 0.7, 0.9, 9, "w"), MetricCI("f1", 0.8, 0.7, 0.9, 9, "w"))


# --- the demo: the app release's mobile drop before the free tier's old gap -------------------------


@pytest.mark.parametrize("preset", ["last28", "after_reference"])
def test_the_mobile_drop_outranks_the_free_tiers_old_gap_on_the_demo(demo, v2, preset):  # noqa: F811
    reference = mon.preset_window(v2, "first14")
    current = mon.preset_window(v2, preset, reference)
    report = performance.cohort_report(demo, v2.id, current, reference=reference)
    by_label = {line.label: line for line in report.lines}
    ios, android, free = by_label["platform = ios"], by_label["platform = android"], by_label["tier = free"]
    if preset == "last28":  # the Monitoring default: ranked by gap alone the free tier came first
        assert free.row.gap < ios.row.gap < android.row.gap
    assert [ios.rank, android.rank] == [1, 2] and free.rank > android.rank
    assert ios.kind == android.kind == cohort_rank.NEW_REGRESSION
    assert free.kind == cohort_rank.STANDING_GAP and free.reference_flagged and free.row.flagged
    assert ios.vs_reference.change < -0.08 and ios.vs_reference.worse
    assert ios.reason.startswith("new: -") and ios.reason.endswith(" pts vs reference")
    assert free.reason.startswith("long-standing gap (")
    # Every new regression comes before every standing gap, and those before the rest.
    order = [line.kind for line in report.lines if line.rank is not None]
    groups = [cohort_rank.NEW_REGRESSION, cohort_rank.STANDING_GAP, cohort_rank.OTHER]
    assert order == sorted(order, key=groups.index)
    assert [line.rank for line in report.lines if line.rank] == list(range(1, len(order) + 1))


def test_without_a_reference_the_ranking_is_by_gap_and_says_no_reason(demo, v2):  # noqa: F811
    current = mon.preset_window(v2, "last28")
    report = performance.cohort_report(demo, v2.id, current)
    gaps = [line.row.gap for line in report.lines if line.rank is not None]
    assert gaps == sorted(gaps) and report.lines[0].label == "tier = free"
    assert all(line.reason == "" and line.vs_reference is None for line in report.lines)


# --- a small version on both databases ---------------------------------------------------------------


def _two_cohorts(engine, days: int = 20, per_day: int = 300, shift_day: int = 10, seed: int = 3) -> int:
    """The free tier is wrong more often from the start; ios goes wrong from `shift_day` on."""
    rng = np.random.default_rng(seed)
    mv = factories.model_version(engine, "churn", 1)
    n = days * per_day
    day = np.repeat(np.arange(days), per_day)
    platform = rng.choice(["web", "ios"], n)
    tier = rng.choice(["free", "pro"], n)
    score = rng.random(n).round(6)
    pred = (score >= 0.5).astype(int)
    flip = np.where(tier == "free", 0.25, 0.08) + np.where((platform == "ios") & (day >= shift_day), 0.12, 0.0)
    y = np.where(rng.random(n) < flip, 1 - pred, pred)
    frame = pd.DataFrame({
        "request_id": [f"r-{i}" for i in range(n)], "model_name": "churn", "model_version": 1,
        "ts": [(START + timedelta(days=int(d), hours=12)).isoformat() for d in day],
        "score": score, "predicted_label": pred, "cohort_platform": platform, "cohort_tier": tier,
    })  # fmt: skip
    ingest.import_frame(engine, ANALYST, "predictions", frame, "synthetic")
    outcomes = pd.DataFrame({"request_id": frame["request_id"], "ts": (START + timedelta(days=40)).isoformat(),
                             "actual_label": y})  # fmt: skip
    ingest.import_frame(engine, ANALYST, "outcomes", outcomes, "synthetic")
    block_build.refresh(engine)
    return mv


def test_a_new_regression_ranks_before_an_old_gap_on_both_databases(engine):
    mv = _two_cohorts(engine)
    first = START.date()
    reference, current = W(first, first + timedelta(days=9)), W(first + timedelta(days=10), first + timedelta(days=19))
    report = performance.cohort_report(engine, mv, current, reference=reference)
    by_label = {line.label: line for line in report.lines}
    ios, free = by_label["platform = ios"], by_label["tier = free"]
    assert free.row.gap < ios.row.gap  # the old gap is the larger one ...
    assert ios.rank == 1 and ios.kind == cohort_rank.NEW_REGRESSION  # ... the new drop comes first
    assert free.kind == cohort_rank.STANDING_GAP and free.rank > ios.rank
    assert ios.vs_reference.regression == max(ln.vs_reference.regression for ln in report.lines)
    same = performance.cohort_report(engine, mv, reference, reference=reference)
    assert not any(line.kind == cohort_rank.NEW_REGRESSION for line in same.lines)  # no change, no regression
