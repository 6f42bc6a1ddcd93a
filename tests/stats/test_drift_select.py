"""Evidently's default-test rule on every branch, overrides, dataset drift, and our one deliberate
difference (2 x K homogeneity instead of goodness of fit) measured on windows with no drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from services.stats.drift_select import (
    ColumnOverride,
    choose_test,
    column_drift,
    dataset_drift,
    default_test,
    infer_kind,
)

# (kind, reference rows, distinct values over both windows) -> test Evidently would pick
RULE = [
    ("numeric", 1000, 2, "z"),
    ("numeric", 1000, 5, "chisquare"),
    ("numeric", 1000, 6, "ks"),
    ("numeric", 1001, 2, "jensenshannon"),
    ("numeric", 1001, 5, "jensenshannon"),
    ("numeric", 1001, 6, "wasserstein"),
    ("categorical", 1000, 2, "z"),
    ("categorical", 1000, 5, "chisquare"),
    ("categorical", 1000, 6, "chisquare"),
    ("categorical", 1001, 2, "jensenshannon"),
    ("categorical", 1001, 5, "jensenshannon"),
    ("categorical", 1001, 6, "jensenshannon"),
]


@pytest.mark.parametrize(("kind", "n_ref", "n_unique", "method"), RULE)
def test_default_rule_on_every_branch(kind, n_ref, n_unique, method):
    choice = default_test(kind, n_ref, n_unique)
    assert choice.method == method
    assert choice.threshold == (0.05 if method in ("z", "chisquare", "ks") else 0.1)
    assert not choice.overridden and choice.reason


def _column(kind: str, n: int, n_unique: int, shift: int, rng: np.random.Generator) -> np.ndarray:
    values = rng.integers(0, n_unique, n) + shift
    values[:n_unique] = np.arange(n_unique) + shift  # every value occurs at least once
    return values.astype(float) if kind == "numeric" else np.array([f"v{v}" for v in values], dtype=object)


@pytest.mark.parametrize(("kind", "n_ref", "n_unique", "method"), RULE)
def test_default_rule_on_data_counts_values_over_both_windows(kind, n_ref, n_unique, method):
    rng = np.random.default_rng(n_ref + n_unique)
    # The reference alone has one value fewer than the union: the count must span both windows.
    ref = _column(kind, n_ref, n_unique - 1, 0, rng) if n_unique > 2 else _column(kind, n_ref, n_unique, 0, rng)
    cur = _column(kind, 700, n_unique, 0, rng)
    result = column_drift("x", pd.Series(ref), pd.Series(cur), kind=kind)
    assert result.n_unique == n_unique if kind == "categorical" or n_unique <= 5 else result.n_unique > 5
    assert result.choice.method == method
    assert result.result.method == method
    assert (result.result.n_reference, result.result.n_current) == (n_ref, 700)


def test_missing_values_do_not_count_as_rows_or_values():
    ref = pd.Series([1.0, 2.0, np.nan] * 400)  # 1200 rows, 800 present
    cur = pd.Series([1.0, 2.0, 2.0] * 100)
    result = column_drift("x", ref, cur)
    assert result.n_unique == 2
    assert result.choice.method == "z"  # 800 present values <= 1000
    assert result.result.n_reference == 800


def test_infer_kind_from_dtypes():
    assert infer_kind(pd.Series([1.5, 2.0])) == "numeric"
    assert infer_kind(pd.Series([1, 2])) == "numeric"
    assert infer_kind(pd.Series([True, False])) == "categorical"
    assert infer_kind(pd.Series(["a", "b"])) == "categorical"
    assert infer_kind(pd.Series(["a", "b"], dtype="category")) == "categorical"


def test_override_test_and_threshold():
    rng = np.random.default_rng(5)
    ref, cur = pd.Series(rng.normal(0, 1, 3000)), pd.Series(rng.normal(0.05, 1, 3000))
    default = column_drift("x", ref, cur)
    assert default.choice.method == "wasserstein" and not default.drifted
    psi = column_drift("x", ref, cur, override=ColumnOverride(method="psi"))
    assert psi.choice.method == "psi" and psi.choice.threshold == 0.1 and psi.choice.overridden
    strict = column_drift("x", ref, cur, override=ColumnOverride(threshold=0.01))
    assert strict.choice.method == "wasserstein" and strict.choice.threshold == 0.01 and strict.drifted
    ks = column_drift("x", ref, cur, override=ColumnOverride(method="ks", threshold=0.5))
    assert ks.result.method == "ks" and ks.result.threshold == 0.5


def test_override_refuses_a_test_that_does_not_fit_the_column():
    with pytest.raises(ValueError):
        choose_test("categorical", 500, 4, ColumnOverride(method="ks"))
    with pytest.raises(ValueError):
        choose_test("categorical", 500, 4, ColumnOverride(method="z"))  # z-test needs <= 2 values


def test_all_tests_lists_every_applicable_test_and_keeps_the_deciding_one():
    rng = np.random.default_rng(6)
    num = column_drift("x", rng.normal(size=2000), rng.normal(size=1500), kind="numeric", all_tests=True)
    assert [r.method for r in num.all_results] == [
        "ks",
        "wasserstein",
        "anderson",
        "psi",
        "jensenshannon",
        "hellinger",
        "chisquare",
    ]
    assert num.result in num.all_results
    cat = column_drift("c", np.array(["a", "b"] * 300), np.array(["a", "b", "b"] * 100), all_tests=True)
    assert [r.method for r in cat.all_results] == ["z", "chisquare", "psi", "jensenshannon", "hellinger"]


def test_dataset_drift_share_boundary_and_verdicts_on_shifted_columns():
    rng = np.random.default_rng(8)
    n = 5000
    ref = pd.DataFrame({f"x{i}": rng.normal(0, 1, n) for i in range(4)})
    ref["device"] = pd.Categorical(rng.choice(["ios", "android", "web"], n, p=[0.5, 0.3, 0.2]))
    cur = pd.DataFrame({f"x{i}": rng.normal(0.5 if i < 2 else 0, 1, n) for i in range(4)})
    cur["device"] = pd.Categorical(rng.choice(["ios", "android", "web"], n, p=[0.2, 0.6, 0.2]))
    report = dataset_drift(ref, cur)
    verdicts = {c.column: c.drifted for c in report.columns}
    assert verdicts == {"x0": True, "x1": True, "x2": False, "x3": False, "device": True}
    assert report.column("device").choice.method == "jensenshannon"
    assert report.n_drifted == 3 and report.share_drifted == pytest.approx(0.6) and report.drifted
    # Exactly half the columns drifted: share >= 0.5 is dataset drift.
    half = dataset_drift(ref, cur, columns=["x0", "x2"])
    assert half.share_drifted == 0.5 and half.drifted
    quarter = dataset_drift(ref, cur, columns=["x0", "x2", "x3", "x1"], drift_share=0.6)
    assert quarter.share_drifted == 0.5 and not quarter.drifted
    overridden = dataset_drift(ref, cur, overrides={"x0": ColumnOverride(threshold=0.9)})
    assert not overridden.column("x0").drifted and overridden.n_drifted == 2


def test_homogeneity_flags_five_percent_of_no_drift_windows_goodness_of_fit_far_more():
    """The deliberate difference from Evidently. 500 column pairs, reference and current drawn from the
    same distribution (500 and 1000 rows, 5 categories): the 2 x K homogeneity test should flag ~5%;
    Evidently's goodness-of-fit test (current counts vs reference shares taken as exact) flags about half."""
    rng = np.random.default_rng(2026)
    shares = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
    cats = np.array(list("abcde"))
    ours, gof = [], []
    for _ in range(500):
        ref = cats[rng.choice(5, 500, p=shares)]
        cur = cats[rng.choice(5, 1000, p=shares)]
        result = column_drift("c", ref, cur, kind="categorical")
        assert result.choice.method == "chisquare"
        ours.append(result.drifted)
        # Evidently's chisquare_stattest: f_exp = reference counts scaled to the current size.
        ref_counts = np.array([(ref == c).sum() for c in cats])
        cur_counts = np.array([(cur == c).sum() for c in cats])
        gof.append(stats.chisquare(cur_counts, ref_counts * (1000 / 500)).pvalue < 0.05)
    ours_rate, gof_rate = np.mean(ours), np.mean(gof)
    assert 0.03 <= ours_rate <= 0.075
    assert gof_rate > 0.4
    assert gof_rate > 5 * ours_rate


