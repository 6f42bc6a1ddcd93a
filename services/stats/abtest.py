"""Frequentist fixed-horizon A/B readings on summary statistics, with GrowthBook's conventions.

Every reading takes per-arm summaries (n, mean, variance; or n, conversions) so a readout can be
computed from aggregated data. The `*_arrays` functions take numpy arrays of summaries (one element
per comparison) and return arrays; the scalar functions are thin wrappers over them, so there is
only one implementation of each formula.

Conventions (GrowthBook's gbstats `TwoSidedTTest`):
- absolute lift = mean_t - mean_c, se^2 = var_t/n_t + var_c/n_c;
- relative lift = mean_t/mean_c - 1 with the delta-method variance
  var_t/(n_t mean_c^2) + mean_t^2 var_c/(n_c mean_c^4)  (for conversions too);
- Student t quantiles and p-values with Welch-Satterthwaite degrees of freedom on both scales, for
  means and for conversions alike (gbstats' TwoSidedTTest: `t.ppf(1 - alpha/2, dof)`,
  `2 * (1 - t.cdf(|z|, dof)))`;
- conversions use the variance p(1 - p) per unit (GrowthBook's ProportionStatistic): the readout reads
  them with `conversion_ttest_arrays`, i.e. the Welch t above on (p, p(1 - p)), not normal quantiles;
- small conversion counts (an expected cell below 5) get Fisher's exact test instead and no normal
  interval (`services.stats.small_counts`), in the readout and in the z-test alike;
- the p-value and the verdict come from the scale chosen by `difference_type` (GrowthBook's default
  is relative), so the verdict always agrees with that scale's confidence interval.

`two_proportion_ztest*` is the classic two-proportion z-test with normal quantiles (statsmodels'
`proportions_ztest` and Wald interval), for reference; the readout does not use it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
from scipy import stats

from services.stats import small_counts
from services.stats.abtest_results import ABTestArrays, ABTestResult, DifferenceType, Direction, assemble

DEFAULT_ALPHA = 0.05


# ---------------------------------------------------------------------------------------------
# Summaries


def conversion_summary(n: npt.ArrayLike, conversions: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(rate, per-unit variance p(1-p)) for conversion counts, as GrowthBook's ProportionStatistic."""
    n_arr = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.asarray(conversions, dtype=float) / n_arr
    return p, p * (1.0 - p)


