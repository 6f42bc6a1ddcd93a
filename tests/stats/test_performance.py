"""Classification metrics per cohort, vectorised, against sklearn per group; CIs; cohort ranking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from services.stats import cohort_metrics
from services.stats import performance as perf


def _scenario(n: int = 30_000, seed: int = 0):
    """Three devices x two regions; android in EU has lost its signal (labels are coin flips)."""
    rng = np.random.default_rng(seed)
    device = rng.choice(["ios", "android", "web"], n, p=[0.45, 0.45, 0.10])
    region = rng.choice(["US", "EU"], n)
    score = rng.beta(2, 3, n).round(3)  # rounded: many tied scores
    y = (rng.random(n) < score).astype(int)
    bad = (device == "android") & (region == "EU")
    y[bad] = (rng.random(bad.sum()) < 0.5).astype(int)
    return y, score, (score >= 0.5).astype(int), device, region


def _sklearn(y, score, pred) -> dict[str, float]:
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred),
        "recall": skm.recall_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "roc_auc": skm.roc_auc_score(y, score),
        "log_loss": skm.log_loss(y, score),
        "brier": skm.brier_score_loss(y, score),
        "positive_rate": float(np.mean(pred)),
    }


def test_cohort_metrics_equal_sklearn_per_group_two_fields():
    y, score, pred, device, region = _scenario()
    table = cohort_metrics.cohort_table(y, score, [device, region], n_resamples=0)
    assert len(table.rows) == 6
    for row in table.rows:
        sel = (device == row.cohort[0]) & (region == row.cohort[1])
        assert row.n == sel.sum()
        for metric, expected in _sklearn(y[sel], score[sel], pred[sel]).items():
            assert row.metrics[metric].value == pytest.approx(expected, abs=1e-9), (row.cohort, metric)


def test_cohort_metrics_equal_sklearn_with_one_field_and_a_dataframe():
    y, score, pred, device, region = _scenario(seed=1)
    table = cohort_metrics.cohort_table(y, score, pd.DataFrame({"device": device}), n_resamples=0)
    assert table.fields == ("device",)
    for row in table.rows:
        sel = device == row.cohort[0]
        for metric, expected in _sklearn(y[sel], score[sel], pred[sel]).items():
            assert row.metrics[metric].value == pytest.approx(expected, abs=1e-9)


def test_overall_metrics_equal_sklearn_and_log_loss_clips_like_sklearn():
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    score = np.array([0.0, 1.0, 0.7, 0.2, 0.0, 0.4, 0.55, 0.9])  # a confident miss: clipped to eps
    result = perf.classification_metrics(y, score, n_resamples=0)
    for metric, expected in _sklearn(y, score, (score >= 0.5).astype(int)).items():
        assert result[metric].value == pytest.approx(expected, abs=1e-9)


def test_roc_auc_rank_formula_equals_sklearn_on_continuous_and_tied_scores():
    rng = np.random.default_rng(4)
    for score in (rng.random(5000), rng.integers(0, 4, 5000) / 3):
        y = (rng.random(5000) < 0.3 + 0.4 * score).astype(int)
        assert perf.roc_auc(y, score, n_resamples=0).value == pytest.approx(skm.roc_auc_score(y, score), abs=1e-9)


def test_proportions_get_wilson_intervals():
    y, score, pred, *_ = _scenario(n=2000, seed=2)
    acc = perf.accuracy(y, pred)
    correct = int((y == pred).sum())
    lo, hi = proportion_confint(correct, 2000, alpha=0.05, method="wilson")
    assert (acc.ci_low, acc.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    assert acc.method == "wilson" and acc.n == 2000
    prec = perf.precision(y, pred)
    tp, pp = int((y & pred).sum()), int(pred.sum())
    lo, hi = proportion_confint(tp, pp, alpha=0.05, method="wilson")
    assert prec.n == pp and (prec.ci_low, prec.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    rec = perf.recall(y, pred)
    assert rec.n == y.sum() and rec.ci_low < rec.value < rec.ci_high
    rate = perf.positive_rate(pred)
    assert rate.value == pytest.approx(pred.mean()) and rate.n == 2000


def test_bootstrap_intervals_are_seeded_and_agree_with_a_naive_bootstrap():
    y, score, pred, *_ = _scenario(n=1500, seed=3)
    a = perf.roc_auc(y, score, n_resamples=400, seed=7)
    assert a == perf.roc_auc(y, score, n_resamples=400, seed=7)
    assert a.ci_low < a.value < a.ci_high and a.method == "bootstrap percentile, 400 resamples"
    # The same percentile bootstrap done the slow way, one sklearn call per resample.
    rng = np.random.default_rng(0)
    naive = []
    for _ in range(400):
        idx = rng.integers(0, y.size, y.size)
        naive.append(skm.roc_auc_score(y[idx], score[idx]))
    lo, hi = np.percentile(naive, [2.5, 97.5])
    width = hi - lo
    assert abs(a.ci_low - lo) < 0.15 * width and abs(a.ci_high - hi) < 0.15 * width
    for fn, metric_input in ((perf.f1, pred), (perf.log_loss, score), (perf.brier_score, score)):
        ci = fn(y, metric_input, n_resamples=200, seed=1)
        assert ci.ci_low <= ci.value <= ci.ci_high


def test_undefined_metrics_are_nan():
    y = np.zeros(50, dtype=int)
    score = np.linspace(0.1, 0.4, 50)
    result = perf.classification_metrics(y, score, n_resamples=20)
    assert math.isnan(result["recall"].value) and math.isnan(result["roc_auc"].value)
    assert math.isnan(result["precision"].value)  # nothing predicted positive
    assert result["accuracy"].value == 1.0


def test_degraded_cohort_ranks_first_and_small_cohorts_are_not_ranked():
    y, score, pred, device, region = _scenario(n=20_000, seed=5)
    rng = np.random.default_rng(9)
    kiosk = rng.random(y.size) < 0.003  # ~60 rows: under the minimum size
    device = np.where(kiosk, "kiosk", device)
    table = cohort_metrics.cohort_table(y, score, device, rank_by="accuracy", min_size=100, n_resamples=0)
    first = table.rows[0]
    assert first.cohort == ("android",) and first.rank == 1 and first.gap < 0 and first.flagged
    small = [r for r in table.rows if r.cohort == ("kiosk",)][0]
    assert small.too_small and small.rank is None and not small.flagged
    assert table.rows[-1] is small  # unranked rows come last
    # The gap and its test are the cohort against all other rows.
    sel = device == "android"
    correct = y == pred
    assert first.rest_value == pytest.approx(correct[~sel].mean())
    assert first.gap == pytest.approx(correct[sel].mean() - correct[~sel].mean())
    _, p = proportions_ztest([correct[sel].sum(), correct[~sel].sum()], [sel.sum(), (~sel).sum()])
    assert first.p_value == pytest.approx(p)
    assert first.gap_ci_low < first.gap < first.gap_ci_high < 0
    assert [r.rank for r in table.rows if r.rank] == list(range(1, 4))


def test_ranking_by_roc_auc_uses_the_auc_of_all_other_rows():
    y, score, pred, device, region = _scenario(n=12_000, seed=6)
    table = cohort_metrics.cohort_table(y, score, [device, region], rank_by="roc_auc", n_resamples=150)
    for row in table.rows:
        sel = (device == row.cohort[0]) & (region == row.cohort[1])
        assert row.rest_value == pytest.approx(skm.roc_auc_score(y[~sel], score[~sel]), abs=1e-9)
    worst = table.rows[0]
    assert worst.cohort == ("android", "EU") and worst.flagged
    assert worst.gap_ci_low < worst.gap < worst.gap_ci_high < 0
    assert not any(r.flagged for r in table.rows[1:])


def test_losses_rank_the_cohort_with_the_higher_loss_as_worse():
    y, score, pred, device, region = _scenario(n=12_000, seed=7)
    table = cohort_metrics.cohort_table(y, score, device, rank_by="log_loss", n_resamples=100)
    worst = table.rows[0]
    assert worst.cohort == ("android",)
    assert worst.metrics["log_loss"].value > worst.rest_value and worst.gap < 0


def test_inputs_are_checked():
    with pytest.raises(ValueError):
        perf.accuracy([0, 2, 1], [0, 1, 1])
    with pytest.raises(ValueError):
        cohort_metrics.cohort_table([0, 1], [0.2, 0.8], ["a", "b"], rank_by="mystery")
    with pytest.raises(ValueError):
        cohort_metrics.cohort_table([0, 1], [0.2, 0.8], [["a", "b"], ["x", "y"], ["u", "v"]])


def test_an_empty_window_gives_undefined_metrics_not_an_error():
    result = perf.classification_metrics([], [], n_resamples=10)
    assert result.n == 0 and all(math.isnan(m.value) for m in result.metrics)
    assert cohort_metrics.cohort_table([], [], [], n_resamples=0).rows == ()
