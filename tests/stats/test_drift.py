"""Each drift test against its scipy / statsmodels reference (or Evidently's formula) on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.proportion import proportions_ztest

from services.stats import drift as d
from services.stats import drift_columns
from services.stats.drift_columns import SortedColumn, category_counts

RNG = np.random.default_rng(20261122)


def _pair(n: int, m: int, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, n), rng.normal(shift, 1.2, m)


# ---------------------------------------------------------------------------------------------
# Prepared samples


def test_sorted_column_drops_missing_and_sorts():
    col = SortedColumn.of(np.array([3.0, np.nan, 1.0, np.inf, 2.0, -np.inf, 2.0]))
    assert col.values.tolist() == [1.0, 2.0, 2.0, 3.0]
    assert col.n == 4 and col.n_missing == 3
    assert col.n_unique == 3
    assert col.std == pytest.approx(np.std([1.0, 2.0, 2.0, 3.0]))
    assert SortedColumn.of(col) is col
    assert SortedColumn.of(pd.Series([1, 2, 3])).is_integer


def test_category_counts_from_strings_categories_and_missing():
    ref = pd.Series(["a", "b", "b", None, "c", "c", "c"])
    cur = pd.Categorical(["b", "d", "d", "a"], categories=["a", "b", "d", "unused"])
    counts = category_counts(ref, cur)
    assert counts.categories == ("a", "b", "c", "d")  # sorted, unused category dropped
    assert counts.reference.tolist() == [1, 2, 3, 0]
    assert counts.current.tolist() == [1, 1, 0, 2]
    assert counts.n_missing_reference == 1
    assert (counts.n_reference, counts.n_current) == (6, 4)


def test_category_counts_match_value_counts_on_a_large_categorical():
    cats = np.array(["web", "ios", "android", "kiosk"])
    ref = pd.Categorical(RNG.choice(cats, 50_000, p=[0.5, 0.3, 0.15, 0.05]))
    cur = pd.Series(RNG.choice(cats[:3], 30_000)).astype("category")
    counts = category_counts(ref, cur)
    expected_ref = pd.Series(ref).value_counts()
    expected_cur = cur.value_counts()
    for i, cat in enumerate(counts.categories):
        assert counts.reference[i] == expected_ref.get(cat, 0)
        assert counts.current[i] == expected_cur.get(cat, 0)


# ---------------------------------------------------------------------------------------------
# KS


@pytest.mark.parametrize(("n", "m"), [(30, 45), (1000, 1000), (800, 5000)])
def test_ks_small_samples_equal_scipy_exact(n, m):
    a, b = _pair(n, m, 0.15, seed=n)
    res = d.ks_test(a, b)
    ref = stats.ks_2samp(a, b)
    assert res.statistic == ref.statistic
    assert res.p_value == pytest.approx(ref.pvalue, abs=1e-12)
    assert res.drifted == (ref.pvalue < 0.05)
    assert res.method == "ks" and (res.n_reference, res.n_current) == (n, m)


def test_ks_statistic_from_sorted_arrays_is_scipys_with_ties():
    a = RNG.integers(0, 7, 20_000).astype(float)
    b = RNG.integers(0, 8, 15_001).astype(float)
    assert d.ks_statistic(SortedColumn.of(a), SortedColumn.of(b)) == stats.ks_2samp(a, b).statistic


@pytest.mark.parametrize("shift", [0.0, 0.01, 0.02, 0.05])
def test_ks_large_samples_use_the_asymptotic_distribution(shift):
    a, b = _pair(60_000, 40_000, shift, seed=7)
    b = b / 1.2
    res = d.ks_test(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert res.statistic == ref.statistic
    en = 60_000 * 40_000 / 100_000
    assert res.p_value == pytest.approx(stats.kstwobign.sf(math.sqrt(en) * ref.statistic), rel=1e-12)
    # The limit differs from scipy's finite-n distribution by at most ~0.28 / sqrt(en); same verdict.
    assert abs(res.p_value - ref.pvalue) < 0.3 / math.sqrt(en)
    assert res.drifted == (ref.pvalue < 0.05)
    assert "asymptotic" in res.detail


# ---------------------------------------------------------------------------------------------
# Wasserstein


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 9), (7, 3), (100, 100), (1000, 333), (4096, 10_000)])
def test_wasserstein_from_sorted_arrays_equals_scipy(n, m):
    a, b = _pair(n, m, 0.3, seed=n * 7 + m)
    expected = stats.wasserstein_distance(a, b)
    assert d.wasserstein_distance_sorted(np.sort(a), np.sort(b)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_wasserstein_with_ties_equals_scipy():
    a = RNG.integers(0, 5, 1_001).astype(float)
    b = RNG.integers(1, 4, 377).astype(float)
    expected = stats.wasserstein_distance(a, b)
    assert d.wasserstein_distance_sorted(np.sort(a), np.sort(b)) == pytest.approx(expected, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=60),
)
def test_wasserstein_property_equals_scipy(a, b):
    expected = stats.wasserstein_distance(a, b)
    got = d.wasserstein_distance_sorted(np.sort(np.array(a)), np.sort(np.array(b)))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_wasserstein_normed_divides_by_reference_std_ddof0():
    a, b = _pair(5000, 4000, 0.25, seed=3)
    res = d.wasserstein_normed(a, b)
    expected = stats.wasserstein_distance(a, b) / np.std(a)
    assert res.distance == pytest.approx(expected, rel=1e-9)
    assert res.statistic == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)
    assert res.p_value is None and res.score == res.distance
    assert res.drifted == (expected >= 0.1)


def test_wasserstein_normed_floors_a_constant_reference_std():
    res = d.wasserstein_normed(np.full(100, 2.0), np.full(50, 2.0005))
    assert res.distance == pytest.approx(0.0005 / 0.001)
    assert res.drifted


# ---------------------------------------------------------------------------------------------
# Binned distances: Evidently's bins and formulas


def _evidently_binned(ref: np.ndarray, cur: np.ndarray, fill_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's get_binned_data for a numeric column with > 20 distinct reference values."""
    bins = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    r = np.histogram(ref, bins)[0] / len(ref)
    c = np.histogram(cur, bins)[0] / len(cur)
    if fill_zeroes:
        for arr in (r, c):
            smallest = arr[arr != 0].min()
            np.place(arr, arr == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return r, c


@pytest.mark.parametrize(
    "values",
    [
        RNG.normal(0, 1, 3001),
        RNG.exponential(3, 999),
        RNG.integers(0, 40, 2000),  # integer data: numpy widens Sturges bins to 1
        np.full(10, 4.0),  # constant: numpy's one bin of width 1
    ],
)
def test_sturges_edges_and_counts_equal_numpy(values):
    col = SortedColumn.of(values)
    edges = drift_columns.sturges_edges(col.min, col.max, col.n, col.is_integer)
    np.testing.assert_array_equal(edges, np.histogram_bin_edges(values, bins="sturges"))
    np.testing.assert_array_equal(drift_columns.histogram_counts(col, edges), np.histogram(values, edges)[0])


def test_psi_numeric_equals_evidentlys_formula():
    a, b = _pair(4000, 2500, 0.4, seed=11)
    b = np.append(b, [9.0, 9.5])  # a tail the reference never reaches: empty reference bins get filled
    r, c = _evidently_binned(a, b, fill_zeroes=True)
    expected = float(np.sum((r - c) * np.log(r / c)))
    res = d.psi_numeric(a, b)
    assert res.distance == pytest.approx(expected, rel=1e-12)
    assert res.drifted == (expected >= 0.1)


def test_jensen_shannon_numeric_equals_scipy_on_evidentlys_bins():
    a, b = _pair(3000, 3000, 0.2, seed=12)
    r, c = _evidently_binned(a, b, fill_zeroes=False)
    res = d.jensen_shannon_numeric(a, b)
    assert res.distance == pytest.approx(jensenshannon(r, c), rel=1e-12)


def test_low_cardinality_numeric_columns_use_value_shares():
    a = RNG.integers(0, 4, 2000).astype(float)
    b = RNG.integers(0, 5, 1500).astype(float)
    counts = drift_columns.binned_counts(SortedColumn.of(a), SortedColumn.of(b))
    assert counts.categories == (0.0, 1.0, 2.0, 3.0, 4.0)
    assert counts.current.tolist() == [int((b == v).sum()) for v in range(5)]
    expected = jensenshannon(counts.reference / 2000, counts.current / 1500)
    assert d.jensen_shannon_numeric(a, b).distance == pytest.approx(expected, rel=1e-12)


def test_psi_quantile_bins_put_a_tenth_of_the_reference_in_each_bin():
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=10_000), rng.normal(size=5_000)
    counts = drift_columns.binned_counts(SortedColumn.of(a), SortedColumn.of(b), bins="quantile")
    assert counts.k == 10
    np.testing.assert_allclose(counts.reference / 10_000, 0.1, atol=1e-3)
    assert d.psi_numeric(a, b, bins="quantile").distance < 0.01


