"""Power curves (power against the effect, at a fixed sample size) and sample-size curves (sample size
against the effect, at a fixed power), for conversion and mean metrics, via statsmodels as power.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from statsmodels.stats.proportion import proportion_effectsize

from services.stats.power import (
    NORMAL_POWER,
    TTEST_POWER,
    Alternative,
    MdeType,
    MetricType,
    bonferroni_alpha,
    sample_size_conversion,
    sample_size_mean,
    sm_alternative,
)


@dataclass(frozen=True, eq=False)
class PowerCurve:
    """Power against effect (absolute and relative) for a fixed sample size."""

    method: str
    metric_type: MetricType
    baseline: float
    n_control: int
    ratio: float
    alpha_adjusted: float
    mde_absolute: np.ndarray
    mde_relative: np.ndarray
    power: np.ndarray


@dataclass(frozen=True, eq=False)
class SampleSizeCurve:
    """Units per control arm (and in total) against the MDE, at a fixed power."""

    method: str
    metric_type: MetricType
    baseline: float
    power: float
    ratio: float
    alpha_adjusted: float
    mde_absolute: np.ndarray
    mde_relative: np.ndarray
    n_control: np.ndarray
    n_total: np.ndarray


# ---------------------------------------------------------------------------------------------
# Curves for the design page


def mde_grid(baseline: float, mdes: npt.ArrayLike, mde_type: MdeType) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(mdes, dtype=float)
    absolute = m * baseline if mde_type == "relative" else m
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = absolute / baseline
    return absolute, relative


def power_curve_conversion(
    baseline_rate: float,
    n_control: int,
    mdes: npt.ArrayLike,
    *,
    mde_type: MdeType = "relative",
    alpha: float = 0.05,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> PowerCurve:
    """Power at each MDE for a conversion metric with `n_control` units in control."""
    alpha_adj = bonferroni_alpha(alpha, n_variants)
    absolute, relative = mde_grid(baseline_rate, mdes, mde_type)
    h = np.abs(proportion_effectsize(baseline_rate + absolute, baseline_rate))
    power = NORMAL_POWER.power(
        effect_size=h, nobs1=n_control, alpha=alpha_adj, ratio=ratio, alternative=sm_alternative(alternative)
    )
    return PowerCurve(
        method="normal_ind_power_cohens_h",
        metric_type="conversion",
        baseline=baseline_rate,
        n_control=n_control,
        ratio=ratio,
        alpha_adjusted=alpha_adj,
        mde_absolute=absolute,
        mde_relative=relative,
        power=np.asarray(power, dtype=float),
    )


def power_curve_mean(
    baseline_mean: float,
    sd: float,
    n_control: int,
    mdes: npt.ArrayLike,
    *,
    mde_type: MdeType = "relative",
    alpha: float = 0.05,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> PowerCurve:
    """Power at each MDE for a mean metric with `n_control` units in control."""
    alpha_adj = bonferroni_alpha(alpha, n_variants)
    absolute, relative = mde_grid(baseline_mean, mdes, mde_type)
    d = np.abs(absolute) / sd
    alt = sm_alternative(alternative)
    with np.errstate(invalid="ignore"):
        power = np.asarray(
            TTEST_POWER.power(effect_size=d, nobs1=n_control, alpha=alpha_adj, ratio=ratio, alternative=alt),
            dtype=float,
        )
    # scipy's noncentral t returns NaN far in the tail (huge noncentrality); power there is 1 to
    # many decimals, and the normal approximation says so without the numerical trouble.
    bad = np.isnan(power)
    if bad.any():
        power[bad] = NORMAL_POWER.power(
            effect_size=d[bad], nobs1=n_control, alpha=alpha_adj, ratio=ratio, alternative=alt
        )
    return PowerCurve(
        method="ttest_ind_power_cohens_d",
        metric_type="mean",
        baseline=baseline_mean,
        n_control=n_control,
        ratio=ratio,
        alpha_adjusted=alpha_adj,
        mde_absolute=absolute,
        mde_relative=relative,
        power=power,
    )


def sample_size_curve_conversion(
    baseline_rate: float,
    mdes: npt.ArrayLike,
    *,
    mde_type: MdeType = "relative",
    alpha: float = 0.05,
    power: float = 0.8,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> SampleSizeCurve:
    """Control-arm size needed at each MDE for a conversion metric."""
    absolute, relative = mde_grid(baseline_rate, mdes, mde_type)
    results = [
        sample_size_conversion(
            baseline_rate,
            float(a),
            mde_type="absolute",
            alpha=alpha,
            power=power,
            n_variants=n_variants,
            ratio=ratio,
            alternative=alternative,
        )
        for a in absolute
    ]
    return SampleSizeCurve(
        method="normal_ind_power_cohens_h",
        metric_type="conversion",
        baseline=baseline_rate,
        power=power,
        ratio=ratio,
        alpha_adjusted=bonferroni_alpha(alpha, n_variants),
        mde_absolute=absolute,
        mde_relative=relative,
        n_control=np.array([r.n_control for r in results]),
        n_total=np.array([r.n_total for r in results]),
    )


def sample_size_curve_mean(
    baseline_mean: float,
    sd: float,
    mdes: npt.ArrayLike,
    *,
    mde_type: MdeType = "relative",
    alpha: float = 0.05,
    power: float = 0.8,
    n_variants: int = 2,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
) -> SampleSizeCurve:
    """Control-arm size needed at each MDE for a mean metric."""
    absolute, relative = mde_grid(baseline_mean, mdes, mde_type)
    results = [
        sample_size_mean(
            baseline_mean,
            sd,
            float(a),
            mde_type="absolute",
            alpha=alpha,
            power=power,
            n_variants=n_variants,
            ratio=ratio,
            alternative=alternative,
        )
        for a in absolute
    ]
    return SampleSizeCurve(
        method="ttest_ind_power_cohens_d",
        metric_type="mean",
        baseline=baseline_mean,
        power=power,
        ratio=ratio,
        alpha_adjusted=bonferroni_alpha(alpha, n_variants),
        mde_absolute=absolute,
        mde_relative=relative,
        n_control=np.array([r.n_control for r in results]),
        n_total=np.array([r.n_total for r in results]),
    )
