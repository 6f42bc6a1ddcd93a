"""Per-column drift tests: one function per test, each returning a frozen `DriftResult`.

Numeric tests take two samples (raw arrays or `SortedColumn`s). A report over many columns should
build each column's `SortedColumn` once (one sort per window) and pass it to every test: KS,
Wasserstein and the binned distances (PSI, Jensen-Shannon, Hellinger) all read the sorted values,
so no test sorts again. Categorical tests take `CategoryCounts` (reference and current counts over
the same categories), counted with pandas category codes and `np.bincount`.

Directions: a p-value test drifts when p < threshold (default 0.05); a distance drifts when it is
>= threshold (default 0.1), as in Evidently.

Conventions we match (Evidently's `legacy/calculations/stattests`, Apache-2.0, read and rederived):
- Missing values (NaN, and +-inf for numeric columns) are dropped before testing.
- Wasserstein distance is divided by the reference std (ddof 0), floored at 0.001.
- Binned distances on numeric columns (`binned_counts`): when the reference has more than 20
  distinct values, Sturges bins (`np.histogram_bin_edges(..., "sturges")`) over reference and
  current together; otherwise the shares of each distinct value. PSI replaces empty bins by
  min(non-zero share) / 1e6 (or 1e-4 when that minimum is above 1e-4) on each side; Jensen-Shannon
  uses the raw shares (scipy's `jensenshannon`, natural log).
- The z-test compares the share of the first (sorted) category with statsmodels'
  `proportions_ztest` (pooled variance), as Evidently's own formula does.

Where we differ, on purpose:
- Categorical chi-square is the test of homogeneity on the 2 x K table of counts
  (`scipy.stats.chi2_contingency`). Evidently compares current counts with reference shares as if
  they were exact (goodness of fit), which on windows with no drift flags far more than 5%.
  No Yates correction: it only applies to 2 x 2 tables, where it makes the test conservative; without
  it the 2-category chi-square equals the two-proportion z-test (chi2 = z^2) and keeps its 5% size.
- KS p-value: scipy's exact distribution when both samples have <= 10,000 values (scipy's own
  `method="auto"` rule, and Evidently's); above that, Kolmogorov's limiting distribution
  (`kstwobign.sf(sqrt(en) * D)`, en = n*m/(n+m)). scipy's `method="asymp"` evaluates
  `kstwo.sf(D, round(en))`, which takes 0.4-2.6 s per column at 100k-1M rows whenever p < ~0.02; the
  limit takes microseconds and differs from it by at most ~0.28/sqrt(en): 0.004 just above the switch,
  0.0004 at 1M + 1M rows, and a quarter of that near p = 0.05, so verdicts agree.
  The KS statistic itself is identical to scipy's.
- Hellinger on numeric columns uses the same bins as PSI and Jensen-Shannon. Evidently's Hellinger
  counts Sturges bins from the number of distinct values instead of the number of rows, which gives the
  same bins for continuous data and a bin or two fewer for columns with many repeated values.
- Anderson-Darling p-values are scipy's, which are capped to [0.001, 0.25]; scipy's warning about the
  cap is silenced (the verdict at 0.05 is unaffected).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial import distance as sp_distance
from statsmodels.stats.proportion import proportions_ztest

from services.stats.drift_columns import CategoryCounts, SortedColumn, binned_counts

P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1
WASSERSTEIN_STD_FLOOR = 0.001
# scipy's ks_2samp(method="auto") switches from the exact distribution to the asymptotic one here.
EXACT_KS_MAX_N = 10_000


class Method(StrEnum):
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    ANDERSON = "anderson"
    CHI_SQUARE = "chisquare"
    Z = "z"
    PSI = "psi"
    JENSEN_SHANNON = "jensenshannon"
    HELLINGER = "hellinger"


METHOD_LABELS: dict[str, str] = {
    Method.KS: "Kolmogorov-Smirnov p-value",
    Method.WASSERSTEIN: "Wasserstein distance (normed)",
    Method.ANDERSON: "Anderson-Darling p-value",
    Method.CHI_SQUARE: "chi-square (homogeneity) p-value",
    Method.Z: "two-proportion z-test p-value",
    Method.PSI: "PSI",
    Method.JENSEN_SHANNON: "Jensen-Shannon distance",
    Method.HELLINGER: "Hellinger distance",
}
P_VALUE_METHODS = frozenset({Method.KS, Method.ANDERSON, Method.CHI_SQUARE, Method.Z})
NUMERIC_METHODS = frozenset(
    {Method.KS, Method.WASSERSTEIN, Method.ANDERSON, Method.PSI, Method.JENSEN_SHANNON, Method.HELLINGER}
)
CATEGORICAL_METHODS = frozenset({Method.CHI_SQUARE, Method.Z, Method.PSI, Method.JENSEN_SHANNON, Method.HELLINGER})


def default_threshold(method: str) -> float:
    return P_VALUE_THRESHOLD if method in P_VALUE_METHODS else DISTANCE_THRESHOLD


@dataclass(frozen=True)
class DriftResult:
    """One test on one column. `score` is what the threshold is compared with: the p-value for a
    p-value test (drift when below), the distance otherwise (drift when at or above)."""

    method: str
    statistic: float
    p_value: float | None
    distance: float | None
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    detail: str = ""

    @property
    def score(self) -> float:
        return self.p_value if self.p_value is not None else float(self.distance)  # type: ignore[arg-type]

    @property
    def is_p_value(self) -> bool:
        return self.p_value is not None

    @property
    def label(self) -> str:
        return METHOD_LABELS.get(self.method, self.method)


def _p_result(method: str, statistic: float, p: float, threshold: float, n_r: int, n_c: int, detail: str = ""):
    p = float(p)
    return DriftResult(method, float(statistic), p, None, threshold, bool(p < threshold), n_r, n_c, detail)


def _d_result(method: str, value: float, threshold: float, n_r: int, n_c: int, detail: str = "", statistic=None):
    value = float(value)
    stat = value if statistic is None else float(statistic)
    return DriftResult(method, stat, None, value, threshold, bool(value >= threshold), n_r, n_c, detail)


def _empty(method: str, threshold: float, n_r: int, n_c: int) -> DriftResult:
    # An empty window is "no evidence", not an error: the report must still render.
    nan = float("nan")
    is_p = method in P_VALUE_METHODS
    return DriftResult(
        method, nan, nan if is_p else None, None if is_p else nan, threshold, False, n_r, n_c, "empty sample"
    )


# ---------------------------------------------------------------------------------------------
# Numeric tests


def ks_statistic(reference: SortedColumn, current: SortedColumn) -> float:
    """sup |F_ref - F_cur|, identical to `scipy.stats.ks_2samp(...).statistic`, from the sorted arrays.

    One stable merge of the two sorted runs (timsort merges them in linear time) gives both ECDFs at every
    value; they are read at the last of each run of equal values, where scipy's searchsorted(side="right")
    reads them.
    """
    a, b = reference.values, current.values
    n1, n2 = a.size, b.size
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="stable")
    merged = both[order]
    cum_a = np.cumsum(order < n1)
    cum_b = np.arange(1, n1 + n2 + 1) - cum_a
    last = np.empty(merged.size, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    last[-1] = True
    diffs = cum_a[last] / n1 - cum_b[last] / n2
    return float(max(np.clip(-diffs.min(), 0, 1), diffs.max()))


def ks_test(
    reference: npt.ArrayLike | SortedColumn, current: npt.ArrayLike | SortedColumn, threshold: float = P_VALUE_THRESHOLD
) -> DriftResult:
    """Two-sample Kolmogorov-Smirnov, two-sided. See the module docstring for the p-value at large n."""
    ref, cur = SortedColumn.of(reference), SortedColumn.of(current)
    n1, n2 = ref.n, cur.n
    if n1 == 0 or n2 == 0:
        return _empty(Method.KS, threshold, n1, n2)
    if max(n1, n2) <= EXACT_KS_MAX_N:
        res = stats.ks_2samp(ref.values, cur.values, method="auto")
        return _p_result(Method.KS, res.statistic, res.pvalue, threshold, n1, n2, "exact p-value")
    d = ks_statistic(ref, cur)
    en = n1 * n2 / (n1 + n2)
    p = float(np.clip(stats.kstwobign.sf(math.sqrt(en) * d), 0.0, 1.0))
    return _p_result(Method.KS, d, p, threshold, n1, n2, "asymptotic p-value (Kolmogorov limit)")


def wasserstein_distance_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """First Wasserstein distance between two sorted samples, equal to `scipy.stats.wasserstein_distance`.

    W1 = integral of |F_a - F_b| dx = integral over t in (0, 1] of |F_a^-1(t) - F_b^-1(t)| dt. The quantile
    functions are step functions that change at t = i/n and t = j/m; between consecutive breakpoints both
    are constant, so the integral is a sum over the merged breakpoints. Their order and lengths follow
    from integer arithmetic on i*m and j*n (no merge of the values, no searchsorted): O(n + m).
    """
    n, m = a.size, b.size
    if n == m:
        return float(np.mean(np.abs(a - b)))
    # Breakpoints scaled by n*m: i/n -> i*m, j/m -> j*n (exact in int64 for n, m up to ~3e9).
    i = np.arange(1, n + 1, dtype=np.int64)
    im = i * m
    qb = (im - 1) // n  # index into b on the interval that ends at a's breakpoint i
    w_a = im - np.maximum(im - m, qb * n)
    j = np.arange(1, m + 1, dtype=np.int64)
    jn = j * n
    qa = (jn - 1) // m  # index into a on the interval that ends at b's breakpoint j
    w_b = jn - np.maximum(jn - n, (jn // m) * m)  # zero when the breakpoint coincides with one of a's
    total = np.dot(w_a.astype(np.float64), np.abs(a - b[qb])) + np.dot(w_b.astype(np.float64), np.abs(a[qa] - b))
    return float(total / (float(n) * float(m)))


def wasserstein_normed(
    reference: npt.ArrayLike | SortedColumn,
    current: npt.ArrayLike | SortedColumn,
    threshold: float = DISTANCE_THRESHOLD,
) -> DriftResult:
    """Wasserstein distance / max(reference std (ddof 0), 0.001): Evidently's default above 1000 rows."""
    ref, cur = SortedColumn.of(reference), SortedColumn.of(current)
    if ref.n == 0 or cur.n == 0:
        return _empty(Method.WASSERSTEIN, threshold, ref.n, cur.n)
    raw = wasserstein_distance_sorted(ref.values, cur.values)
    norm = max(ref.std, WASSERSTEIN_STD_FLOOR)
    return _d_result(
        Method.WASSERSTEIN,
        raw / norm,
        threshold,
        ref.n,
        cur.n,
        f"distance {raw:.4g} / reference std {norm:.4g}",
        statistic=raw,
    )