def _chi2_on_bins(ref: np.ndarray, cur: np.ndarray, edges) -> tuple[float, float, int]:
    """scipy's 2 x K homogeneity test (no Yates) on the histogram counts of both windows over `edges`,
    bins empty in both windows left out (they have no expected count)."""
    table = np.vstack([np.histogram(ref, edges)[0], np.histogram(cur, edges)[0]])
    table = table[:, table.sum(axis=0) > 0]
    res = stats.chi2_contingency(table, correction=False)
    return float(res.statistic), float(res.pvalue), int(res.dof)


@pytest.mark.parametrize(
    ("make", "shift"),
    [
        (lambda rng, n: rng.normal(0, 1, n), 0.08),  # continuous: Sturges bins over both windows
        (lambda rng, n: rng.exponential(2.0, n), 0.25),
        (lambda rng, n: rng.integers(0, 60, n).astype(float), 1.0),  # > 20 distinct values: binned too
        (lambda rng, n: np.concatenate([rng.normal(0, 1, n - 3), [25.0, 26.0, 40.0]]), 0.0),  # empty middle bins
    ],
)
def test_chi_square_override_on_a_binned_numeric_column_equals_scipy(make, shift):
    rng = np.random.default_rng(31)
    ref, cur = make(rng, 2400), make(rng, 1700) + shift
    result = column_drift("x", pd.Series(ref), pd.Series(cur), override=ColumnOverride(method="chisquare"))
    assert result.choice.method == "chisquare" and result.choice.overridden
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")  # Evidently's bins
    statistic, p_value, dof = _chi2_on_bins(ref, cur, edges)
    assert result.result.statistic == pytest.approx(statistic, rel=1e-10)
    assert result.result.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-300)
    assert result.result.detail == f"2 x {dof + 1} table, {dof} df"
    assert result.drifted == (p_value < 0.05)
    assert (result.result.n_reference, result.result.n_current) == (2400, 1700)


