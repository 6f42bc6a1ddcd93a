"""Frequentist A/B readings: GrowthBook's published numbers, statsmodels, delta method, A/A simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from services.stats.abtest import (
    conversion_summary,
    effect_moments,
    summary_from_sums,
    two_proportion_ztest,
    two_proportion_ztest_arrays,
    welch_ttest,
    welch_ttest_arrays,
    welch_ttest_from_samples,
)

# GrowthBook gbstats tests/frequentist/test_tests.py: SampleMeanStatistic(sum, sum_squares, n) per arm.
GB_A = (3407, 1396.87, 52377.9767)
GB_B = (3461, 2422.7, 134698.29)


def _gb_summaries():
    m_a, v_a = summary_from_sums(*GB_A)
    m_b, v_b = summary_from_sums(*GB_B)
    return (GB_A[0], float(m_a), float(v_a)), (GB_B[0], float(m_b), float(v_b))


# --- GrowthBook's published worked examples (they round to 5 decimals) -------------------------


def test_growthbook_relative_welch_example() -> None:
    a, b = _gb_summaries()
    r = welch_ttest(*a, *b)
    assert r.rel_lift == pytest.approx(0.70732, abs=5e-6)
    assert r.rel_se == pytest.approx(0.37879, abs=5e-6)
    assert r.rel_ci == pytest.approx((-0.03526, 1.44989), abs=5e-6)
    assert r.rel_p_value == pytest.approx(0.06191, abs=5e-6)
    assert r.p_value == r.rel_p_value and r.verdict == "inconclusive"


def test_growthbook_absolute_welch_example() -> None:
    a, b = _gb_summaries()
    r = welch_ttest(*a, *b, difference_type="absolute")
    assert r.abs_lift == pytest.approx(0.29, abs=5e-6)
    assert r.abs_se == pytest.approx(0.12478, abs=5e-6)
    assert r.ci == pytest.approx((0.04538, 0.53462), abs=5e-6)
    assert r.p_value == pytest.approx(0.02016, abs=5e-6)
    assert r.verdict == "win"


def test_growthbook_binomial_example_uses_welch_with_p1mp_variance() -> None:
    # gbstats runs conversions through the same Welch t-test with variance p(1-p).
    p_a, v_a = conversion_summary(28, 14)
    p_b, v_b = conversion_summary(30, 16)
    r = welch_ttest(28, float(p_a), float(v_a), 30, float(p_b), float(v_b))
    assert r.rel_lift == pytest.approx(0.06667, abs=5e-6)
    assert r.rel_se == pytest.approx(0.2717, abs=5e-6)
    assert r.rel_ci == pytest.approx((-0.47767, 0.61101), abs=5e-6)
    assert r.rel_p_value == pytest.approx(0.80707, abs=5e-6)


# --- statsmodels references, 1e-6 -----------------------------------------------------------


def test_welch_matches_statsmodels_on_raw_arrays_and_summaries() -> None:
    rng = np.random.default_rng(7)
    control = rng.lognormal(1.0, 0.8, size=1200)
    treatment = rng.lognormal(1.05, 0.9, size=900)
    t_stat, p, df = ttest_ind(treatment, control, usevar="unequal")
    low, high = CompareMeans(DescrStatsW(treatment), DescrStatsW(control)).tconfint_diff(alpha=0.05, usevar="unequal")

    raw = welch_ttest_from_samples(control, treatment, difference_type="absolute")
    summ = welch_ttest(
        control.size,
        control.mean(),
        control.var(ddof=1),
        treatment.size,
        treatment.mean(),
        treatment.var(ddof=1),
        difference_type="absolute",
    )
    for r in (raw, summ):
        assert r.statistic == pytest.approx(t_stat, abs=1e-6)
        assert r.p_value == pytest.approx(p, abs=1e-6)
        assert r.df == pytest.approx(df, abs=1e-6)
        assert r.abs_ci == pytest.approx((low, high), abs=1e-6)
        assert r.abs_lift == pytest.approx(treatment.mean() - control.mean(), abs=1e-9)


def test_two_proportion_pooled_matches_proportions_ztest() -> None:
    for n_c, x_c, n_t, x_t in [(10_000, 1_000, 10_050, 1_100), (500, 40, 480, 31), (2_000, 1_500, 2_100, 1_610)]:
        z, p = sm_proportion.proportions_ztest([x_t, x_c], [n_t, n_c])
        r = two_proportion_ztest(n_c, x_c, n_t, x_t, difference_type="absolute", pooled=True)
        assert r.statistic == pytest.approx(z, abs=1e-6)
        assert r.p_value == pytest.approx(p, abs=1e-6)


def test_two_proportion_unpooled_matches_statsmodels_wald_test_and_interval() -> None:
    for n_c, x_c, n_t, x_t in [(10_000, 1_000, 10_050, 1_100), (500, 40, 480, 31), (2_000, 1_500, 2_100, 1_610)]:
        ref = sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
        low, high = sm_proportion.confint_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
        r = two_proportion_ztest(n_c, x_c, n_t, x_t, difference_type="absolute")
        assert r.statistic == pytest.approx(ref.statistic, abs=1e-6)
        assert r.p_value == pytest.approx(ref.pvalue, abs=1e-6)
        assert r.abs_ci == pytest.approx((low, high), abs=1e-6)
        assert r.df == np.inf


def test_arrays_equal_scalar_calls() -> None:
    rng = np.random.default_rng(3)
    n_c, n_t = rng.integers(200, 5000, 50), rng.integers(200, 5000, 50)
    m_c, m_t = rng.uniform(1, 5, 50), rng.uniform(1, 5, 50)
    v_c, v_t = rng.uniform(0.5, 4, 50), rng.uniform(0.5, 4, 50)
    arr = welch_ttest_arrays(n_c, m_c, v_c, n_t, m_t, v_t)
    assert len(arr) == 50
    for i in (0, 17, 49):
        one = welch_ttest(n_c[i], m_c[i], v_c[i], n_t[i], m_t[i], v_t[i])
        assert arr.row(i) == one
    x_c, x_t = (rng.uniform(0.05, 0.2, 50) * n_c).astype(int), (rng.uniform(0.05, 0.2, 50) * n_t).astype(int)
    z = two_proportion_ztest_arrays(n_c, x_c, n_t, x_t)
    assert z.row(5) == two_proportion_ztest(n_c[5], x_c[5], n_t[5], x_t[5])


# --- delta method -----------------------------------------------------------------------------


def test_delta_method_matches_numerical_gradient() -> None:
    # Independent route: var = g' S g with g the numerical gradient of m_t/m_c - 1, S = diag(se^2).
    n_c, m_c, v_c, n_t, m_t, v_t = 800, 2.5, 3.0, 760, 2.9, 4.2

    def f(mc: float, mt: float) -> float:
        return mt / mc - 1

    h = 1e-6
    g = np.array([(f(m_c + h, m_t) - f(m_c - h, m_t)) / (2 * h), (f(m_c, m_t + h) - f(m_c, m_t - h)) / (2 * h)])
    var = g @ np.diag([v_c / n_c, v_t / n_t]) @ g
    est, se = effect_moments(n_c, m_c, v_c, n_t, m_t, v_t, relative=True)
    assert float(est) == pytest.approx(m_t / m_c - 1, rel=1e-12)
    assert float(se) == pytest.approx(np.sqrt(var), rel=1e-6)


def test_delta_method_se_and_coverage_by_simulation_conversions() -> None:
    # 20,000 experiments with exact binomial sampling: the spread of the relative lift must match
    # the delta-method SE and the 95% CI must cover the true lift 95% of the time.
    rng = np.random.default_rng(20240601)
    n, p_c, p_t, sims = 4000, 0.10, 0.12, 20_000
    x_c, x_t = rng.binomial(n, p_c, sims), rng.binomial(n, p_t, sims)
    r = two_proportion_ztest_arrays(n, x_c, n, x_t)
    true_lift = p_t / p_c - 1
    assert np.std(r.rel_lift) == pytest.approx(np.median(r.rel_se), rel=0.03)
    coverage = np.mean((r.rel_ci_low <= true_lift) & (true_lift <= r.rel_ci_high))
    assert coverage == pytest.approx(0.95, abs=0.006)


def test_delta_method_coverage_by_simulation_skewed_means() -> None:
    # Skewed, revenue-like raw data (exponential): the relative CI still covers the true lift.
    rng = np.random.default_rng(11)
    n, mu_c, mu_t, sims = 1000, 10.0, 10.8, 5000
    c = rng.exponential(mu_c, size=(sims, n))
    t = rng.exponential(mu_t, size=(sims, n))
    r = welch_ttest_arrays(n, c.mean(1), c.var(1, ddof=1), n, t.mean(1), t.var(1, ddof=1))
    true_lift = mu_t / mu_c - 1
    assert np.std(r.rel_lift) == pytest.approx(np.median(r.rel_se), rel=0.04)
    coverage = np.mean((r.rel_ci_low <= true_lift) & (true_lift <= r.rel_ci_high))
    assert coverage == pytest.approx(0.95, abs=0.01)


# --- properties -------------------------------------------------------------------------------

_means = st.floats(0.5, 100.0)
_vars = st.floats(0.01, 1000.0)
_ns = st.integers(10, 1_000_000)


@settings(max_examples=150, deadline=None)
@given(m_c=_means, m_t=_means, v_c=_vars, v_t=_vars, n=_ns, k=st.floats(1.1, 50.0))
def test_welch_intervals_shrink_as_n_grows(m_c: float, m_t: float, v_c: float, v_t: float, n: int, k: float) -> None:
    small = welch_ttest(n, m_c, v_c, n, m_t, v_t)
    big = welch_ttest(int(n * k) + 1, m_c, v_c, int(n * k) + 1, m_t, v_t)
    for a, b in ((small.abs_ci, big.abs_ci), (small.rel_ci, big.rel_ci)):
        assert b[1] - b[0] < a[1] - a[0]


@settings(max_examples=150, deadline=None)
@given(p_c=st.floats(0.05, 0.95), p_t=st.floats(0.05, 0.95), n=st.integers(100, 1_000_000), k=st.floats(1.1, 50.0))
def test_proportion_intervals_shrink_as_n_grows(p_c: float, p_t: float, n: int, k: float) -> None:
    big_n = int(n * k) + 1
    small = two_proportion_ztest(n, round(p_c * n), n, round(p_t * n))
    big = two_proportion_ztest(big_n, round(p_c * n) * big_n / n, big_n, round(p_t * n) * big_n / n)
    for a, b in ((small.abs_ci, big.abs_ci), (small.rel_ci, big.rel_ci)):
        assert b[1] - b[0] < a[1] - a[0]


@settings(max_examples=100, deadline=None)
@given(m_c=_means, m_t=_means, v_c=_vars, v_t=_vars, n_c=st.integers(10, 10**6), n_t=st.integers(10, 10**6))
def test_verdict_agrees_with_interval(m_c: float, m_t: float, v_c: float, v_t: float, n_c: int, n_t: int) -> None:
    for kind in ("absolute", "relative"):
        r = welch_ttest(n_c, m_c, v_c, n_t, m_t, v_t, difference_type=kind)
        excludes_zero = r.ci[0] > 0 or r.ci[1] < 0
        if abs(r.p_value - r.alpha) > 1e-9:
            assert (r.verdict != "inconclusive") == excludes_zero


# --- A/A simulation: p-values uniform, false-positive rate at alpha --------------------------


def test_aa_false_positive_rate_welch() -> None:
    rng = np.random.default_rng(2024)
    sims, n = 2000, 500
    c = rng.lognormal(0.0, 0.7, size=(sims, n))
    t = rng.lognormal(0.0, 0.7, size=(sims, n))
    r = welch_ttest_arrays(n, c.mean(1), c.var(1, ddof=1), n, t.mean(1), t.var(1, ddof=1))
    for p in (r.abs_p_value, r.rel_p_value):
        assert np.mean(p < 0.05) == pytest.approx(0.05, abs=0.01)
        assert stats.kstest(p, "uniform").pvalue > 0.01
    assert np.mean(r.verdict != "inconclusive") == pytest.approx(0.05, abs=0.01)


def test_aa_false_positive_rate_two_proportions() -> None:
    rng = np.random.default_rng(99)
    sims, n, p = 2000, 3000, 0.08
    r = two_proportion_ztest_arrays(n, rng.binomial(n, p, sims), n, rng.binomial(n, p, sims))
    for pv in (r.abs_p_value, r.rel_p_value):
        assert np.mean(pv < 0.05) == pytest.approx(0.05, abs=0.01)


# --- verdicts and edge cases ------------------------------------------------------------------


def test_direction_turns_a_significant_increase_into_a_loss() -> None:
    up = two_proportion_ztest(10_000, 1_000, 10_000, 1_200)
    assert up.verdict == "win"
    assert two_proportion_ztest(10_000, 1_000, 10_000, 1_200, direction="lower").verdict == "lose"
    assert two_proportion_ztest(10_000, 1_200, 10_000, 1_000, direction="lower").verdict == "win"


def test_no_variance_gives_no_test() -> None:
    r = welch_ttest(100, 1.0, 0.0, 100, 1.0, 0.0)
    assert np.isnan(r.p_value) and np.isnan(r.ci[0]) and r.verdict == "inconclusive"
    z = two_proportion_ztest(100, 0, 100, 0)
    assert np.isnan(z.p_value) and z.verdict == "inconclusive"


def test_zero_control_mean_has_no_relative_lift() -> None:
    r = welch_ttest(100, 0.0, 1.0, 100, 0.5, 1.0)
    assert np.isnan(r.rel_lift) and np.isnan(r.p_value) and r.verdict == "inconclusive"
    assert not np.isnan(r.abs_p_value)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        welch_ttest(10, 1, 1, 10, 1, 1, alpha=1.5)
    with pytest.raises(ValueError):
        welch_ttest(10, 1, 1, 10, 1, 1, direction="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        two_proportion_ztest(10, 11, 10, 1)