def anderson_darling_test(
    reference: npt.ArrayLike | SortedColumn, current: npt.ArrayLike | SortedColumn, threshold: float = P_VALUE_THRESHOLD
) -> DriftResult:
    """k-sample Anderson-Darling (scipy.stats.anderson_ksamp, midrank); p-value capped to [0.001, 0.25]."""
    ref, cur = SortedColumn.of(reference), SortedColumn.of(current)
    if ref.n == 0 or cur.n == 0:
        return _empty(Method.ANDERSON, threshold, ref.n, cur.n)
    if ref.n_unique == 1 and cur.n_unique == 1 and ref.min == cur.min:
        return _p_result(Method.ANDERSON, 0.0, 1.0, threshold, ref.n, cur.n, "both samples are one value")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.anderson_ksamp([ref.values, cur.values], variant="midrank")
    return _p_result(
        Method.ANDERSON, res.statistic, res.pvalue, threshold, ref.n, cur.n, "p-value capped to [0.001, 0.25]"
    )


def psi_numeric(
    reference: npt.ArrayLike | SortedColumn,
    current: npt.ArrayLike | SortedColumn,
    threshold: float = DISTANCE_THRESHOLD,
    bins: Literal["evidently", "quantile"] = "evidently",
) -> DriftResult:
    ref, cur = SortedColumn.of(reference), SortedColumn.of(current)
    if ref.n == 0 or cur.n == 0:
        return _empty(Method.PSI, threshold, ref.n, cur.n)
    return psi(binned_counts(ref, cur, bins), threshold)


