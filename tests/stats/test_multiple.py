"""Holm and Benjamini-Hochberg against statsmodels; GrowthBook's adjusted intervals."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from services.stats.multiple import adjust_p_values, adjust_p_values_arrays, adjusted_intervals


@pytest.fixture(autouse=True)
def _no_gc_in_statsmodels(monkeypatch: pytest.MonkeyPatch) -> None:
    # statsmodels' Holm branch calls gc.collect() on every call (~0.2 s each in a big process):
    # the reference numbers do not depend on it, the test run time does.
    monkeypatch.setattr(gc, "collect", lambda *args: 0)


# Benjamini & Hochberg's (1995) worked example: 15 p-values.
P = np.array([0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344])
P = np.r_[P, [0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.0]]


@pytest.mark.parametrize(("method", "sm_method"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_matches_statsmodels(method, sm_method) -> None:
    rng = np.random.default_rng(1)
    for p in (P, rng.uniform(size=40) ** 3):
        reject, padj, _, _ = multipletests(p, alpha=0.05, method=sm_method)
        r = adjust_p_values(p, method=method)
        assert np.allclose(r.adjusted_p_values, padj, atol=1e-12, rtol=0)
        assert np.array_equal(r.reject, reject)
        assert r.n == p.size and r.method == sm_method


@pytest.mark.parametrize(("method", "sm_method"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_vectorised_families_match_statsmodels_row_by_row(method, sm_method) -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(size=(100, 20)) ** 2
    p[3, :5] = p[3, 5]  # ties
    p[7, [2, 9]] = np.nan  # comparisons without a test
    r = adjust_p_values_arrays(p, method=method)
    for i in range(p.shape[0]):
        row = p[i]
        ok = ~np.isnan(row)
        reject, padj, _, _ = multipletests(row[ok], alpha=0.05, method=sm_method)
        assert np.allclose(r.adjusted_p_values[i, ok], padj, atol=1e-12, rtol=0)
        assert np.array_equal(r.reject[i, ok], reject)
        assert np.all(np.isnan(r.adjusted_p_values[i, ~ok])) and not r.reject[i, ~ok].any()


def test_hand_values() -> None:
    # Holm: sorted p x (m - i), running max; BH: p x m / rank, running min from the top.
    p = [0.01, 0.04, 0.03, 0.2]
    assert adjust_p_values(p, method="holm").adjusted_p_values == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert adjust_p_values(p, method="bh").adjusted_p_values == pytest.approx([0.04, 0.0533333, 0.0533333, 0.2])


def test_nan_p_values_are_left_out_of_the_family() -> None:
    r = adjust_p_values([0.01, np.nan, 0.04])
    assert np.isnan(r.adjusted_p_values[1]) and r.n == 2 and not r.reject[1]
    assert r.adjusted_p_values[[0, 2]] == pytest.approx([0.02, 0.04])
    assert adjust_p_values([np.nan]).n == 0
    with pytest.raises(ValueError):
        adjust_p_values([0.1], method="bonferroni")  # type: ignore[arg-type]


def test_growthbook_adjusted_interval() -> None:
    # lift 0.1 with a normal 95% CI from se 0.04 (p = 0.0124); adjusted p 0.05 -> sd = 0.1 / z(0.975).
    est, se = 0.1, 0.04
    z = stats.norm.ppf(0.975)
    p = 2 * stats.norm.sf(est / se)
    low0, high0 = est - z * se, est + z * se
    padj = min(1.0, p * 4)
    r = adjusted_intervals([est], [low0], [high0], [padj])
    sd_adj = est / stats.norm.ppf(1 - padj / 2)
    assert r.ci_low[0] == pytest.approx(est - z * sd_adj, abs=1e-12)
    assert r.ci_high[0] == pytest.approx(est + z * sd_adj, abs=1e-12)
    assert r.ci_low[0] < low0 and r.ci_high[0] > high0
    # The inverted interval touches 0 exactly when the adjusted p-value is alpha.
    at_alpha = adjusted_intervals([est], [low0], [high0], [0.05])
    assert at_alpha.ci_low[0] == pytest.approx(0.0, abs=1e-12)


def test_adjusted_interval_edge_rules() -> None:
    r = adjusted_intervals([0.1, 0.1, 0.1], [0.0, 0.02, 0.05], [0.2, 0.18, 0.15], [1.0, 0.01, np.nan])
    assert r.ci_low[0] == -np.inf and r.ci_high[0] == np.inf  # p_adj = 1: nothing is excluded
    # Never narrower than the original interval.
    assert r.ci_low[1] <= 0.02 and r.ci_high[1] >= 0.18
    assert (r.ci_low[2], r.ci_high[2]) == (0.05, 0.15)  # no adjusted p-value: unchanged