def test_hellinger_equals_its_definitions():
    counts = category_counts(list("aaabbbbccd"), list("abbbccccdd"))
    p, q = counts.shares()
    res = d.hellinger(counts)
    assert res.distance == pytest.approx(math.sqrt(1 - np.sum(np.sqrt(p * q))), rel=1e-12)
    assert res.distance == pytest.approx(np.linalg.norm(np.sqrt(p) - np.sqrt(q)) / math.sqrt(2), rel=1e-12)
    assert d.hellinger(category_counts(list("ab"), list("ab"))).distance == 0.0
    assert d.hellinger(category_counts(list("aa"), list("bb"))).distance == 1.0


def test_hellinger_numeric_on_the_shared_bins():
    a, b = _pair(3000, 2000, 0.5, seed=14)
    r, c = _evidently_binned(a, b, fill_zeroes=False)
    expected = math.sqrt(1 - np.sum(np.sqrt(r * c)))
    assert d.hellinger_numeric(a, b).distance == pytest.approx(expected, rel=1e-12)


def test_categorical_psi_and_jensen_shannon_on_shares():
    ref = ["a"] * 500 + ["b"] * 300 + ["c"] * 200
    cur = ["a"] * 300 + ["b"] * 300 + ["c"] * 350 + ["d"] * 50
    counts = category_counts(ref, cur)
    p, q = counts.shares()
    assert d.jensen_shannon(counts).distance == pytest.approx(jensenshannon(p, q), rel=1e-12)
    p_fill = np.where(p == 0, 0.0001, p)  # smallest reference share is 0.2 > 1e-4: empty bins get 1e-4
    assert d.psi(counts).distance == pytest.approx(np.sum((p_fill - q) * np.log(p_fill / q)), rel=1e-12)
    assert d.psi_categorical is d.psi