def test_chi_square_override_on_a_few_valued_numeric_column_counts_each_value_like_scipy():
    rng = np.random.default_rng(32)
    ref = rng.choice([0.0, 1.0, 2.5, 4.0, 7.0, 9.0], 1500, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    cur = rng.choice([0.0, 1.0, 2.5, 4.0, 7.0, 9.0], 900, p=[0.2, 0.2, 0.2, 0.2, 0.1, 0.1])
    result = column_drift("x", ref, cur, kind="numeric", override=ColumnOverride(method="chisquare", threshold=0.01))
    values = np.unique(np.concatenate([ref, cur]))  # <= 20 distinct reference values: one bin per value
    table = np.array([[int((w == v).sum()) for v in values] for w in (ref, cur)])
    expected = stats.chi2_contingency(table, correction=False)
    assert result.result.statistic == pytest.approx(expected.statistic, rel=1e-10)
    assert result.result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.choice.threshold == 0.01 and result.drifted == (expected.pvalue < 0.01)


def test_the_whole_windows_counts_choose_the_test_when_the_prepared_column_is_a_sample():
    """A sampled window gets its whole window's test: the rule reads the counts it is given, not the sample's."""
    rng = np.random.default_rng(33)
    ref, cur = rng.normal(size=700), rng.normal(size=700)  # a 700-value sample of each window
    sampled = column_drift("x", ref, cur)
    assert sampled.choice.method == "ks"  # what the sample alone would get
    whole = column_drift("x", ref, cur, n_reference=1490)
    assert whole.choice.method == "wasserstein" and whole.result.method == "wasserstein"
    assert whole.choice.reason.startswith("reference 1,490 rows > 1,000")
    assert whole.result.n_reference == 700  # what the test read
    # Distinct values: a sample of a 6-valued column that missed its rare value still gets the 6-value test.
    few = rng.integers(0, 5, 3000).astype(float), rng.integers(0, 5, 3000).astype(float)
    assert column_drift("x", *few).choice.method == "jensenshannon"
    six = column_drift("x", *few, n_unique=6)
    assert six.choice.method == "wasserstein" and six.n_unique == 6


# ---------------------------------------------------------------------------------------------
# Columns no test can read (issue 13 point 7)


def _timestamps(start: str, n: int) -> pd.Series:
    return pd.Series(pd.date_range(start, periods=n, freq="min").astype(str))


def test_id_like_column_is_not_testable_and_left_out_of_the_share():
    """500 timestamps against 500 other ones: the 2 x K chi-square reads p = 0.485 ("no drift") although
    no value is shared. Before: tested, "no drift", counted in the share. Now: not testable, not counted."""
    ref_ts, cur_ts = _timestamps("2026-01-01", 500), _timestamps("2026-06-01", 500)
    table = np.vstack([np.r_[np.ones(500), np.zeros(500)], np.r_[np.zeros(500), np.ones(500)]])
    chi = stats.chi2_contingency(table, correction=False)
    assert chi.pvalue == pytest.approx(0.485, abs=5e-4)  # what the test would say: never drift
    col = column_drift("ts", ref_ts, cur_ts, kind="categorical")
    assert col.status == "not_testable" and not col.drifted and not col.tested
    assert col.problem == "not testable: mostly distinct values (looks like an id)"
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"ts": ref_ts, "x": rng.normal(0, 1, 500)})
    cur = pd.DataFrame({"ts": cur_ts, "x": rng.normal(1, 1, 500)})
    report = dataset_drift(ref, cur)
    assert report.n_tested == 1 and report.n_drifted == 1 and report.share_drifted == 1.0 and report.drifted
    assert [c.column for c in report.problems] == ["ts"]
    # A user's explicit choice still runs, and reads exactly scipy's chi-square.
    forced = column_drift("ts", ref_ts, cur_ts, kind="categorical", override=ColumnOverride(method="chisquare"))
    assert forced.tested and forced.result.p_value == pytest.approx(chi.pvalue, abs=1e-6)