def jensen_shannon_numeric(
    reference: npt.ArrayLike | SortedColumn,
    current: npt.ArrayLike | SortedColumn,
    threshold: float = DISTANCE_THRESHOLD,
    bins: Literal["evidently", "quantile"] = "evidently",
) -> DriftResult:
    ref, cur = SortedColumn.of(reference), SortedColumn.of(current)
    if ref.n == 0 or cur.n == 0:
        return _empty(Method.JENSEN_SHANNON, threshold, ref.n, cur.n)
    return jensen_shannon(binned_counts(ref, cur, bins), threshold)


def hellinger_numeric(
    reference: npt.ArrayLike | SortedColumn,
    current: npt.ArrayLike | SortedColumn,
    threshold: float = DISTANCE_THRESHOLD,
    bins: Literal["evidently", "quantile"] = "evidently",
) -> DriftResult:
    ref, cur = SortedColumn.of(reference), SortedColumn.of(current)
    if ref.n == 0 or cur.n == 0:
        return _empty(Method.HELLINGER, threshold, ref.n, cur.n)
    return hellinger(binned_counts(ref, cur, bins), threshold)


# ---------------------------------------------------------------------------------------------
# Tests on counts (categorical columns, or binned numeric ones)


def chi_square_test(counts: CategoryCounts, threshold: float = P_VALUE_THRESHOLD) -> DriftResult:
    """Chi-square test of homogeneity on the 2 x K table (reference, current) x categories, no Yates."""
    n_r, n_c = counts.n_reference, counts.n_current
    if n_r == 0 or n_c == 0:
        return _empty(Method.CHI_SQUARE, threshold, n_r, n_c)
    # Bins empty in both windows (gaps between Sturges bins) carry no information and no expected count.
    seen = (counts.reference + counts.current) > 0
    k = int(seen.sum())
    if k < 2:
        return _p_result(Method.CHI_SQUARE, 0.0, 1.0, threshold, n_r, n_c, "one category in both windows")
    res = stats.chi2_contingency(np.vstack([counts.reference[seen], counts.current[seen]]), correction=False)
    return _p_result(Method.CHI_SQUARE, res.statistic, res.pvalue, threshold, n_r, n_c, f"2 x {k} table, {res.dof} df")


