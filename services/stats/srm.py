"""Experiment health checks: sample-ratio mismatch and the guard-rails shown above the results.

- SRM: chi-square goodness of fit of the units per arm against the planned allocation
  (scipy.stats.chisquare); warn when p < 0.001 (GrowthBook's default threshold). A low p-value
  means assignment or logging is broken, and no metric result can be trusted until it is fixed.
- Too few units: any arm under 150 units (results are too noisy to read).
- Suspicious lift: |relative lift| over 50% usually means a bug (a broken metric, a logging change),
  rarely a real effect.
- Multiple exposure: units seen in more than one arm (given the counts); warn above 1% of units,
  GrowthBook's default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

SRM_P_THRESHOLD = 0.001
MIN_UNITS_PER_ARM = 150
MAX_PLAUSIBLE_LIFT = 0.5
MULTIPLE_EXPOSURE_SHARE = 0.01

HealthVerdict = Literal["ok", "warn"]


@dataclass(frozen=True)
class SRMResult:
    method: str
    statistic: float
    p_value: float
    df: int
    threshold: float
    n: int
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    verdict: HealthVerdict
    message: str


@dataclass(frozen=True)
class HealthCheck:
    """A pass/warn check. `value` is what was measured (a count, a share, a lift), `threshold` the limit."""

    name: str
    method: str
    value: float
    threshold: float
    n: int
    passed: bool
    verdict: HealthVerdict
    message: str
    flagged: tuple[int, ...] = ()


def srm_test(
    observed: Sequence[int],
    allocation: Sequence[float] | None = None,
    *,
    threshold: float = SRM_P_THRESHOLD,
) -> SRMResult:
    """Chi-square test of units per arm against the planned allocation (weights, any scale; default equal).

    Arms with zero planned weight are left out: they cannot receive units by design.
    """
    obs = np.asarray(observed, dtype=float)
    weights = np.ones_like(obs) if allocation is None else np.asarray(allocation, dtype=float)
    if obs.shape != weights.shape or obs.ndim != 1 or obs.size < 2:
        raise ValueError("observed and allocation need one entry per arm, at least two arms")
    if np.any(obs < 0) or np.any(weights < 0):
        raise ValueError("counts and weights must not be negative")
    keep = weights > 0
    if keep.sum() < 2:
        raise ValueError("at least two arms need a positive planned weight")
    total = obs[keep].sum()
    expected = np.zeros_like(obs)
    expected[keep] = total * weights[keep] / weights[keep].sum()
    if total == 0:
        stat, p = 0.0, 1.0
    else:
        res = stats.chisquare(obs[keep], f_exp=expected[keep])
        stat, p = float(res.statistic), float(res.pvalue)
    warn = p < threshold
    msg = (
        f"Sample ratio mismatch: p = {p:.2g} < {threshold}. Assignment or logging is likely broken; "
        "do not trust the results until it is explained."
        if warn
        else f"Units per arm match the planned split (p = {p:.2g})."
    )
    return SRMResult(
        method="chi_square_goodness_of_fit",
        statistic=stat,
        p_value=p,
        df=int(keep.sum() - 1),
        threshold=threshold,
        n=int(total),
        observed=tuple(int(o) for o in obs),
        expected=tuple(float(e) for e in expected),
        verdict="warn" if warn else "ok",
        message=msg,
    )


def srm_p_values(observed: npt.ArrayLike, allocation: Sequence[float] | None = None) -> np.ndarray:
    """Vectorised SRM p-values: `observed` is (segments, arms); one p-value per segment."""
    obs = np.atleast_2d(np.asarray(observed, dtype=float))
    w = np.ones(obs.shape[1]) if allocation is None else np.asarray(allocation, dtype=float)
    expected = obs.sum(axis=1, keepdims=True) * (w / w.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        res = stats.chisquare(obs, f_exp=expected, axis=1)
    return np.where(obs.sum(axis=1) > 0, np.asarray(res.pvalue, dtype=float), 1.0)


def min_units_check(n_per_arm: Sequence[int], *, minimum: int = MIN_UNITS_PER_ARM) -> HealthCheck:
    """Warn when any arm has fewer than `minimum` units."""
    n = np.asarray(n_per_arm, dtype=int)
    low = tuple(int(i) for i in np.flatnonzero(n < minimum))
    smallest = int(n.min()) if n.size else 0
    ok = not low
    msg = (
        f"Every arm has at least {minimum} units."
        if ok
        else f"Too few units: arm(s) {', '.join(map(str, low))} have under {minimum} (smallest: {smallest})."
    )
    return HealthCheck(
        name="min_units",
        method="count_threshold",
        value=float(smallest),
        threshold=float(minimum),
        n=int(n.sum()),
        passed=ok,
        verdict="ok" if ok else "warn",
        message=msg,
        flagged=low,
    )


def large_lift_check(
    relative_lifts: Sequence[float], *, threshold: float = MAX_PLAUSIBLE_LIFT, n: int = 0
) -> HealthCheck:
    """Warn when any |relative lift| exceeds `threshold` (0.5 = 50%): more often a bug than a win."""
    lifts = np.abs(np.asarray(relative_lifts, dtype=float))
    big = tuple(int(i) for i in np.flatnonzero(np.nan_to_num(lifts, nan=0.0) > threshold))
    largest = float(np.nanmax(lifts)) if lifts.size and not np.all(np.isnan(lifts)) else 0.0
    ok = not big
    msg = (
        f"No lift above {threshold:.0%}."
        if ok
        else f"Suspiciously large lift ({largest:.0%}): check the metric definition and logging before believing it."
    )
    return HealthCheck(
        name="large_lift",
        method="abs_relative_lift_threshold",
        value=largest,
        threshold=threshold,
        n=n,
        passed=ok,
        verdict="ok" if ok else "warn",
        message=msg,
        flagged=big,
    )


def multiple_exposure_check(
    units_total: int, units_in_several_arms: int, *, max_share: float = MULTIPLE_EXPOSURE_SHARE
) -> HealthCheck:
    """Warn when the share of units exposed to more than one arm exceeds `max_share`."""
    if units_total < 0 or not 0 <= units_in_several_arms <= max(units_total, 0):
        raise ValueError("need 0 <= units_in_several_arms <= units_total")
    share = units_in_several_arms / units_total if units_total else 0.0
    ok = share <= max_share
    msg = (
        f"{units_in_several_arms} units ({share:.2%}) saw more than one arm."
        if ok
        else f"{units_in_several_arms} units ({share:.2%}) saw more than one arm (limit {max_share:.0%}): "
        "assignment is not sticky; exclude them or fix the bucketing."
    )
    return HealthCheck(
        name="multiple_exposure",
        method="share_threshold",
        value=share,
        threshold=max_share,
        n=units_total,
        passed=ok,
        verdict="ok" if ok else "warn",
        message=msg,
    )
