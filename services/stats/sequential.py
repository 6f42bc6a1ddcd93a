"""Sequential testing: always-valid confidence sequences, GrowthBook's formulation.

GrowthBook's `SequentialTwoSidedTTest` uses the asymptotic confidence sequences of Waudby-Smith et
al. (2023, arXiv:2103.06476v7) with a normal mixture tuned by N* (default 5000):

    rho       = sqrt((-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / N*)                       (eq. 161)
    halfwidth = sqrt(s2) * sqrt(2 (n rho^2 + 1) ln(sqrt(n rho^2 + 1) / alpha) / (n rho)^2)  (eq. 9)

where n = n_control + n_treatment and s2 is the per-observation variance, i.e. se^2 * n for the lift's
standard error se (absolute or delta-method relative). The always-valid p-value is 1/E, capped at 1,
with the mixture e-value E = exp(rho^2 n z^2 / (2 (n rho^2 + 1))) / sqrt(n rho^2 + 1), z = est/se
(eq. 155). p < alpha exactly when the interval excludes 0, so the verdict can use either.

A confidence sequence holds at every look at once, so the experiment may stop as soon as the
interval excludes zero on the good side ("may stop for a win"), and daily peeking keeps the error
rate at alpha. The price is a wider interval than the fixed-horizon one; it is narrowest near n = N*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.stats.abtest import DEFAULT_ALPHA, _check, conversion_summary, effect_moments
from services.stats.abtest_results import DifferenceType, Direction, Verdict, scalar_of, verdicts

DEFAULT_TUNING_N = 5000.0


def sequential_rho(alpha: float = DEFAULT_ALPHA, tuning_n: float = DEFAULT_TUNING_N) -> float:
    """Mixing parameter rho for the two-sided normal-mixture boundary (Waudby-Smith et al. eq. 161)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if tuning_n <= 0:
        raise ValueError(f"tuning_n must be positive, got {tuning_n}")
    la = np.log(alpha)
    return float(np.sqrt((-2 * la + np.log(-2 * la + 1)) / tuning_n))


def confidence_sequence_halfwidth(
    se: npt.ArrayLike,
    n_total: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    tuning_n: float = DEFAULT_TUNING_N,
) -> np.ndarray:
    """Half-width of the always-valid interval for an estimate with standard error `se` after `n_total` units."""
    rho = sequential_rho(alpha, tuning_n)
    se_arr = np.asarray(se, dtype=float)
    n = np.asarray(n_total, dtype=float)
    s2 = se_arr**2 * n  # per-observation variance, the paper's sigma^2
    nr2 = n * rho**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(s2) * np.sqrt(2 * (nr2 + 1) * np.log(np.sqrt(nr2 + 1) / alpha) / (n * rho) ** 2)