def test_ordinary_categorical_columns_are_still_tested_exactly_as_scipy():
    rng = np.random.default_rng(4)
    ref = rng.choice([f"c{i}" for i in range(40)], 300)
    cur = rng.choice([f"c{i}" for i in range(40)], 300)
    col = column_drift("c", ref, cur, kind="categorical")
    assert col.tested and col.result.method == "chisquare"
    table = pd.crosstab(np.r_[np.zeros(300), np.ones(300)], np.r_[ref, cur]).to_numpy()
    assert col.result.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, abs=1e-6)


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_column_entirely_missing_from_the_current_window_is_a_data_quality_problem(kind):
    """Before: "no drift" (empty sample) and counted as not drifted in the dataset share."""
    rng = np.random.default_rng(5)
    values = rng.normal(0, 1, 400) if kind == "numeric" else rng.choice(["a", "b", "c"], 400)
    missing = np.full(400, np.nan) if kind == "numeric" else pd.Series([None] * 400, dtype=object)
    col = column_drift("m", pd.Series(values), pd.Series(missing), kind=kind)
    assert col.status == "data_quality" and not col.drifted and "current window" in col.problem
    ref = pd.DataFrame({"m": values, "x": rng.normal(0, 1, 400)})
    cur = pd.DataFrame({"m": missing, "x": rng.normal(1, 1, 400)})
    report = dataset_drift(ref, cur, columns={"m": kind, "x": "numeric"})
    assert report.n_tested == 1 and report.share_drifted == 1.0 and report.drifted
    assert [c.column for c in report.problems] == ["m"]