def z_test(counts: CategoryCounts, threshold: float = P_VALUE_THRESHOLD) -> DriftResult:
    """Two-proportion z-test (pooled) on the share of the first category; for columns with <= 2 values."""
    n_r, n_c = counts.n_reference, counts.n_current
    if n_r == 0 or n_c == 0:
        return _empty(Method.Z, threshold, n_r, n_c)
    if counts.k > 2:
        raise ValueError(f"the z-test compares two categories; this column has {counts.k}")
    if counts.k < 2:
        return _p_result(Method.Z, 0.0, 1.0, threshold, n_r, n_c, "one value in both windows")
    z, p = proportions_ztest(np.array([counts.reference[0], counts.current[0]]), np.array([n_r, n_c]))
    return _p_result(Method.Z, z, p, threshold, n_r, n_c, f"share of {counts.categories[0]!r}")


def _evidently_fill_zeros(shares: np.ndarray) -> np.ndarray:
    out = shares.copy()
    nonzero = out[out != 0]
    if nonzero.size and nonzero.size < out.size:
        smallest = nonzero.min()
        out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def psi(counts: CategoryCounts, threshold: float = DISTANCE_THRESHOLD) -> DriftResult:
    """Population stability index sum((ref - cur) * ln(ref / cur)) over shares, with Evidently's zero fill."""
    n_r, n_c = counts.n_reference, counts.n_current
    if n_r == 0 or n_c == 0:
        return _empty(Method.PSI, threshold, n_r, n_c)
    ref, cur = (_evidently_fill_zeros(s) for s in counts.shares())
    value = float(np.sum((ref - cur) * np.log(ref / cur)))
    return _d_result(Method.PSI, value, threshold, n_r, n_c, f"{counts.k} bins")


def jensen_shannon(counts: CategoryCounts, threshold: float = DISTANCE_THRESHOLD) -> DriftResult:
    """Jensen-Shannon distance (natural log, so in [0, sqrt(ln 2)]) between the two share vectors."""
    n_r, n_c = counts.n_reference, counts.n_current
    if n_r == 0 or n_c == 0:
        return _empty(Method.JENSEN_SHANNON, threshold, n_r, n_c)
    ref, cur = counts.shares()
    value = float(sp_distance.jensenshannon(ref, cur))
    return _d_result(Method.JENSEN_SHANNON, value, threshold, n_r, n_c, f"{counts.k} bins")


def hellinger(counts: CategoryCounts, threshold: float = DISTANCE_THRESHOLD) -> DriftResult:
    """Hellinger distance sqrt(1 - sum(sqrt(p * q))) between the two share vectors, in [0, 1]."""
    n_r, n_c = counts.n_reference, counts.n_current
    if n_r == 0 or n_c == 0:
        return _empty(Method.HELLINGER, threshold, n_r, n_c)
    ref, cur = counts.shares()
    bc = float(np.clip(np.sum(np.sqrt(ref * cur)), 0.0, 1.0))
    return _d_result(Method.HELLINGER, math.sqrt(1.0 - bc), threshold, n_r, n_c, f"{counts.k} bins")


# Aliases so every test can be called by its method name on either column kind.
psi_categorical = psi
jensen_shannon_categorical = jensen_shannon
hellinger_categorical = hellinger
