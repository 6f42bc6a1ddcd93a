"""Power, sample size and minimum detectable effect for experiment design (statsmodels).

- Conversions: NormalIndPower with Cohen's h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1))
  (`proportion_effectsize`). This is the convention that reproduces the published example:
  10% -> 11%, alpha 0.05 two-sided, power 0.8 needs 14,744.1 -> 14,745 users per arm. (The textbook
  pooled/unpooled variance formulas give 14,748-14,752.)
- Means: TTestIndPower with Cohen's d = delta / sd.
- Several treatment arms: each is compared with control at a Bonferroni-adjusted alpha / (k - 1).
- Unequal split: `ratio` = n per treatment arm / n control (statsmodels' `ratio`).
- Sample sizes are rounded up per arm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

MetricType = Literal["conversion", "mean"]
MdeType = Literal["relative", "absolute"]
Alternative = Literal["two-sided", "one-sided"]

NORMAL_POWER = NormalIndPower()
TTEST_POWER = TTestIndPower()


@dataclass(frozen=True)
class SampleSizeResult:
    """Units needed per arm. `n_per_arm` lists control first, then each treatment arm."""

    method: str
    metric_type: MetricType
    baseline: float
    sd: float | None
    target: float
    mde_absolute: float
    mde_relative: float
    effect_size: float
    alpha: float
    alpha_adjusted: float
    power: float
    alternative: Alternative
    n_variants: int
    ratio: float
    n_control_exact: float
    n_control: int
    n_treatment: int
    n_per_arm: tuple[int, ...]
    n_total: int

    @property
    def allocation(self) -> tuple[float, ...]:
        """Traffic shares implied by `ratio` (control first)."""
        return allocation_from_ratio(self.n_variants, self.ratio)


@dataclass(frozen=True)
class MdeResult:
    """Smallest effect detectable with `n_control` units in control (and ratio x that per treatment arm)."""

    method: str
    metric_type: MetricType
    baseline: float
    sd: float | None
    n_control: int
    n_treatment: int
    effect_size: float
    mde_absolute: float
    mde_relative: float
    target: float
    alpha: float
    alpha_adjusted: float
    power: float
    alternative: Alternative
    n_variants: int
    ratio: float


@dataclass(frozen=True)
class DurationResult:
    """Days until every arm reaches its planned size, given daily traffic and the split."""

    method: str
    days: int
    days_exact: float
    daily_traffic: float
    allocation: tuple[float, ...]
    n_per_arm: tuple[int, ...]
    limiting_arm: int


# ---------------------------------------------------------------------------------------------
# Helpers


def bonferroni_alpha(alpha: float, n_variants: int) -> float:
    """alpha / (k - 1): each of the k - 1 treatment arms is compared with control."""
    if n_variants < 2:
        raise ValueError(f"an experiment needs at least 2 variants, got {n_variants}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return alpha / (n_variants - 1)


def allocation_from_ratio(n_variants: int, ratio: float) -> tuple[float, ...]:
    """Traffic shares (control first) when each treatment arm gets `ratio` times control's traffic."""
    total = 1.0 + (n_variants - 1) * ratio
    return (1.0 / total,) + (ratio / total,) * (n_variants - 1)


def ratio_from_allocation(allocation: Sequence[float]) -> float:
    """`ratio` for a split like (50, 25, 25): treatment arms must share one weight."""
    if len(allocation) < 2 or min(allocation) <= 0:
        raise ValueError("allocation needs a positive weight for control and every treatment arm")
    treatments = set(np.round(np.asarray(allocation[1:], dtype=float), 12))
    if len(treatments) != 1:
        raise ValueError("treatment arms must have equal weights; size each arm against control separately otherwise")
    return float(allocation[1]) / float(allocation[0])


def _ceil(x: float) -> int:
    # Root-finder noise (2000.0000000179 for an exact 2000) must not add a unit.
    return int(math.ceil(x - 1e-6))


def sm_alternative(alternative: Alternative) -> str:
    if alternative not in ("two-sided", "one-sided"):
        raise ValueError(f"alternative must be 'two-sided' or 'one-sided', got {alternative!r}")
    return "two-sided" if alternative == "two-sided" else "larger"


