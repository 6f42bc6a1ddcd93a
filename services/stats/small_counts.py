"""When counts are too small for a fixed-horizon reading's normal approximations, and what we do then.

Two rules, each measured, each a pure function on per-arm summaries (arrays, one element per comparison):

- Small conversion counts get an exact test. "Small": any expected cell of the 2 x 2 table
  (arm x converted / not converted) below SMALL_EXPECTED_COUNT = 5 under equal rates, the textbook
  condition for the chi-square / z approximation. 0/200 against 4/200 has expected counts of 2 and
  read "win" at p = 0.043 on the absolute scale; Fisher's exact test (`scipy.stats.fisher_exact`,
  two-sided) gives p = 0.123. For those comparisons the p-value on both scales (their null
  hypothesis, equal rates, is the same) is Fisher's, the verdict follows it, and the normal
  confidence intervals are withdrawn (NaN): an interval that excludes 0 beside a p-value of 0.12
  would contradict it. gbstats refuses these comparisons; we give the exact test instead.

- The relative lift's delta method needs an arm mean that is precisely known: its A/A false-positive
  rate is 7.9% at 10 conversions per arm, 6.0% at 20, 5.4% at 50; for lognormal(0, 1) revenue 9.3%
  at 20 units per arm, 6.2% at 100, 5.4% at 200 (gbstats the same; the absolute scale stays at or
  below 5%). `delta_method_unreliable` flags a comparison when either arm's mean has a relative
  standard error se/|mean| above DELTA_METHOD_MAX_CV = 0.1 (for conversions: fewer than about
  100 x (1 - p) conversions); the readout shows it as a health message. Below the bar the A/A rate
  stays within 5% +- 1% (tests/stats/test_small_counts.py simulates it). Very skewed metrics
  (lognormal sigma 1.5) can exceed 6% even at 0.1: the message says to read the absolute scale.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
from scipy import stats

from services.stats.abtest_results import ABTestArrays, verdicts

SMALL_EXPECTED_COUNT = 5.0
DELTA_METHOD_MAX_CV = 0.1


def _floats(*arrays: npt.ArrayLike) -> list[np.ndarray]:
    return [np.atleast_1d(np.asarray(a, dtype=float)) for a in np.broadcast_arrays(*arrays)]


def small_counts(
    n_control: npt.ArrayLike, conversions_control: npt.ArrayLike, n_treatment: npt.ArrayLike,
    conversions_treatment: npt.ArrayLike,
) -> np.ndarray:  # fmt: skip
    """True where an expected cell of the 2 x 2 table under equal rates is below SMALL_EXPECTED_COUNT (and the
    table has both outcomes)."""
    n_c, x_c, n_t, x_t = _floats(n_control, conversions_control, n_treatment, conversions_treatment)
    total = n_c + n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (x_c + x_t) / total
        smallest = np.minimum(n_c, n_t) * np.minimum(rate, 1.0 - rate)
    # No conversion at all (or all converted) leaves nothing to test: the reading stays NaN.
    return (rate > 0) & (rate < 1) & (smallest < SMALL_EXPECTED_COUNT)


def fisher_exact_p(
    n_control: npt.ArrayLike, conversions_control: npt.ArrayLike, n_treatment: npt.ArrayLike,
    conversions_treatment: npt.ArrayLike,
) -> np.ndarray:  # fmt: skip
    """Two-sided Fisher's exact p-value per comparison (`scipy.stats.fisher_exact`); NaN for an empty arm."""
    n_c, x_c, n_t, x_t = _floats(n_control, conversions_control, n_treatment, conversions_treatment)
    out = np.full(n_c.shape, np.nan)
    for i in np.flatnonzero((n_c > 0) & (n_t > 0)):
        table = [[int(x_t[i]), int(n_t[i] - x_t[i])], [int(x_c[i]), int(n_c[i] - x_c[i])]]
        out[i] = stats.fisher_exact(table, alternative="two-sided").pvalue
    return out


def with_exact_test(
    r: ABTestArrays, n_control: npt.ArrayLike, conversions_control: npt.ArrayLike, n_treatment: npt.ArrayLike,
    conversions_treatment: npt.ArrayLike,
) -> ABTestArrays:  # fmt: skip
    """`r` with Fisher's exact test where the counts are small: p-values on both scales, verdict, no CI."""
    small = small_counts(n_control, conversions_control, n_treatment, conversions_treatment)
    small = np.broadcast_to(small, r.abs_lift.shape)
    if not small.any():
        return dataclasses.replace(r, exact=small.copy())
    p_exact = np.full(small.shape, np.nan)
    p_exact[small] = fisher_exact_p(*(np.broadcast_to(a, small.shape)[small] for a in (
        n_control, conversions_control, n_treatment, conversions_treatment)))  # fmt: skip

    def swap(values: np.ndarray, exact: np.ndarray | float) -> np.ndarray:
        return np.where(small, exact, values)

    abs_p, rel_p = swap(r.abs_p_value, p_exact), swap(r.rel_p_value, p_exact)
    p = rel_p if r.difference_type == "relative" else abs_p
    significant = np.nan_to_num(p, nan=1.0) < r.alpha
    verdict = np.where(small, verdicts(significant, r.estimate, r.direction), r.verdict)
    nan = np.nan
    return dataclasses.replace(
        r, abs_p_value=abs_p, rel_p_value=rel_p, p_value=p, verdict=verdict, exact=small.copy(),
        abs_ci_low=swap(r.abs_ci_low, nan), abs_ci_high=swap(r.abs_ci_high, nan),
        rel_ci_low=swap(r.rel_ci_low, nan), rel_ci_high=swap(r.rel_ci_high, nan),
    )  # fmt: skip


def delta_method_unreliable(
    n_control: npt.ArrayLike, mean_control: npt.ArrayLike, var_control: npt.ArrayLike, n_treatment: npt.ArrayLike,
    mean_treatment: npt.ArrayLike, var_treatment: npt.ArrayLike,
) -> np.ndarray:  # fmt: skip
    """True where either arm's mean has se/|mean| above DELTA_METHOD_MAX_CV (or is zero / undefined)."""
    n_c, m_c, v_c, n_t, m_t, v_t = _floats(n_control, mean_control, var_control, n_treatment, mean_treatment,
                                           var_treatment)  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.maximum(np.sqrt(v_c / n_c) / np.abs(m_c), np.sqrt(v_t / n_t) / np.abs(m_t))
    return ~(cv <= DELTA_METHOD_MAX_CV)
