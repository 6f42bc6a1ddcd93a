"""Bayesian reading: GrowthBook's numbers, closed forms vs integration and Monte Carlo, priors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from services.stats.abtest import summary_from_sums, welch_ttest
from services.stats.bayesian import (
    GaussianPrior,
    bayesian_test,
    bayesian_test_arrays,
    bayesian_test_conversions,
    normal_risk,
)

# --- GrowthBook gbstats tests/bayesian/test_tests.py (EffectBayesianABTest, 5 decimals) --------


def test_growthbook_binomial_example() -> None:
    r = bayesian_test_conversions(100, 49, 100, 51)
    assert r.estimate == pytest.approx(0.04082, abs=5e-6)
    assert r.sd == pytest.approx(0.14725, abs=5e-6)
    assert r.ci == pytest.approx((-0.24779, 0.32943), abs=5e-6)
    assert r.chance_to_win == pytest.approx(0.60918, abs=5e-6)
    assert (r.risk_control, r.risk_treatment) == pytest.approx((0.0814, 0.04058), abs=5e-6)
    assert r.verdict == "inconclusive"


def test_growthbook_gaussian_example() -> None:
    m_a, v_a = summary_from_sums(10, 100, 1002.25)
    m_b, v_b = summary_from_sums(10, 105, 1111.5)
    r = bayesian_test(10, float(m_a), float(v_a), 10, float(m_b), float(v_b))
    assert r.estimate == pytest.approx(0.05, abs=5e-6)
    assert r.sd == pytest.approx(0.03572, abs=5e-6)
    assert r.ci == pytest.approx((-0.02, 0.12), abs=5e-6)
    assert r.chance_to_win == pytest.approx(0.91923, abs=5e-6)
    assert (r.risk_control, r.risk_treatment) == pytest.approx((0.05131, 0.00131), abs=5e-6)


# --- closed forms ------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(mu=st.floats(-2.0, 2.0), sigma=st.floats(0.01, 2.0))
def test_risk_closed_form_equals_gbstats_truncated_normal_form(mu: float, sigma: float) -> None:
    # gbstats: risk_ctrl = P(X>0) E[X | X>0], risk_trt = -P(X<0) E[X | X<0] (scipy truncnorm means).
    p_neg = stats.norm.cdf(0, mu, sigma)
    mean_pos = stats.truncnorm.mean((0 - mu) / sigma, np.inf, loc=mu, scale=sigma)
    mean_neg = stats.truncnorm.mean(-np.inf, (0 - mu) / sigma, loc=mu, scale=sigma)
    rc, rt = normal_risk(mu, sigma)
    if p_neg < 1 - 1e-12:
        assert float(rc) == pytest.approx((1 - p_neg) * mean_pos, abs=1e-6)
    if p_neg > 1e-12:
        assert float(rt) == pytest.approx(-p_neg * mean_neg, abs=1e-6)
    # The two risks differ by exactly the mean: E[max(X,0)] - E[max(-X,0)] = E[X].
    assert float(rc - rt) == pytest.approx(mu, abs=1e-9)


def test_risk_by_numerical_integration() -> None:
    for mu, sigma in [(0.05, 0.0357), (-0.3, 0.2), (0.0, 1.0), (1.2, 0.4)]:
        pdf = stats.norm(mu, sigma).pdf
        lo, hi = mu - 12 * sigma, mu + 12 * sigma
        ctrl = integrate.quad(lambda x, f=pdf: x * f(x), 0, max(hi, 0), limit=200)[0]
        trt = integrate.quad(lambda x, f=pdf: -x * f(x), min(lo, 0), 0, limit=200)[0]
        rc, rt = normal_risk(mu, sigma)
        assert float(rc) == pytest.approx(ctrl, abs=1e-8)
        assert float(rt) == pytest.approx(trt, abs=1e-8)


def test_chance_to_win_risk_and_interval_by_monte_carlo() -> None:
    r = bayesian_test_conversions(5_000, 500, 5_000, 540)
    rng = np.random.default_rng(20240329)
    draws = r.estimate + r.sd * rng.standard_normal(2_000_000)
    assert r.chance_to_win == pytest.approx(np.mean(draws > 0), abs=1e-3)
    assert r.risk_control == pytest.approx(np.mean(np.maximum(draws, 0)), abs=1e-3)
    assert r.risk_treatment == pytest.approx(np.mean(np.maximum(-draws, 0)), abs=1e-3)
    assert r.ci == pytest.approx(tuple(np.quantile(draws, [0.025, 0.975])), abs=1e-3)


def test_flat_prior_posterior_is_the_frequentist_normal_approximation() -> None:
    a = (4_000, 12.0, 30.0)
    b = (4_100, 12.5, 33.0)
    bayes = bayesian_test(*a, *b)
    freq = welch_ttest(*a, *b)
    assert bayes.estimate == pytest.approx(freq.rel_lift, abs=1e-12)
    assert bayes.sd == pytest.approx(freq.rel_se, abs=1e-12)
    assert bayes.chance_to_win == pytest.approx(stats.norm.cdf(freq.rel_lift / freq.rel_se), abs=1e-12)
    z = stats.norm.ppf(0.975)
    assert bayes.ci == pytest.approx((freq.rel_lift - z * freq.rel_se, freq.rel_lift + z * freq.rel_se), abs=1e-12)


# --- priors ------------------------------------------------------------------------------------


def test_proper_prior_matches_numerical_posterior() -> None:
    # Posterior on a grid: normal likelihood of the estimate x normal prior, normalised numerically.
    a = (300, 5.0, 16.0)
    b = (300, 5.6, 18.0)
    prior = GaussianPrior(mean=0.0, variance=0.01, proper=True)
    r = bayesian_test(*a, *b, prior=prior)
    grid = np.linspace(-1.5, 1.5, 600_001)
    dens = stats.norm.pdf(r.data_estimate, grid, r.data_se) * stats.norm.pdf(grid, prior.mean, np.sqrt(prior.variance))
    dens /= integrate.trapezoid(dens, grid)
    mean = integrate.trapezoid(grid * dens, grid)
    sd = np.sqrt(integrate.trapezoid((grid - mean) ** 2 * dens, grid))
    p_win = integrate.trapezoid(np.where(grid > 0, dens, 0.0), grid)
    assert r.estimate == pytest.approx(mean, abs=1e-6)
    assert r.sd == pytest.approx(sd, abs=1e-6)
    assert r.chance_to_win == pytest.approx(p_win, abs=1e-4)
    # The prior pulls the lift toward 0 and narrows it.
    assert abs(r.estimate) < abs(r.data_estimate) and r.sd < r.data_se


def test_very_wide_proper_prior_is_nearly_flat() -> None:
    a, b = (1000, 2.0, 4.0), (1000, 2.2, 4.0)
    flat = bayesian_test(*a, *b)
    wide = bayesian_test(*a, *b, prior=GaussianPrior(0.0, 1e6, proper=True))
    assert wide.estimate == pytest.approx(flat.estimate, abs=1e-6)
    assert wide.chance_to_win == pytest.approx(flat.chance_to_win, abs=1e-6)


def test_improper_prior_ignores_its_parameters() -> None:
    a, b = (1000, 2.0, 4.0), (1000, 2.2, 4.0)
    odd = bayesian_test(*a, *b, prior=GaussianPrior(5.0, 0.001, proper=False))
    flat = bayesian_test(*a, *b)
    assert (odd.estimate, odd.sd, odd.chance_to_win, odd.ci) == (flat.estimate, flat.sd, flat.chance_to_win, flat.ci)
    with pytest.raises(ValueError):
        GaussianPrior(0.0, 0.0, proper=True)


# --- verdicts, direction, arrays ---------------------------------------------------------------


def test_lower_is_better_flips_chance_and_swaps_risks() -> None:
    up = bayesian_test_conversions(10_000, 1_000, 10_000, 1_100)
    down = bayesian_test_conversions(10_000, 1_000, 10_000, 1_100, direction="lower")
    assert down.chance_to_win == pytest.approx(1 - up.chance_to_win, abs=1e-12)
    assert (down.risk_control, down.risk_treatment) == (up.risk_treatment, up.risk_control)
    assert up.verdict == "win" and down.verdict == "lose"


def test_arrays_equal_scalar_calls_and_absolute_scale() -> None:
    rng = np.random.default_rng(1)
    n = rng.integers(100, 10_000, 30)
    m_c, m_t = rng.uniform(1, 3, 30), rng.uniform(1, 3, 30)
    v = rng.uniform(0.5, 2, 30)
    arr = bayesian_test_arrays(n, m_c, v, n, m_t, v, difference_type="absolute")
    assert arr.row(4) == bayesian_test(n[4], m_c[4], v[4], n[4], m_t[4], v[4], difference_type="absolute")
    assert np.allclose(arr.estimate, m_t - m_c)


def test_no_variance_gives_no_posterior() -> None:
    r = bayesian_test(100, 1.0, 0.0, 100, 1.0, 0.0)
    assert np.isnan(r.chance_to_win) and r.verdict == "inconclusive"
