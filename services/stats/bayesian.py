"""Bayesian A/B reading, GrowthBook's engine (gbstats `EffectBayesianABTest`).

The likelihood is the normal approximation of the lift (absolute, or relative with the delta
method), exactly the frequentist estimate and standard error. The prior is on the lift itself:
flat (improper) by default, so the posterior is N(estimate, se^2); an optional proper normal prior
N(m0, v0) combines by precision weighting:

    precision = 1/se^2 + 1/v0,   mean = (estimate/se^2 + m0/v0) / precision.

From the posterior N(mu, sigma^2) of the lift (closed forms with the normal pdf phi and cdf Phi):
- chance to beat control = P(lift > 0) = Phi(mu/sigma) (P(lift < 0) when lower is better);
- risk (expected loss) of shipping control   = E[max(lift, 0)]  = mu Phi(mu/sigma) + sigma phi(mu/sigma),
  risk of shipping treatment                 = E[max(-lift, 0)] = -mu Phi(-mu/sigma) + sigma phi(mu/sigma),
  swapped when lower is better (gbstats writes these as P(.) x truncated-normal means; same numbers);
- credible interval = normal quantiles alpha/2 and 1 - alpha/2 of the posterior.

The verdict is "win" when the chance to beat control reaches `threshold` (GrowthBook's default
95%), "lose" when it falls to 1 - threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from services.stats.abtest import DEFAULT_ALPHA, _check, conversion_summary, effect_moments
from services.stats.abtest_results import DifferenceType, Direction, Verdict, scalar_of

DEFAULT_CHANCE_TO_WIN_THRESHOLD = 0.95


@dataclass(frozen=True)
class GaussianPrior:
    """Normal prior on the lift, on the scale of the test's `difference_type`.

    `proper=False` (default) is the flat prior: `mean` and `variance` are then ignored.
    """

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False

    def __post_init__(self) -> None:
        if self.proper and not self.variance > 0:
            raise ValueError(f"a proper prior needs a positive variance, got {self.variance}")


FLAT_PRIOR = GaussianPrior()


def normal_risk(mu: npt.ArrayLike, sigma: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(risk of choosing control, risk of choosing treatment) for a N(mu, sigma^2) lift, higher = better.

    Expected loss: E[max(lift, 0)] if we keep control, E[max(-lift, 0)] if we ship treatment.
    """
    mu_arr = np.asarray(mu, dtype=float)
    s = np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = mu_arr / s
        pdf = stats.norm.pdf(z)
        risk_control = mu_arr * stats.norm.cdf(z) + s * pdf
        risk_treatment = -mu_arr * stats.norm.cdf(-z) + s * pdf
    return risk_control, risk_treatment


@dataclass(frozen=True)
class BayesianResult:
    """Posterior reading of one comparison. `estimate`/`sd` are the posterior mean and sd of the lift."""

    method: str
    difference_type: DifferenceType
    direction: Direction
    alpha: float
    threshold: float
    n_control: int
    n_treatment: int
    data_estimate: float
    data_se: float
    prior: GaussianPrior
    estimate: float
    sd: float
    ci: tuple[float, float]
    chance_to_win: float
    risk_control: float
    risk_treatment: float
    verdict: Verdict


@dataclass(frozen=True, eq=False)
class BayesianArrays:
    method: str
    difference_type: DifferenceType
    direction: Direction
    alpha: float
    threshold: float
    prior: GaussianPrior
    n_control: np.ndarray
    n_treatment: np.ndarray
    data_estimate: np.ndarray
    data_se: np.ndarray
    estimate: np.ndarray
    sd: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    chance_to_win: np.ndarray
    risk_control: np.ndarray
    risk_treatment: np.ndarray
    verdict: np.ndarray

    def __len__(self) -> int:
        return int(self.estimate.size)

    def row(self, i: int) -> BayesianResult:
        f = scalar_of
        return BayesianResult(
            method=self.method,
            difference_type=self.difference_type,
            direction=self.direction,
            alpha=self.alpha,
            threshold=self.threshold,
            n_control=int(self.n_control.flat[i]),
            n_treatment=int(self.n_treatment.flat[i]),
            data_estimate=f(self.data_estimate.flat[i]),
            data_se=f(self.data_se.flat[i]),
            prior=self.prior,
            estimate=f(self.estimate.flat[i]),
            sd=f(self.sd.flat[i]),
            ci=(f(self.ci_low.flat[i]), f(self.ci_high.flat[i])),
            chance_to_win=f(self.chance_to_win.flat[i]),
            risk_control=f(self.risk_control.flat[i]),
            risk_treatment=f(self.risk_treatment.flat[i]),
            verdict=str(self.verdict.flat[i]),  # type: ignore[arg-type]
        )


