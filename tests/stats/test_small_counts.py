"""Readings that cannot mislead at small counts (issue 13 point 7): Fisher's exact test for small conversion
counts, gbstats' t convention for conversions, and the delta method's A/A false-positive rate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from services.stats import abtest, small_counts


def test_zero_of_200_against_4_of_200_is_read_with_fishers_exact_test():
    """Before: the absolute scale read "win" at p = 0.043 (normal approximation with 2 expected conversions)."""
    fisher = stats.fisher_exact([[4, 196], [0, 200]], alternative="two-sided").pvalue
    assert fisher == pytest.approx(0.1232, abs=1e-4)
    for read in (abtest.conversion_ttest, abtest.two_proportion_ztest):
        r = read(200, 0, 200, 4, difference_type="absolute")
        assert r.exact and r.verdict == "inconclusive"
        assert r.p_value == pytest.approx(fisher, abs=1e-6) and r.abs_p_value == pytest.approx(fisher, abs=1e-6)
        assert np.isnan(r.ci[0]) and np.isnan(r.ci[1])  # no normal interval beside an exact p-value
        assert r.abs_lift == pytest.approx(0.02, abs=1e-12)


def test_small_means_any_expected_cell_below_five():
    # expected conversions per arm: 2, 4.5, 5, 5 (and 195 non-conversions); no conversion at all: nothing to test
    n_c = np.array([200, 200, 200, 1000, 100])
    x_c = np.array([0, 4, 5, 2, 0])
    x_t = np.array([4, 5, 5, 8, 0])
    n_t = np.array([200, 200, 200, 1000, 100])
    assert small_counts.small_counts(n_c, x_c, n_t, x_t).tolist() == [True, True, False, False, False]
    # All but one converted: the non-conversions are the small cell.
    assert small_counts.small_counts(200, 199, 200, 195)[0]
    r = abtest.conversion_ttest_arrays(n_c, x_c, n_t, x_t)
    assert r.exact.tolist() == [True, True, False, False, False]
    for i in (0, 1):
        table = [[x_t[i], n_t[i] - x_t[i]], [x_c[i], n_c[i] - x_c[i]]]
        assert r.p_value[i] == pytest.approx(stats.fisher_exact(table).pvalue, abs=1e-6)
    assert np.isnan(r.p_value[4]) and r.verdict[4] == "inconclusive"


def test_an_exact_test_can_still_find_a_difference():
    r = abtest.conversion_ttest(400, 0, 400, 9, difference_type="absolute")  # 4.5 expected conversions per arm
    fisher = stats.fisher_exact([[9, 391], [0, 400]]).pvalue
    assert fisher < 0.01 and r.exact and r.verdict == "win"
    assert r.p_value == pytest.approx(fisher, abs=1e-6)


@pytest.mark.parametrize("difference_type", ["absolute", "relative"])
def test_conversions_follow_gbstats_t_convention_hand_computed_with_scipy(difference_type):
    """gbstats' TwoSidedTTest on ProportionStatistic: variance p(1-p), Welch-Satterthwaite df, Student t
    quantiles. Before: the readout used normal quantiles for conversions (0.719032 vs 0.719127 in the cohort
    readout) although the module said it followed this convention."""
    n_c, x_c, n_t, x_t = 180, 21, 150, 24
    p_c, p_t = x_c / n_c, x_t / n_t
    v_c, v_t = p_c * (1 - p_c), p_t * (1 - p_t)
    a, b = v_c / n_c, v_t / n_t
    df = (a + b) ** 2 / (a**2 / (n_c - 1) + b**2 / (n_t - 1))
    if difference_type == "absolute":
        est, se = p_t - p_c, np.sqrt(a + b)
    else:
        est, se = p_t / p_c - 1, np.sqrt(v_t / (n_t * p_c**2) + p_t**2 * v_c / (n_c * p_c**4))
    p_ref = 2 * stats.t.sf(abs(est / se), df)
    half = stats.t.ppf(0.975, df) * se
    r = abtest.conversion_ttest(n_c, x_c, n_t, x_t, difference_type=difference_type)
    assert not r.exact and r.df == pytest.approx(df, rel=1e-9)
    assert r.p_value == pytest.approx(p_ref, abs=1e-6)
    assert r.ci[0] == pytest.approx(est - half, abs=1e-6) and r.ci[1] == pytest.approx(est + half, abs=1e-6)
    # The z-test (normal quantiles) differs beyond 1e-6: the two conventions are not interchangeable.
    z = abtest.two_proportion_ztest(n_c, x_c, n_t, x_t, difference_type=difference_type)
    assert abs(z.p_value - p_ref) > 1e-5


def _aa_conversions(rng, n, p, sims):
    x_c, x_t = rng.binomial(n, p, sims), rng.binomial(n, p, sims)
    r = abtest.conversion_ttest_arrays(n, x_c, n, x_t)
    p_c, v_c = abtest.conversion_summary(n, x_c)
    p_t, v_t = abtest.conversion_summary(n, x_t)
    flagged = small_counts.delta_method_unreliable(n, p_c, v_c, n, p_t, v_t)
    return np.nan_to_num(r.rel_p_value, nan=1.0) < 0.05, flagged


def _aa_lognormal(rng, n, sims):
    y_c, y_t = rng.lognormal(0, 1, (sims, n)), rng.lognormal(0, 1, (sims, n))
    args = (n, y_c.mean(1), y_c.var(1, ddof=1), n, y_t.mean(1), y_t.var(1, ddof=1))
    r = abtest.welch_ttest_arrays(*args)
    return r.rel_p_value < 0.05, small_counts.delta_method_unreliable(*args)


def test_delta_method_warning_fires_where_aa_false_positives_inflate_and_not_where_they_hold():
    """A/A simulations (seeded, vectorised). Where the relative lift's A/A rate is inflated (~10 conversions
    per arm: ~8%; lognormal means at 20 per arm: ~9%) the warning fires on (nearly) every comparison; where it
    does not fire, the A/A rate is 5% +- 1%."""
    rng = np.random.default_rng(20261207)
    sims = 4000
    fp, flagged = _aa_conversions(rng, 200, 0.05, sims)  # ~10 conversions per arm
    assert fp.mean() > 0.065 and flagged.mean() > 0.99
    fp, flagged = _aa_lognormal(rng, 20, sims)
    assert fp.mean() > 0.07 and flagged.mean() > 0.99
    fp, flagged = _aa_conversions(rng, 3000, 0.05, sims)  # ~150 conversions per arm
    assert flagged.mean() < 0.01 and abs(fp[~flagged].mean() - 0.05) <= 0.01
    fp, flagged = _aa_lognormal(rng, 400, 2 * sims)
    assert flagged.mean() < 0.05 and abs(fp[~flagged].mean() - 0.05) <= 0.01
