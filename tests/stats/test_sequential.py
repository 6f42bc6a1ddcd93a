"""Sequential confidence sequences: GrowthBook's numbers, the formula by hand, and peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.stats.abtest import summary_from_sums, welch_ttest_arrays
from services.stats.cuped import CupedSums, cuped_arrays
from services.stats.sequential import (
    always_valid_p_value,
    confidence_sequence_halfwidth,
    sequential_rho,
    sequential_test,
    sequential_test_arrays,
    sequential_test_conversions,
)


def _gb_means(n_a: int = 3000):
    m_a, v_a = summary_from_sums(n_a, 1396.87, 52377.9767)
    m_b, v_b = summary_from_sums(3461, 2422.7, 134698.29)
    return (n_a, float(m_a), float(v_a)), (3461, float(m_b), float(v_b))


# --- GrowthBook gbstats tests/frequentist/test_tests.py::TestSequentialTTest (5 decimals) -------


def test_growthbook_sequential_means_example_tuning_1000() -> None:
    a, b = _gb_means()
    r = sequential_test(*a, *b, tuning_n=1000)
    assert r.estimate == pytest.approx(0.50336, abs=5e-6)
    assert r.se == pytest.approx(0.33341, abs=5e-6)
    assert r.ci == pytest.approx((-0.55844, 1.56516), abs=5e-6)
    assert r.p_value == 1.0
    assert r.verdict == "inconclusive" and not r.may_stop_for_win


def test_growthbook_sequential_proportions_example() -> None:
    r = sequential_test_conversions(3000, 1396, 3461, 2422)
    assert r.estimate == pytest.approx(0.50386, abs=5e-6)
    assert r.se == pytest.approx(0.03386, abs=5e-6)
    assert r.ci == pytest.approx((0.40098, 0.60675), abs=5e-6)
    assert r.p_value == pytest.approx(0.0, abs=5e-6)
    assert r.verdict == "win" and r.may_stop_for_win and not r.may_stop_for_loss


def test_growthbook_sequential_regression_adjusted_example() -> None:
    # gbstats fixes theta = 0.5 here; the relative lift keeps the unadjusted means as denominators.
    a = CupedSums(n=3000, sum_y=1396.87, sum_x=16.87, sum_y2=52377.9767, sum_x2=527.9767, sum_xy=12525)
    b = CupedSums(n=3461, sum_y=2422.7, sum_x=22.7, sum_y2=134698.29, sum_x2=1348.29, sum_xy=3333)
    c = cuped_arrays(a, b, theta=0.5)
    adj, raw = c.adjusted, c.unadjusted
    r = sequential_test_arrays(
        adj.n_control,
        adj.mean_control,
        adj.var_control,
        adj.n_treatment,
        adj.mean_treatment,
        adj.var_treatment,
        base_control=raw.mean_control,
        base_treatment=raw.mean_treatment,
    ).row(0)
    assert r.estimate == pytest.approx(0.50236, abs=5e-6)
    assert r.se == pytest.approx(0.3093, abs=5e-6)
    assert r.ci == pytest.approx((-0.43745, 1.44217), abs=5e-6)


def test_tuning_near_n_gives_the_narrowest_interval() -> None:
    a, b = _gb_means()
    width = {}
    for tuning in (10, 6461, 10_000):
        ci = sequential_test(*a, *b, tuning_n=tuning).ci
        width[tuning] = ci[1] - ci[0]
    assert width[6461] < width[10_000] < width[10]


# --- the formula, computed by hand ----------------------------------------------------------


def test_rho_by_hand() -> None:
    # -2 ln 0.05 = 5.99146454711; ln(6.99146454711) = 1.94469110...; (5.99146 + 1.94469) / 5000 -> sqrt
    assert sequential_rho(0.05, 5000) == pytest.approx(0.0398400667713737, rel=1e-12)
    assert sequential_rho(0.05, 5000) == pytest.approx(
        math.sqrt((-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 5000), rel=1e-15
    )


def test_halfwidth_and_p_value_by_hand() -> None:
    se, n, alpha, tuning = 0.02, 8000, 0.05, 5000
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)
    s2 = se**2 * n
    hw = math.sqrt(s2) * math.sqrt(2 * (n * rho**2 + 1) * math.log(math.sqrt(n * rho**2 + 1) / alpha) / (n * rho) ** 2)
    assert float(confidence_sequence_halfwidth(se, n, alpha=alpha, tuning_n=tuning)) == pytest.approx(hw, rel=1e-12)
    # By hand: n rho^2 = 12.69785, ln(sqrt(13.69785) / 0.05) = 4.30435, (n rho)^2 = 101582.8,
    # sqrt(3.2) * sqrt(2 * 13.69785 * 4.30435 / 101582.8) = 0.060948 (fixed-horizon: 1.96 * 0.02 = 0.0392).
    assert hw == pytest.approx(0.060948, rel=1e-5)

    est = 0.065
    e_value = math.exp(rho**2 * (est**2 * n / se**2) / (2 * (n * rho**2 + 1))) / math.sqrt(n * rho**2 + 1)
    p = float(always_valid_p_value(est, se, n, alpha=alpha, tuning_n=tuning))
    assert p == pytest.approx(min(1.0, 1 / e_value), rel=1e-12)
    assert p < alpha  # 0.065 > halfwidth 0.0609: the interval excludes 0, so p < alpha


@settings(max_examples=200, deadline=None)
@given(
    est=st.floats(-1.0, 1.0),
    se=st.floats(1e-4, 1.0),
    n=st.integers(20, 10**7),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
    tuning=st.sampled_from([1000.0, 5000.0, 50_000.0]),
)
def test_p_value_below_alpha_iff_interval_excludes_zero(
    est: float, se: float, n: int, alpha: float, tuning: float
) -> None:
    hw = float(confidence_sequence_halfwidth(se, n, alpha=alpha, tuning_n=tuning))
    p = float(always_valid_p_value(est, se, n, alpha=alpha, tuning_n=tuning))
    if abs(abs(est) - hw) > 1e-9 * hw:
        assert (p < alpha) == (abs(est) > hw)


@settings(max_examples=100, deadline=None)
@given(sd=st.floats(0.1, 100.0), n=st.integers(10, 10**6), k=st.floats(1.05, 100.0))
def test_sequential_interval_shrinks_with_n_and_is_wider_than_fixed(sd: float, n: int, k: float) -> None:
    # Same per-unit variance, more units: the always-valid interval narrows.
    small = sequential_test(n, 10.0, sd**2, n, 10.0, sd**2, difference_type="absolute")
    n2 = int(n * k) + 1
    big = sequential_test(n2, 10.0, sd**2, n2, 10.0, sd**2, difference_type="absolute")
    assert big.ci[1] - big.ci[0] < small.ci[1] - small.ci[0]
    fixed = welch_ttest_arrays(n, 10.0, sd**2, n, 10.0, sd**2, difference_type="absolute").row(0)
    assert small.ci[1] - small.ci[0] > fixed.ci[1] - fixed.ci[0]


# --- peeking: a null experiment looked at every day ------------------------------------------


def test_coverage_under_daily_peeking() -> None:
    rng = np.random.default_rng(5000)
    experiments, looks, per_day = 300, 30, 200  # 200 units per arm per day -> 12,000 in total by day 30
    mu, sd = 10.0, 4.0
    # Daily sums and sums of squares per arm, then cumulative: exactly what a daily readout sees.
    c = rng.normal(mu, sd, size=(experiments, looks, per_day))
    t = rng.normal(mu, sd, size=(experiments, looks, per_day))
    n = per_day * np.arange(1, looks + 1)
    stats_ = []
    for arm in (c, t):
        s, ss = np.cumsum(arm.sum(2), axis=1), np.cumsum((arm**2).sum(2), axis=1)
        stats_.append(summary_from_sums(n, s, ss))
    (m_c, v_c), (m_t, v_t) = stats_
    nn = np.broadcast_to(n, m_c.shape)

    seq = sequential_test_arrays(nn.ravel(), m_c.ravel(), v_c.ravel(), nn.ravel(), m_t.ravel(), v_t.ravel())
    fixed = welch_ttest_arrays(nn.ravel(), m_c.ravel(), v_c.ravel(), nn.ravel(), m_t.ravel(), v_t.ravel())
    # The true relative lift is 0: an interval that excludes 0 at any look is a false positive.
    seq_miss = ((seq.ci_low > 0) | (seq.ci_high < 0)).reshape(experiments, looks).any(axis=1)
    fixed_miss = ((fixed.rel_ci_low > 0) | (fixed.rel_ci_high < 0)).reshape(experiments, looks).any(axis=1)

    assert 1 - seq_miss.mean() >= 0.95  # always-valid: coverage holds over all 30 looks at once
    assert fixed_miss.mean() > 0.15  # peeking at a fixed-horizon CI inflates 5% to about 25-30%
    # A single look at the end is fine for both.
    assert np.mean(fixed.p_value.reshape(experiments, looks)[:, -1] < 0.05) < 0.09


def test_lower_is_better_flips_stopping() -> None:
    r = sequential_test_conversions(20_000, 2_000, 20_000, 2_400, direction="lower")
    assert r.verdict == "lose" and r.may_stop_for_loss and not r.may_stop_for_win


def test_bad_tuning_raises() -> None:
    with pytest.raises(ValueError):
        sequential_rho(0.05, 0)
    with pytest.raises(ValueError):
        sequential_rho(1.0, 5000)
