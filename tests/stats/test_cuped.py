"""CUPED: against statsmodels OLS, variance reduction ~ rho^2, sums vs arrays."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from services.stats.abtest import welch_ttest
from services.stats.cuped import CupedSums, cuped, cuped_arrays, cuped_from_sums, pooled_theta


def _simulate(n: int, rho: float, lift: float, seed: int) -> tuple[np.ndarray, ...]:
    """Pre-period x and in-experiment y with corr(x, y) = rho within each arm; treatment adds `lift`."""
    rng = np.random.default_rng(seed)
    x = rng.normal(20.0, 5.0, size=2 * n)
    noise = rng.normal(0.0, 5.0, size=2 * n)
    y = 20.0 + rho * (x - 20.0) + np.sqrt(1 - rho**2) * noise
    t = np.r_[np.zeros(n), np.ones(n)]
    y = y + lift * t
    return y[:n], x[:n], y[n:], x[n:], y, x, t


def test_matches_statsmodels_ols_with_centred_covariate() -> None:
    """y ~ treatment + (x - mean x): the treatment coefficient and its SE.

    Tolerances, and why they are not 1e-6: OLS estimates the slope within arms and uses one
    pooled residual variance; GrowthBook's CUPED pools theta over all units (ignoring the arm) and
    keeps each arm's own adjusted variance (Welch). Both differences are O(1/n): at 5,000 units per
    arm the point estimates agree within 0.1% of a standard error and the SEs within 0.2%.
    """
    y_c, x_c, y_t, x_t, y, x, t = _simulate(5000, 0.7, 0.3, seed=42)
    r = cuped(y_c, x_c, y_t, x_t, difference_type="absolute")
    ols = sm.OLS(y, sm.add_constant(np.column_stack([t, x - x.mean()]))).fit()
    assert r.estimate == pytest.approx(ols.params[1], abs=1e-3 * ols.bse[1])
    assert r.adjusted.se == pytest.approx(ols.bse[1], rel=2e-3)
    assert r.theta == pytest.approx(ols.params[2], rel=1e-2)
    # The adjusted test is a Welch test on the adjusted values: same as regressing would say.
    assert r.p_value == pytest.approx(ols.pvalues[1], rel=0.05)


def test_variance_reduction_is_about_rho_squared() -> None:
    for rho in (0.3, 0.6, 0.9):
        y_c, x_c, y_t, x_t, *_ = _simulate(50_000, rho, 0.0, seed=int(rho * 100))
        r = cuped(y_c, x_c, y_t, x_t)
        assert r.variance_reduction == pytest.approx(rho**2, abs=0.01)
        assert r.adjusted.abs_se < r.unadjusted.abs_se


def test_unadjusted_result_is_the_plain_welch_test() -> None:
    y_c, x_c, y_t, x_t, *_ = _simulate(2000, 0.5, 0.2, seed=3)
    r = cuped(y_c, x_c, y_t, x_t)
    plain = welch_ttest(y_c.size, y_c.mean(), y_c.var(ddof=1), y_t.size, y_t.mean(), y_t.var(ddof=1))
    for field in ("abs_lift", "abs_se", "rel_lift", "rel_se", "p_value"):
        assert getattr(r.unadjusted, field) == pytest.approx(getattr(plain, field), rel=1e-9)


def test_sums_and_arrays_agree_and_theta_is_pooled() -> None:
    y_c, x_c, y_t, x_t, y, x, _ = _simulate(3000, 0.5, 0.1, seed=8)
    by_arrays = cuped(y_c, x_c, y_t, x_t)
    sums_c = CupedSums(
        n=y_c.size,
        sum_y=y_c.sum(),
        sum_x=x_c.sum(),
        sum_y2=(y_c**2).sum(),
        sum_x2=(x_c**2).sum(),
        sum_xy=(x_c * y_c).sum(),
    )
    sums_t = CupedSums.from_values(y_t, x_t)
    by_sums = cuped_from_sums(sums_c, sums_t)
    assert by_sums.estimate == pytest.approx(by_arrays.estimate, rel=1e-9)
    assert by_sums.adjusted.se == pytest.approx(by_arrays.adjusted.se, rel=1e-9)
    cov = np.cov(y, x, ddof=1)
    assert float(pooled_theta(sums_c, sums_t)[0]) == pytest.approx(cov[0, 1] / cov[1, 1], rel=1e-9)


def test_adjusted_values_are_a_welch_test_on_y_minus_theta_x() -> None:
    y_c, x_c, y_t, x_t, *_ = _simulate(1500, 0.6, 0.4, seed=21)
    r = cuped(y_c, x_c, y_t, x_t, difference_type="absolute")
    a_c, a_t = y_c - r.theta * x_c, y_t - r.theta * x_t
    ref = welch_ttest(
        a_c.size, a_c.mean(), a_c.var(ddof=1), a_t.size, a_t.mean(), a_t.var(ddof=1), difference_type="absolute"
    )
    assert r.estimate == pytest.approx(ref.abs_lift, rel=1e-9)
    assert r.adjusted.se == pytest.approx(ref.abs_se, rel=1e-9)
    assert r.p_value == pytest.approx(ref.p_value, rel=1e-7)
    # Relative lift is a share of the *unadjusted* control mean (gbstats).
    rel = cuped(y_c, x_c, y_t, x_t)
    assert rel.estimate == pytest.approx(ref.abs_lift / y_c.mean(), rel=1e-9)


def test_useless_covariate_changes_nothing() -> None:
    rng = np.random.default_rng(4)
    y_c, y_t = rng.normal(5, 2, 1000), rng.normal(5.2, 2, 1000)
    r = cuped(y_c, np.zeros(1000), y_t, np.zeros(1000))
    assert r.theta == 0.0 and r.variance_reduction == pytest.approx(0.0, abs=1e-12)
    assert r.estimate == pytest.approx(r.unadjusted.estimate, rel=1e-12)


def test_vectorised_rows_match_single_calls() -> None:
    comps = [_simulate(800, 0.5, 0.1 * i, seed=i)[:4] for i in range(5)]
    sums = [(CupedSums.from_values(yc, xc), CupedSums.from_values(yt, xt)) for yc, xc, yt, xt in comps]
    stack = [
        CupedSums(
            *(np.array([getattr(s[k], f) for s in sums]) for f in ("n", "sum_y", "sum_x", "sum_y2", "sum_x2", "sum_xy"))
        )
        for k in (0, 1)
    ]
    arr = cuped_arrays(stack[0], stack[1])
    for i, (c, t) in enumerate(sums):
        assert arr.row(i) == cuped_from_sums(c, t)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError):
        CupedSums.from_values([1.0, 2.0], [1.0])