def _absolute_mde(baseline: float, mde: float, mde_type: MdeType) -> float:
    if mde_type == "relative":
        return baseline * mde
    if mde_type == "absolute":
        return mde
    raise ValueError(f"mde_type must be 'relative' or 'absolute', got {mde_type!r}")


def _validate(power: float, ratio: float) -> None:
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if not ratio > 0:
        raise ValueError(f"ratio must be positive, got {ratio}")


def _sizes(n_control_exact: float, n_variants: int, ratio: float) -> tuple[int, int, tuple[int, ...], int]:
    n_c = _ceil(n_control_exact)
    n_t = _ceil(n_control_exact * ratio)
    per_arm = (n_c,) + (n_t,) * (n_variants - 1)
    return n_c, n_t, per_arm, sum(per_arm)


# ---------------------------------------------------------------------------------------------
# Sample size


def sample_size_conversion(
    baseline_rate: float,
    mde: float,
    *,
    mde_type: MdeType = "relative",
    alpha: float = 0.05,
    power: float = 0.8,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> SampleSizeResult:
    """Units per arm to detect a change of `mde` in a conversion rate (NormalIndPower, Cohen's h)."""
    _validate(power, ratio)
    if not 0.0 < baseline_rate < 1.0:
        raise ValueError(f"baseline rate must be in (0, 1), got {baseline_rate}")
    delta = _absolute_mde(baseline_rate, mde, mde_type)
    target = baseline_rate + delta
    if delta == 0 or not 0.0 < target < 1.0:
        raise ValueError(f"the target rate {target} must differ from the baseline and lie in (0, 1)")
    alpha_adj = bonferroni_alpha(alpha, n_variants)
    # Power is symmetric in the sign of h; the one-sided test is taken in the MDE's direction.
    h = abs(float(proportion_effectsize(target, baseline_rate)))
    n_exact = float(
        NORMAL_POWER.solve_power(
            effect_size=h, alpha=alpha_adj, power=power, ratio=ratio, alternative=sm_alternative(alternative)
        )
    )
    n_c, n_t, per_arm, total = _sizes(n_exact, n_variants, ratio)
    return SampleSizeResult(
        method="normal_ind_power_cohens_h",
        metric_type="conversion",
        baseline=baseline_rate,
        sd=None,
        target=target,
        mde_absolute=delta,
        mde_relative=delta / baseline_rate,
        effect_size=h,
        alpha=alpha,
        alpha_adjusted=alpha_adj,
        power=power,
        alternative=alternative,
        n_variants=n_variants,
        ratio=ratio,
        n_control_exact=n_exact,
        n_control=n_c,
        n_treatment=n_t,
        n_per_arm=per_arm,
        n_total=total,
    )


def sample_size_mean(
    baseline_mean: float,
    sd: float,
    mde: float,
    *,
    mde_type: MdeType = "relative",
    alpha: float = 0.05,
    power: float = 0.8,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> SampleSizeResult:
    """Units per arm to detect a change of `mde` in a mean (TTestIndPower, Cohen's d = delta / sd)."""
    _validate(power, ratio)
    if not sd > 0:
        raise ValueError(f"sd must be positive, got {sd}")
    delta = _absolute_mde(baseline_mean, mde, mde_type)
    if delta == 0:
        raise ValueError("the MDE must not be zero")
    alpha_adj = bonferroni_alpha(alpha, n_variants)
    d = abs(delta) / sd
    n_exact = float(
        TTEST_POWER.solve_power(
            effect_size=d, alpha=alpha_adj, power=power, ratio=ratio, alternative=sm_alternative(alternative)
        )
    )
    n_c, n_t, per_arm, total = _sizes(n_exact, n_variants, ratio)
    return SampleSizeResult(
        method="ttest_ind_power_cohens_d",
        metric_type="mean",
        baseline=baseline_mean,
        sd=sd,
        target=baseline_mean + delta,
        mde_absolute=delta,
        mde_relative=delta / baseline_mean if baseline_mean else float("nan"),
        effect_size=d,
        alpha=alpha,
        alpha_adjusted=alpha_adj,
        power=power,
        alternative=alternative,
        n_variants=n_variants,
        ratio=ratio,
        n_control_exact=n_exact,
        n_control=n_c,
        n_treatment=n_t,
        n_per_arm=per_arm,
        n_total=total,
    )


# ---------------------------------------------------------------------------------------------
# MDE for a given sample size


def _rate_from_h(baseline_rate: float, h: float, increase: bool) -> float:
    # Inverse of Cohen's h: phi = 2 asin(sqrt(p)); clip at the ends of [0, pi].
    phi = 2 * math.asin(math.sqrt(baseline_rate)) + (h if increase else -h)
    phi = min(max(phi, 0.0), math.pi)
    return math.sin(phi / 2) ** 2


def mde_conversion(
    baseline_rate: float,
    n_control: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    increase: bool = True,
) -> MdeResult:
    """Smallest change in a conversion rate detectable with `n_control` units in control."""
    _validate(power, ratio)
    if not 0.0 < baseline_rate < 1.0:
        raise ValueError(f"baseline rate must be in (0, 1), got {baseline_rate}")
    if n_control < 2:
        raise ValueError("n_control must be at least 2")
    alpha_adj = bonferroni_alpha(alpha, n_variants)
    h = float(
        NORMAL_POWER.solve_power(
            effect_size=None,
            nobs1=n_control,
            alpha=alpha_adj,
            power=power,
            ratio=ratio,
            alternative=sm_alternative(alternative),
        )
    )
    target = _rate_from_h(baseline_rate, h, increase)
    delta = target - baseline_rate
    return MdeResult(
        method="normal_ind_power_cohens_h",
        metric_type="conversion",
        baseline=baseline_rate,
        sd=None,
        n_control=n_control,
        n_treatment=_ceil(n_control * ratio),
        effect_size=h,
        mde_absolute=delta,
        mde_relative=delta / baseline_rate,
        target=target,
        alpha=alpha,
        alpha_adjusted=alpha_adj,
        power=power,
        alternative=alternative,
        n_variants=n_variants,
        ratio=ratio,
    )


def mde_mean(
    baseline_mean: float,
    sd: float,
    n_control: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    increase: bool = True,
) -> MdeResult:
    """Smallest change in a mean detectable with `n_control` units in control."""
    _validate(power, ratio)
    if not sd > 0:
        raise ValueError(f"sd must be positive, got {sd}")
    if n_control < 2:
        raise ValueError("n_control must be at least 2")
    alpha_adj = bonferroni_alpha(alpha, n_variants)
    d = float(
        TTEST_POWER.solve_power(
            effect_size=None,
            nobs1=n_control,
            alpha=alpha_adj,
            power=power,
            ratio=ratio,
            alternative=sm_alternative(alternative),
        )
    )
    delta = d * sd if increase else -d * sd
    return MdeResult(
        method="ttest_ind_power_cohens_d",
        metric_type="mean",
        baseline=baseline_mean,
        sd=sd,
        n_control=n_control,
        n_treatment=_ceil(n_control * ratio),
        effect_size=d,
        mde_absolute=delta,
        mde_relative=delta / baseline_mean if baseline_mean else float("nan"),
        target=baseline_mean + delta,
        alpha=alpha,
        alpha_adjusted=alpha_adj,
        power=power,
        alternative=alternative,
        n_variants=n_variants,
        ratio=ratio,
    )


# ---------------------------------------------------------------------------------------------
# Duration


def expected_duration(
    n_per_arm: Sequence[int],
    daily_traffic: float,
    allocation: Sequence[float] | None = None,
) -> DurationResult:
    """Days for every arm to reach its size when `daily_traffic` units a day enter the experiment.

    `allocation` is the traffic split (control first; any positive weights, normalised here);
    by default it is proportional to `n_per_arm`.
    """
    if not daily_traffic > 0:
        raise ValueError(f"daily traffic must be positive, got {daily_traffic}")
    sizes = np.asarray(n_per_arm, dtype=float)
    weights = sizes if allocation is None else np.asarray(allocation, dtype=float)
    if weights.shape != sizes.shape or np.any(weights <= 0):
        raise ValueError("allocation needs one positive weight per arm")
    shares = weights / weights.sum()
    days_per_arm = sizes / (daily_traffic * shares)
    limiting = int(np.argmax(days_per_arm))
    days_exact = float(days_per_arm[limiting])
    return DurationResult(
        method="traffic_split",
        days=_ceil(days_exact),
        days_exact=days_exact,
        daily_traffic=float(daily_traffic),
        allocation=tuple(float(s) for s in shares),
        n_per_arm=tuple(int(n) for n in n_per_arm),
        limiting_arm=limiting,
    )