def bayesian_test_arrays(
    n_control: npt.ArrayLike,
    mean_control: npt.ArrayLike,
    var_control: npt.ArrayLike,
    n_treatment: npt.ArrayLike,
    mean_treatment: npt.ArrayLike,
    var_treatment: npt.ArrayLike,
    *,
    prior: GaussianPrior = FLAT_PRIOR,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_CHANCE_TO_WIN_THRESHOLD,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    base_control: npt.ArrayLike | None = None,
    base_treatment: npt.ArrayLike | None = None,
) -> BayesianArrays:
    """Bayesian reading of treatment vs control from summaries; arrays in, arrays out."""
    _check(alpha, direction, difference_type)
    if not 0.5 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0.5, 1), got {threshold}")
    arrays = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=float)
            for a in (n_control, mean_control, var_control, n_treatment, mean_treatment, var_treatment)
        )
    )
    n_c, mean_c, var_c, n_t, mean_t, var_t = (np.atleast_1d(a).astype(float) for a in arrays)
    data_mean, data_se = effect_moments(
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
    data_se = np.where(data_se > 0, data_se, np.nan)  # no variance, no posterior (gbstats: default output)
    data_var = data_se**2
    if prior.proper:
        precision = 1.0 / data_var + 1.0 / prior.variance
        post_mean = (data_mean / data_var + prior.mean / prior.variance) / precision
    else:
        precision = 1.0 / data_var
        post_mean = data_mean
    post_sd = np.sqrt(1.0 / precision)
    p_positive = stats.norm.sf(0.0, loc=post_mean, scale=post_sd)
    risk_ctrl, risk_trt = normal_risk(post_mean, post_sd)
    higher = direction == "higher"
    ctw = p_positive if higher else 1.0 - p_positive
    if not higher:  # for a lower-is-better metric, keeping control loses when the lift is negative
        risk_ctrl, risk_trt = risk_trt, risk_ctrl
    low = stats.norm.ppf(alpha / 2, loc=post_mean, scale=post_sd)
    high = stats.norm.ppf(1 - alpha / 2, loc=post_mean, scale=post_sd)
    verdict = np.where(ctw >= threshold, "win", np.where(ctw <= 1 - threshold, "lose", "inconclusive"))
    return BayesianArrays(
        method="bayesian_gaussian_effect",
        difference_type=difference_type,
        direction=direction,
        alpha=alpha,
        threshold=threshold,
        prior=prior,
        n_control=n_c,
        n_treatment=n_t,
        data_estimate=data_mean,
        data_se=data_se,
        estimate=post_mean,
        sd=post_sd,
        ci_low=low,
        ci_high=high,
        chance_to_win=ctw,
        risk_control=risk_ctrl,
        risk_treatment=risk_trt,
        verdict=verdict,
    )


def bayesian_test(
    n_control: float,
    mean_control: float,
    var_control: float,
    n_treatment: float,
    mean_treatment: float,
    var_treatment: float,
    *,
    prior: GaussianPrior = FLAT_PRIOR,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_CHANCE_TO_WIN_THRESHOLD,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    base_control: float | None = None,
    base_treatment: float | None = None,
) -> BayesianResult:
    """Bayesian reading of one comparison from (n, mean, sample variance) per arm."""
    return bayesian_test_arrays(
        n_control,
        mean_control,
        var_control,
        n_treatment,
        mean_treatment,
        var_treatment,
        prior=prior,
        alpha=alpha,
        threshold=threshold,
        direction=direction,
        difference_type=difference_type,
        base_control=base_control,
        base_treatment=base_treatment,
    ).row(0)


def bayesian_test_conversions(
    n_control: int,
    conversions_control: int,
    n_treatment: int,
    conversions_treatment: int,
    *,
    prior: GaussianPrior = FLAT_PRIOR,
    alpha: float = DEFAULT_ALPHA,
    threshold: float = DEFAULT_CHANCE_TO_WIN_THRESHOLD,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
) -> BayesianResult:
    """Bayesian reading for a conversion metric (per-unit variance p(1-p), as gbstats)."""
    p_c, v_c = conversion_summary(n_control, conversions_control)
    p_t, v_t = conversion_summary(n_treatment, conversions_treatment)
    return bayesian_test(
        n_control,
        p_c,
        v_c,
        n_treatment,
        p_t,
        v_t,
        prior=prior,
        alpha=alpha,
        threshold=threshold,
        direction=direction,
        difference_type=difference_type,
    )
