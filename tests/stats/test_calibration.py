"""Reliability diagrams against sklearn's calibration_curve, ECE, and per-cohort diagrams."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from statsmodels.stats.proportion import proportion_confint

from services.stats.calibration import calibration_by_cohort, reliability_diagram


def _data(n: int = 20_000, seed: int = 0, power: float = 1.0):
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, n)
    y = (rng.random(n) < p).astype(int)
    return y, p**power  # power != 1: a monotone but miscalibrated score


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_bins_equal_sklearn_calibration_curve(strategy, n_bins):
    y, score = _data(power=1.5)
    diagram = reliability_diagram(y, score, n_bins=n_bins, strategy=strategy)
    prob_true, prob_pred = calibration_curve(y, score, n_bins=n_bins, strategy=strategy)
    np.testing.assert_allclose(diagram.prob_true, prob_true, rtol=0, atol=1e-12)
    np.testing.assert_allclose(diagram.prob_pred, prob_pred, rtol=0, atol=1e-12)
    assert sum(b.count for b in diagram.bins) == diagram.n == y.size


def test_empty_bins_are_dropped_like_sklearn():
    y = np.array([0, 1, 1, 0, 1])
    score = np.array([0.05, 0.92, 0.97, 0.08, 0.91])
    diagram = reliability_diagram(y, score, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, score, n_bins=10)
    assert len(diagram.bins) == 2
    np.testing.assert_allclose(diagram.prob_true, prob_true)
    np.testing.assert_allclose(diagram.prob_pred, prob_pred)
    assert (diagram.bins[0].lower, diagram.bins[0].upper) == (0.0, pytest.approx(0.1))


def test_ece_is_the_count_weighted_gap_and_separates_calibrated_from_not():
    y, score = _data(power=2.0)
    diagram = reliability_diagram(y, score, n_bins=10)
    counts = np.array([b.count for b in diagram.bins])
    gaps = np.abs(diagram.prob_true - diagram.prob_pred)
    assert diagram.ece == pytest.approx(np.sum(counts / counts.sum() * gaps), rel=1e-12)
    assert diagram.mce == pytest.approx(gaps.max())
    y_cal, score_cal = _data(power=1.0)
    assert reliability_diagram(y_cal, score_cal).ece < 0.015 < diagram.ece


def test_each_bin_has_a_wilson_interval():
    y, score = _data(n=3000)
    for b in reliability_diagram(y, score, n_bins=8).bins:
        lo, hi = proportion_confint(round(b.observed_rate * b.count), b.count, alpha=0.05, method="wilson")
        assert (b.ci_low, b.ci_high) == (pytest.approx(lo), pytest.approx(hi))


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_per_cohort_diagrams_equal_each_cohort_alone(strategy):
    y, score = _data(n=12_000, seed=3, power=1.3)
    rng = np.random.default_rng(4)
    device = rng.choice(["ios", "android", "web"], y.size)
    region = rng.choice(["US", "EU"], y.size)
    by_cohort = calibration_by_cohort(y, score, [device, region], n_bins=10, strategy=strategy)
    assert len(by_cohort.cohorts) == 6
    for cohort, diagram in zip(by_cohort.cohorts, by_cohort.diagrams, strict=True):
        sel = (device == cohort[0]) & (region == cohort[1])
        alone = reliability_diagram(y[sel], score[sel], n_bins=10, strategy=strategy)
        np.testing.assert_allclose(diagram.prob_true, alone.prob_true, atol=1e-12)
        np.testing.assert_allclose(diagram.prob_pred, alone.prob_pred, atol=1e-12)
        assert diagram.ece == pytest.approx(alone.ece, abs=1e-12)
    assert by_cohort[("ios", "EU")].n == ((device == "ios") & (region == "EU")).sum()


def test_scores_outside_zero_one_are_refused():
    with pytest.raises(ValueError):
        reliability_diagram([0, 1], [0.5, 1.2])


def test_an_empty_window_has_no_bins():
    diagram = reliability_diagram([], [])
    assert diagram.n == 0 and diagram.bins == ()
    assert calibration_by_cohort([], [], []).diagrams == ()
