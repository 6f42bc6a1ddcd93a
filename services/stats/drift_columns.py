"""A column prepared for the drift tests: numeric values sorted once (SortedColumn, reused by KS,
Wasserstein and the binned tests), category counts of two windows on one shared index, counts of a
numeric column's few distinct values, and Sturges bins (Evidently's binning)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

# Evidently bins a numeric column only when its reference has more distinct values than this.
BINNING_MIN_UNIQUE = 20


# ---------------------------------------------------------------------------------------------
# Prepared samples


@dataclass(frozen=True, eq=False)
class SortedColumn:
    """A numeric sample sorted once, with missing values dropped; every numeric test reads it."""

    values: np.ndarray  # float64, finite, ascending
    n_missing: int = 0
    is_integer: bool = False  # numpy's Sturges rule widens bins to 1 for integer data

    @classmethod
    def of(cls, x: npt.ArrayLike | pd.Series | SortedColumn) -> SortedColumn:
        if isinstance(x, SortedColumn):
            return x
        if isinstance(x, pd.Series | pd.Index):
            is_int = pd.api.types.is_integer_dtype(x.dtype) or pd.api.types.is_bool_dtype(x.dtype)
            arr = x.to_numpy(dtype=np.float64, na_value=np.nan)  # nullable Int64 / Float64 too
        else:
            arr = np.asarray(x)
            is_int = bool(np.issubdtype(arr.dtype, np.integer)) or arr.dtype == bool
            arr = arr.astype(np.float64, copy=False)
        finite = np.isfinite(arr)
        kept = arr[finite] if not finite.all() else arr
        return cls(np.sort(kept), int(arr.size - kept.size), is_int)

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def min(self) -> float:
        return float(self.values[0])

    @property
    def max(self) -> float:
        return float(self.values[-1])

    @cached_property
    def std(self) -> float:
        return float(np.std(self.values))  # ddof 0, as Evidently's np.std

    @cached_property
    def distinct(self) -> np.ndarray:
        v = self.values
        if v.size == 0:
            return v
        keep = np.empty(v.size, dtype=bool)
        keep[0] = True
        np.not_equal(v[1:], v[:-1], out=keep[1:])
        return v[keep]

    @property
    def n_unique(self) -> int:
        return int(self.distinct.size)


def union_unique_count(reference: SortedColumn, current: SortedColumn, at_most: int | None = None) -> int:
    """Distinct values over both samples. With `at_most`, stop early once the count surely exceeds it
    (the default-test rule only asks "more than 5?", which two `n_unique`s usually answer)."""
    a, b = reference.n_unique, current.n_unique
    if at_most is not None and max(a, b) > at_most:
        return max(a, b)
    return int(np.union1d(reference.distinct, current.distinct).size)


@dataclass(frozen=True, eq=False)
class CategoryCounts:
    """Reference and current counts over the same categories (categories absent from both are dropped)."""

    categories: tuple
    reference: np.ndarray  # int64 counts
    current: np.ndarray
    n_missing_reference: int = 0
    n_missing_current: int = 0

    @property
    def n_reference(self) -> int:
        return int(self.reference.sum())

    @property
    def n_current(self) -> int:
        return int(self.current.sum())

    @property
    def k(self) -> int:
        return len(self.categories)

    def shares(self) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.reference / self.n_reference, self.current / self.n_current


def category_codes(x: npt.ArrayLike | pd.Series) -> tuple[np.ndarray, pd.Index]:
    s = x if isinstance(x, pd.Series) else pd.Series(x)
    if isinstance(s.dtype, pd.CategoricalDtype):
        return np.asarray(s.cat.codes, dtype=np.int64), s.cat.categories
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def category_counts(reference: npt.ArrayLike | pd.Series, current: npt.ArrayLike | pd.Series) -> CategoryCounts:
    """Counts per category in both windows, from category codes (never a Python loop over values)."""
    codes_r, cats_r = category_codes(reference)
    codes_c, cats_c = category_codes(current)
    valid_r, valid_c = codes_r >= 0, codes_c >= 0
    counts_r = np.bincount(codes_r[valid_r], minlength=len(cats_r))
    counts_c_own = np.bincount(codes_c[valid_c], minlength=len(cats_c))
    if cats_r.equals(cats_c):
        categories, counts_c = cats_r, counts_c_own
    else:
        new = cats_c[~cats_c.isin(cats_r)]
        categories = cats_r.append(new)
        counts_r = np.concatenate([counts_r, np.zeros(len(new), dtype=np.int64)])
        counts_c = np.zeros(len(categories), dtype=np.int64)
        counts_c[categories.get_indexer(cats_c)] = counts_c_own
    used = (counts_r > 0) | (counts_c > 0)
    labels = categories[used]
    # Sorted categories keep the output stable across windows (and fix the z-test's "first" category).
    try:
        order = np.asarray(labels.argsort())
    except TypeError:  # mixed types that do not compare
        order = np.arange(len(labels))
    return CategoryCounts(
        tuple(labels[order].tolist()),
        counts_r[used][order].astype(np.int64),
        counts_c[used][order].astype(np.int64),
        int((~valid_r).sum()),
        int((~valid_c).sum()),
    )


def value_counts_numeric(reference: SortedColumn, current: SortedColumn) -> CategoryCounts:
    """Counts per distinct value of a low-cardinality numeric column (read off the sorted arrays)."""
    values = np.union1d(reference.distinct, current.distinct)

    def counts(col: SortedColumn) -> np.ndarray:
        left = np.searchsorted(col.values, values, side="left")
        right = np.searchsorted(col.values, values, side="right")
        return (right - left).astype(np.int64)

    return CategoryCounts(
        tuple(values.tolist()), counts(reference), counts(current), reference.n_missing, current.n_missing
    )


# ---------------------------------------------------------------------------------------------
# Bins for numeric columns


def sturges_edges(lo: float, hi: float, n: int, is_integer: bool = False) -> np.ndarray:
    """`np.histogram_bin_edges(x, bins="sturges")` from min, max and size alone (no pass over the data)."""
    first, last = (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)
    width = (hi - lo) / (math.log2(n) + 1.0)
    if width:
        if is_integer and width < 1:
            width = 1
        n_bins = int(np.ceil((last - first) / width))
    else:
        n_bins = 1
    return np.linspace(first, last, n_bins + 1)


def histogram_counts(col: SortedColumn, edges: np.ndarray) -> np.ndarray:
    """`np.histogram(values, edges)[0]` on sorted values: bins [e_i, e_i+1), the last one closed."""
    left = np.searchsorted(col.values, edges, side="left")
    right_end = np.searchsorted(col.values, edges[-1], side="right")
    ends = np.append(left[1:-1], right_end)
    return (ends - left[:-1]).astype(np.int64)


def binned_counts(
    reference: SortedColumn,
    current: SortedColumn,
    bins: Literal["evidently", "quantile"] = "evidently",
    n_quantiles: int = 10,
) -> CategoryCounts:
    """Counts per bin for PSI / Jensen-Shannon / Hellinger on a numeric column.

    "evidently": Sturges bins over both samples when the reference has > 20 distinct values, else the
    counts of each distinct value. "quantile": `n_quantiles` bins at reference quantiles (the classic
    credit-scoring PSI), open at both ends so every current value falls in a bin.
    """
    if bins == "quantile":
        qs = np.quantile(reference.values, np.linspace(0, 1, n_quantiles + 1)[1:-1])
        inner = np.unique(qs)

        # Bin i is (inner[i-1], inner[i]]: count values <= each inner edge.
        def counts(col: SortedColumn) -> np.ndarray:
            cum = np.searchsorted(col.values, inner, side="right")
            return np.diff(np.concatenate([[0], cum, [col.n]])).astype(np.int64)

        labels = tuple(
            zip(np.concatenate([[-np.inf], inner]).tolist(), np.concatenate([inner, [np.inf]]).tolist(), strict=True)
        )
        return CategoryCounts(labels, counts(reference), counts(current), reference.n_missing, current.n_missing)
    if bins != "evidently":
        raise ValueError(f"bins must be 'evidently' or 'quantile', got {bins!r}")
    if reference.n_unique <= BINNING_MIN_UNIQUE:
        return value_counts_numeric(reference, current)
    edges = sturges_edges(
        min(reference.min, current.min),
        max(reference.max, current.max),
        reference.n + current.n,
        reference.is_integer and current.is_integer,
    )
    labels = tuple(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
    return CategoryCounts(
        labels,
        histogram_counts(reference, edges),
        histogram_counts(current, edges),
        reference.n_missing,
        current.n_missing,
    )
