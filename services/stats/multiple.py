"""Multiple-testing correction across goal metrics (off by default in the readout).

- Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values, the
  same numbers as statsmodels `multipletests` ("holm", "fdr_bh"; tested to 1e-12); GrowthBook offers
  the same two. Computed here in numpy, vectorised over many families at once, because
  statsmodels' Holm branch runs `gc.collect()` on every call: 140-200 ms per call in a process
  with many live objects (a Streamlit server), i.e. 14-20 s for the 100 families of a segmented readout.
    Holm: sort ascending, p_(i) x (m - i + 1), running maximum, capped at 1.
    BH:   sort ascending, p_(i) x m / i, running minimum from the largest, capped at 1.
  A test is rejected when its adjusted p-value is <= alpha (identical to the step-down/step-up rules).
- Adjusted confidence intervals the way GrowthBook's front end does (`adjustedCI`): invert the
  adjusted p-value into a standard deviation, sd_adj = |lift| / z(1 - p_adj/2), and return
  lift +/- z(1 - alpha/2) sd_adj; infinite when p_adj is 1; and never narrower than the original
  interval (the original is kept when the adjusted one would not be wider on both sides).
  The inverted interval excludes 0 exactly when the adjusted p-value is below alpha.
- NaN p-values (comparisons with no test) are left out of the family and stay NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

Correction = Literal["holm", "bh"]

_STATSMODELS_METHOD = {"holm": "holm", "bh": "fdr_bh"}


@dataclass(frozen=True, eq=False)
class MultipleTestingResult:
    method: str
    alpha: float
    n: int
    p_values: np.ndarray
    adjusted_p_values: np.ndarray
    reject: np.ndarray


@dataclass(frozen=True, eq=False)
class AdjustedIntervals:
    method: str
    alpha: float
    ci_low: np.ndarray
    ci_high: np.ndarray


def adjust_p_values_arrays(
    p_values: npt.ArrayLike, *, method: Correction = "holm", alpha: float = 0.05
) -> MultipleTestingResult:
    """Adjusted p-values for many families at once: `p_values` is (families, tests), one family per row.

    NaN entries are not part of their row's family (m counts the finite p-values of the row).
    """
    if method not in _STATSMODELS_METHOD:
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    p = np.atleast_2d(np.asarray(p_values, dtype=float))
    finite = ~np.isnan(p)
    m = finite.sum(axis=1, keepdims=True).astype(float)
    order = np.argsort(np.where(finite, p, np.inf), axis=1, kind="stable")  # NaNs sort last
    sorted_p = np.take_along_axis(p, order, axis=1)
    rank = np.arange(1, p.shape[1] + 1, dtype=float)[None, :]
    valid = rank <= m
    if method == "holm":
        raw = np.where(valid, sorted_p * (m - rank + 1), -np.inf)
        adj_sorted = np.maximum.accumulate(raw, axis=1)
    else:
        raw = np.where(valid, sorted_p * m / rank, np.inf)
        adj_sorted = np.minimum.accumulate(raw[:, ::-1], axis=1)[:, ::-1]
    adj_sorted = np.where(valid, np.minimum(adj_sorted, 1.0), np.nan)
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, adj_sorted, axis=1)
    reject = np.nan_to_num(adjusted, nan=np.inf) <= alpha
    return MultipleTestingResult(
        method=_STATSMODELS_METHOD[method],
        alpha=alpha,
        n=int(finite.sum()),
        p_values=p,
        adjusted_p_values=adjusted,
        reject=reject,
    )


def adjust_p_values(
    p_values: npt.ArrayLike, *, method: Correction = "holm", alpha: float = 0.05
) -> MultipleTestingResult:
    """Adjusted p-values and rejections across one family of tests (e.g. all goal metrics x arms)."""
    res = adjust_p_values_arrays(np.asarray(p_values, dtype=float).ravel()[None, :], method=method, alpha=alpha)
    return MultipleTestingResult(
        method=res.method,
        alpha=alpha,
        n=res.n,
        p_values=res.p_values[0],
        adjusted_p_values=res.adjusted_p_values[0],
        reject=res.reject[0],
    )


def adjusted_intervals(
    estimate: npt.ArrayLike,
    ci_low: npt.ArrayLike,
    ci_high: npt.ArrayLike,
    adjusted_p_values: npt.ArrayLike,
    *,
    alpha: float = 0.05,
) -> AdjustedIntervals:
    """GrowthBook-style intervals consistent with adjusted p-values (never narrower than the originals)."""
    est = np.asarray(estimate, dtype=float)
    low0 = np.asarray(ci_low, dtype=float)
    high0 = np.asarray(ci_high, dtype=float)
    padj = np.asarray(adjusted_p_values, dtype=float)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_adj = np.abs(est / stats.norm.ppf(1 - padj / 2))
    low = est - z * sd_adj
    high = est + z * sd_adj
    wider = (low < low0) & (high > high0)
    low = np.where(wider, low, low0)
    high = np.where(wider, high, high0)
    one = padj > 0.999999
    low = np.where(one, -np.inf, low)
    high = np.where(one, np.inf, high)
    nan = np.isnan(padj)
    return AdjustedIntervals(
        method="growthbook_adjusted_ci",
        alpha=alpha,
        ci_low=np.where(nan, low0, low),
        ci_high=np.where(nan, high0, high),
    )