# ---------------------------------------------------------------------------------------------
# p-value tests on counts and Anderson-Darling


def test_chi_square_is_the_2xk_homogeneity_test_without_yates():
    counts = category_counts(list("aaaabbbccd" * 20), list("aabbbbcccd" * 15))
    table = np.vstack([counts.reference, counts.current])
    ref = stats.chi2_contingency(table, correction=False)
    res = d.chi_square_test(counts)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.drifted == (ref.pvalue < 0.05)


def test_two_category_chi_square_equals_the_z_test():
    counts = category_counts(["x"] * 130 + ["y"] * 70, ["x"] * 100 + ["y"] * 100)
    chi, z = d.chi_square_test(counts), d.z_test(counts)
    assert chi.statistic == pytest.approx(z.statistic**2, rel=1e-12)
    assert chi.p_value == pytest.approx(z.p_value, rel=1e-10)


def test_z_test_equals_statsmodels():
    counts = category_counts([True] * 40 + [False] * 160, [True] * 65 + [False] * 135)
    z, p = proportions_ztest([counts.reference[0], counts.current[0]], [200, 200])
    res = d.z_test(counts)
    assert (res.statistic, res.p_value) == (pytest.approx(z), pytest.approx(p))
    assert res.drifted


def test_z_test_one_value_in_both_windows_is_no_drift():
    res = d.z_test(category_counts(["a"] * 10, ["a"] * 20))
    assert res.p_value == 1.0 and not res.drifted


def test_z_test_refuses_more_than_two_categories():
    with pytest.raises(ValueError):
        d.z_test(category_counts(list("abc"), list("abc")))


def test_anderson_darling_equals_scipy():
    rng = np.random.default_rng(21)
    a, b = rng.normal(0, 1, 400), rng.normal(0.12, 1, 300)
    ref = stats.anderson_ksamp([a, b], variant="midrank")  # p inside scipy's table: no cap
    res = d.anderson_darling_test(a, b)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Directions, thresholds, empty windows


def test_p_values_drift_below_the_threshold_and_distances_at_or_above():
    a, b = _pair(500, 500, 0.3, seed=31)
    ks = d.ks_test(a, b)
    assert not d.ks_test(a, b, threshold=ks.p_value).drifted  # p == threshold: not below
    w = d.wasserstein_normed(a, b)
    assert d.wasserstein_normed(a, b, threshold=w.distance).drifted  # distance == threshold: drift
    assert d.default_threshold("ks") == 0.05 and d.default_threshold("psi") == 0.1


def test_empty_windows_give_no_verdict_instead_of_an_error():
    for fn in (d.ks_test, d.wasserstein_normed, d.psi_numeric, d.anderson_darling_test):
        res = fn(np.array([]), np.array([1.0, 2.0]))
        assert not res.drifted and math.isnan(res.score)
    res = d.chi_square_test(category_counts([], ["a"]))
    assert not res.drifted and res.n_reference == 0


def test_results_are_frozen_and_labelled():
    res = d.ks_test([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    with pytest.raises(AttributeError):
        res.drifted = True  # type: ignore[misc]
    assert res.label == "Kolmogorov-Smirnov p-value" and res.is_p_value


def test_nullable_integer_columns_are_numeric_samples():
    col = SortedColumn.of(pd.Series([3, None, 1, 2], dtype="Int64"))
    assert col.values.tolist() == [1.0, 2.0, 3.0] and col.n_missing == 1 and col.is_integer