def always_valid_p_value(
    estimate: npt.ArrayLike,
    se: npt.ArrayLike,
    n_total: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    tuning_n: float = DEFAULT_TUNING_N,
) -> np.ndarray:
    """1 / (mixture e-value), capped at 1 (Waudby-Smith et al. eq. 155, gbstats' reparameterisation).

    `alpha` only enters through rho, which is tuned for that alpha, as in gbstats.
    """
    rho = sequential_rho(alpha, tuning_n)
    est = np.asarray(estimate, dtype=float)
    se_arr = np.asarray(se, dtype=float)
    n = np.asarray(n_total, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        nr2p1 = n * rho**2 + 1
        # log scale so a huge e-value gives p = 0 rather than an overflow warning.
        log_e = rho**2 * (est / se_arr) ** 2 * n / (2 * nr2p1) - 0.5 * np.log(nr2p1)
        return np.minimum(np.exp(-log_e), 1.0)


@dataclass(frozen=True)
class SequentialResult:
    """An always-valid reading of one comparison. `ci` holds at every look; `p_value` is always-valid."""

    method: str
    difference_type: DifferenceType
    direction: Direction
    alpha: float
    tuning_n: float
    rho: float
    n_control: int
    n_treatment: int
    estimate: float
    se: float
    ci: tuple[float, float]
    statistic: float
    p_value: float
    verdict: Verdict
    may_stop_for_win: bool
    may_stop_for_loss: bool


@dataclass(frozen=True, eq=False)
class SequentialArrays:
    method: str
    difference_type: DifferenceType
    direction: Direction
    alpha: float
    tuning_n: float
    rho: float
    n_control: np.ndarray
    n_treatment: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    verdict: np.ndarray

    def __len__(self) -> int:
        return int(self.estimate.size)

    @property
    def may_stop_for_win(self) -> np.ndarray:
        return self.verdict == "win"

    @property
    def may_stop_for_loss(self) -> np.ndarray:
        return self.verdict == "lose"

    def row(self, i: int) -> SequentialResult:
        f = scalar_of
        verdict = str(self.verdict.flat[i])
        return SequentialResult(
            method=self.method,
            difference_type=self.difference_type,
            direction=self.direction,
            alpha=self.alpha,
            tuning_n=self.tuning_n,
            rho=self.rho,
            n_control=int(self.n_control.flat[i]),
            n_treatment=int(self.n_treatment.flat[i]),
            estimate=f(self.estimate.flat[i]),
            se=f(self.se.flat[i]),
            ci=(f(self.ci_low.flat[i]), f(self.ci_high.flat[i])),
            statistic=f(self.statistic.flat[i]),
            p_value=f(self.p_value.flat[i]),
            verdict=verdict,  # type: ignore[arg-type]
            may_stop_for_win=verdict == "win",
            may_stop_for_loss=verdict == "lose",
        )


def sequential_test_arrays(
    n_control: npt.ArrayLike,
    mean_control: npt.ArrayLike,
    var_control: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    mean_treatment: npt.ArrayLike,
    var_treatment: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    tuning_n: float = DEFAULT_TUNING_N,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    base_control: npt.ArrayLike | None = None,
    base_treatment: npt.ArrayLike | None = None,
) -> SequentialArrays:
    """Confidence-sequence reading of treatment vs control from summaries; arrays in, arrays out.

    `base_*` override the relative lift's denominators (pass the unadjusted means for CUPED input).
    """
    _check(alpha, direction, difference_type)
    rho = sequential_rho(alpha, tuning_n)
    arrays = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=float)
            for a in (n_control, mean_control, var_control, n_treatment, mean_treatment, var_treatment)
        )
    )
    n_c, mean_c, var_c, n_t, mean_t, var_t = (np.atleast_1d(a).astype(float) for a in arrays)
    est, se = effect_moments(
        n_c,
        mean_c,
        var_c,
        n_t,
        mean_t,
        var_t,
        relative=difference_type == "relative",
        base_c=base_control,
        base_t=base_treatment,
    )
    ok = se > 0
    se = np.where(ok, se, np.nan)
    n = n_c + n_t
    hw = confidence_sequence_halfwidth(se, n, alpha=alpha, tuning_n=tuning_n)
    low, high = est - hw, est + hw
    p = always_valid_p_value(est, se, n, alpha=alpha, tuning_n=tuning_n)
    # Decide from the interval itself: that is the object whose validity holds at every look.
    significant = (low > 0) | (high < 0)
    return SequentialArrays(
        method="sequential_confidence_sequence",
        difference_type=difference_type,
        direction=direction,
        alpha=alpha,
        tuning_n=float(tuning_n),
        rho=rho,
        n_control=n_c,
        n_treatment=n_t,
        estimate=est,
        se=se,
        ci_low=low,
        ci_high=high,
        statistic=est / se,
        p_value=p,
        verdict=verdicts(significant, est, direction),
    )


def sequential_test(
    n_control: float,
    mean_control: float,
    var_control: float,
    n_treatment: float,
    mean_treatment: float,
    var_treatment: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    tuning_n: float = DEFAULT_TUNING_N,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    base_control: float | None = None,
    base_treatment: float | None = None,
) -> SequentialResult:
    """Always-valid reading of one comparison from (n, mean, sample variance) per arm."""
    return sequential_test_arrays(
        n_control,
        mean_control,
        var_control,
        n_treatment,
        mean_treatment,
        var_treatment,
        alpha=alpha,
        tuning_n=tuning_n,
        direction=direction,
        difference_type=difference_type,
        base_control=base_control,
        base_treatment=base_treatment,
    ).row(0)


def sequential_test_conversions(
    n_control: int,
    conversions_control: int,
    n_treatment: int,
    conversions_treatment: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    tuning_n: float = DEFAULT_TUNING_N,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
) -> SequentialResult:
    """Always-valid reading for a conversion metric (per-unit variance p(1-p), as gbstats)."""
    p_c, v_c = conversion_summary(n_control, conversions_control)
    p_t, v_t = conversion_summary(n_treatment, conversions_treatment)
    return sequential_test(
        n_control,
        p_c,
        v_c,
        n_treatment,
        p_t,
        v_t,
        alpha=alpha,
        tuning_n=tuning_n,
        direction=direction,
        difference_type=difference_type,
    )