def summary_from_sums(n: npt.ArrayLike, total: npt.ArrayLike, total_sq: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(mean, sample variance with ddof=1) from n, sum and sum of squares (what SQL aggregates give)."""
    n_arr = np.asarray(n, dtype=float)
    s = np.asarray(total, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n_arr
        var = (np.asarray(total_sq, dtype=float) - s * mean) / (n_arr - 1.0)
    # Cancellation can leave a tiny negative number when all values are equal.
    return mean, np.maximum(var, 0.0)


def summarize(values: npt.ArrayLike) -> tuple[int, float, float]:
    """(n, mean, sample variance ddof=1) of raw per-unit values."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    return n, float(x.mean()) if n else float("nan"), float(x.var(ddof=1)) if n > 1 else float("nan")


# ---------------------------------------------------------------------------------------------
# Shared pieces (used by sequential, bayesian and cuped too)


def welch_df(n_c: npt.ArrayLike, var_c: npt.ArrayLike, n_t: npt.ArrayLike, var_t: npt.ArrayLike) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom, as gbstats uses for both absolute and relative lift."""
    n_c, var_c, n_t, var_t = (np.asarray(a, dtype=float) for a in (n_c, var_c, n_t, var_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        a, b = var_c / n_c, var_t / n_t
        return (a + b) ** 2 / (a**2 / (n_c - 1.0) + b**2 / (n_t - 1.0))


def effect_moments(
    n_c: npt.ArrayLike,
    mean_c: npt.ArrayLike,
    var_c: npt.ArrayLike,
    n_t: npt.ArrayLike,
    mean_t: npt.ArrayLike,
    var_t: npt.ArrayLike,
    *,
    relative: bool,
    base_c: npt.ArrayLike | None = None,
    base_t: npt.ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(estimate, standard error) of the lift on the absolute or relative scale.

    `base_c`/`base_t` are the means used in the relative lift's denominator and delta method; they
    default to the means. CUPED passes the unadjusted means here (as gbstats does for regression-
    adjusted statistics), so the relative lift stays a share of the control's observed mean.
    """
    n_c, mean_c, var_c, n_t, mean_t, var_t = (
        np.asarray(a, dtype=float) for a in (n_c, mean_c, var_c, n_t, mean_t, var_t)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        se2_c, se2_t = var_c / n_c, var_t / n_t
        diff = mean_t - mean_c
        if not relative:
            return diff, np.sqrt(se2_t + se2_c)
        bc = mean_c if base_c is None else np.asarray(base_c, dtype=float)
        bt = mean_t if base_t is None else np.asarray(base_t, dtype=float)
        estimate = diff / bc
        # Delta method for a ratio of independent means (Deng et al. 2018; gbstats TTest.variance).
        variance = se2_t / bc**2 + se2_c * bt**2 / bc**4
        bad = bc == 0
        estimate = np.where(bad, np.nan, estimate)
        return estimate, np.where(bad, np.nan, np.sqrt(variance))


def _check(alpha: float, direction: str, difference_type: str) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    if difference_type not in ("relative", "absolute"):
        raise ValueError(f"difference_type must be 'relative' or 'absolute', got {difference_type!r}")


# ---------------------------------------------------------------------------------------------
# Welch t-test (means; GrowthBook's TwoSidedTTest)


def welch_ttest_arrays(
    n_control: npt.ArrayLike,
    mean_control: npt.ArrayLike,
    var_control: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    mean_treatment: npt.ArrayLike,
    var_treatment: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    base_control: npt.ArrayLike | None = None,
    base_treatment: npt.ArrayLike | None = None,
) -> ABTestArrays:
    """Welch's unequal-variance t-test on summaries; arrays in, arrays out.

    Variances are per-unit sample variances (ddof=1). `base_*` override the means used in the
    relative lift's denominator (CUPED passes the unadjusted means).
    """
    _check(alpha, direction, difference_type)
    arrays = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=float)
            for a in (n_control, mean_control, var_control, n_treatment, mean_treatment, var_treatment)
        )
    )
    n_c, mean_c, var_c, n_t, mean_t, var_t = (np.atleast_1d(a).astype(float) for a in arrays)
    abs_lift, abs_se = effect_moments(n_c, mean_c, var_c, n_t, mean_t, var_t, relative=False)
    rel_lift, rel_se = effect_moments(
        n_c, mean_c, var_c, n_t, mean_t, var_t, relative=True, base_c=base_control, base_t=base_treatment
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        # scipy's reference Welch test for the absolute difference (statistic and p-value).
        ref = stats.ttest_ind_from_stats(mean_t, np.sqrt(var_t), n_t, mean_c, np.sqrt(var_c), n_c, equal_var=False)
    return assemble(
        "welch_t",
        n_c=n_c,
        mean_c=mean_c,
        var_c=var_c,
        n_t=n_t,
        mean_t=mean_t,
        var_t=var_t,
        abs_lift=abs_lift,
        abs_se=abs_se,
        abs_stat=np.asarray(ref.statistic, dtype=float),
        abs_p=np.asarray(ref.pvalue, dtype=float),
        rel_lift=rel_lift,
        rel_se=rel_se,
        df=welch_df(n_c, var_c, n_t, var_t),
        alpha=alpha,
        direction=direction,
        difference_type=difference_type,
    )


def welch_ttest(
    n_control: float,
    mean_control: float,
    var_control: float,
    n_treatment: float,
    mean_treatment: float,
    var_treatment: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
) -> ABTestResult:
    """Welch's t-test of treatment vs control from (n, mean, sample variance) per arm."""
    return welch_ttest_arrays(
        n_control,
        mean_control,
        var_control,
        n_treatment,
        mean_treatment,
        var_treatment,
        alpha=alpha,
        direction=direction,
        difference_type=difference_type,
    ).row(0)


def welch_ttest_from_samples(
    control: npt.ArrayLike,
    treatment: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
) -> ABTestResult:
    """Welch's t-test from raw per-unit values (summarised first; same numbers as from summaries)."""
    n_c, m_c, v_c = summarize(control)
    n_t, m_t, v_t = summarize(treatment)
    return welch_ttest(n_c, m_c, v_c, n_t, m_t, v_t, alpha=alpha, direction=direction, difference_type=difference_type)


# ---------------------------------------------------------------------------------------------
# Two-proportion z-test (conversions)


def two_proportion_ztest_arrays(
    n_control: npt.ArrayLike,
    conversions_control: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    conversions_treatment: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    pooled: bool = False,
) -> ABTestArrays:
    """Two-proportion z-test on counts; arrays in, arrays out.

    The confidence intervals are Wald intervals with each arm's own variance p(1-p)/n (statsmodels
    `confint_proportions_2indep(method="wald")`), and the relative lift uses the delta method.
    `pooled=True` computes the absolute-scale statistic with the pooled rate under H0, as
    statsmodels `proportions_ztest` does; it is off by default so the p-value agrees with the CI.
    """
    _check(alpha, direction, difference_type)
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (n_control, conversions_control, n_treatment, conversions_treatment))
    )
    n_c, x_c, n_t, x_t = (np.atleast_1d(a).astype(float) for a in arrays)
    if np.any((x_c < 0) | (x_t < 0) | (x_c > n_c) | (x_t > n_t)):
        raise ValueError("conversions must be between 0 and n")
    p_c, var_c = conversion_summary(n_c, x_c)
    p_t, var_t = conversion_summary(n_t, x_t)
    abs_lift, abs_se = effect_moments(n_c, p_c, var_c, n_t, p_t, var_t, relative=False)
    rel_lift, rel_se = effect_moments(n_c, p_c, var_c, n_t, p_t, var_t, relative=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        if pooled:
            p_pool = (x_c + x_t) / (n_c + n_t)
            test_se = np.sqrt(p_pool * (1 - p_pool) * (1 / n_c + 1 / n_t))
        else:
            test_se = abs_se
        abs_stat = np.where(test_se > 0, abs_lift / test_se, np.nan)
    abs_p = 2 * stats.norm.sf(np.abs(abs_stat))
    r = assemble(
        "two_proportion_z_pooled" if pooled else "two_proportion_z",
        n_c=n_c,
        mean_c=p_c,
        var_c=var_c,
        n_t=n_t,
        mean_t=p_t,
        var_t=var_t,
        abs_lift=abs_lift,
        abs_se=abs_se,
        abs_stat=abs_stat,
        abs_p=abs_p,
        rel_lift=rel_lift,
        rel_se=rel_se,
        df=np.full(abs_lift.shape, np.inf),
        alpha=alpha,
        direction=direction,
        difference_type=difference_type,
    )
    return small_counts.with_exact_test(r, n_c, x_c, n_t, x_t)


def two_proportion_ztest(
    n_control: int,
    conversions_control: int,
    n_treatment: int,
    conversions_treatment: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    pooled: bool = False,
) -> ABTestResult:
    """Two-proportion z-test of treatment vs control from (n, conversions) per arm."""
    return two_proportion_ztest_arrays(
        n_control,
        conversions_control,
        n_treatment,
        conversions_treatment,
        alpha=alpha,
        direction=direction,
        difference_type=difference_type,
        pooled=pooled,
    ).row(0)


# ---------------------------------------------------------------------------------------------
# Conversions as the readout reads them (gbstats: Welch t on proportions)


def conversion_ttest_arrays(
    n_control: npt.ArrayLike,
    conversions_control: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    conversions_treatment: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
) -> ABTestArrays:
    """Conversions the gbstats way: Welch's t on (p, p(1 - p)) per arm, t quantiles with Welch df on both
    scales; Fisher's exact test where the counts are small (see `services.stats.small_counts`)."""
    arrays = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (n_control, conversions_control, n_treatment, conversions_treatment))
    )
    n_c, x_c, n_t, x_t = (np.atleast_1d(a).astype(float) for a in arrays)
    if np.any((x_c < 0) | (x_t < 0) | (x_c > n_c) | (x_t > n_t)):
        raise ValueError("conversions must be between 0 and n")
    p_c, var_c = conversion_summary(n_c, x_c)
    p_t, var_t = conversion_summary(n_t, x_t)
    r = welch_ttest_arrays(
        n_c, p_c, var_c, n_t, p_t, var_t, alpha=alpha, direction=direction, difference_type=difference_type
    )
    r = dataclasses.replace(r, method="conversion_t")
    return small_counts.with_exact_test(r, n_c, x_c, n_t, x_t)


def conversion_ttest(
    n_control: int,
    conversions_control: int,
    n_treatment: int,
    conversions_treatment: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
) -> ABTestResult:
    """One conversion comparison, as the readout reads it (`conversion_ttest_arrays`)."""
    return conversion_ttest_arrays(
        n_control,
        conversions_control,
        n_treatment,
        conversions_treatment,
        alpha=alpha,
        direction=direction,
        difference_type=difference_type,
    ).row(0)
