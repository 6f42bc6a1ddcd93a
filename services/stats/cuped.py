"""CUPED: regression adjustment on a pre-period covariate, GrowthBook's formulation.

With y the metric in the experiment and x the same unit's pre-period value:

    theta      = cov(y, x) / var(x), pooled over both arms (gbstats `compute_theta`: the joint
                 covariance and variance of all units, ignoring the arm);
    adjusted   = y - theta (x - mean of x over both arms), per unit;
    arm var    = var(y) + theta^2 var(x) - 2 theta cov(y, x)  (per arm, ddof=1);
    the relative lift keeps the *unadjusted* control mean as its denominator (and in the delta
    method), so it is still a share of what the control arm actually did.

The adjusted comparison is then a Welch t-test on the adjusted means and variances. The variance
reduction reported is 1 - se_adjusted^2 / se_unadjusted^2 of the absolute lift (about rho^2 for a
covariate with correlation rho), and the unadjusted result is kept beside the adjusted one.

Inputs are per-arm sufficient statistics (n, sum y, sum x, sum y^2, sum x^2, sum xy), so SQL or a
pandas groupby can aggregate first; `CupedSums.from_values` builds them from raw arrays.
A unit with no pre-period value should carry x = 0 (GrowthBook's convention): theta then shrinks
toward what the covariate can explain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.stats.abtest import DEFAULT_ALPHA, _check, welch_ttest_arrays
from services.stats.abtest_results import ABTestArrays, ABTestResult, DifferenceType, Direction, Verdict


@dataclass(frozen=True, eq=False)
class CupedSums:
    """Sufficient statistics of one arm (scalars), or of many arms/segments at once (arrays)."""

    n: float | np.ndarray
    sum_y: float | np.ndarray
    sum_x: float | np.ndarray
    sum_y2: float | np.ndarray
    sum_x2: float | np.ndarray
    sum_xy: float | np.ndarray

    @classmethod
    def from_values(cls, y: npt.ArrayLike, x: npt.ArrayLike) -> CupedSums:
        y_arr = np.asarray(y, dtype=float)
        x_arr = np.asarray(x, dtype=float)
        if y_arr.shape != x_arr.shape:
            raise ValueError("y and x must have the same length (one pre-period value per unit)")
        return cls(
            n=float(y_arr.size),
            sum_y=float(y_arr.sum()),
            sum_x=float(x_arr.sum()),
            sum_y2=float(y_arr @ y_arr),
            sum_x2=float(x_arr @ x_arr),
            sum_xy=float(y_arr @ x_arr),
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(
            np.atleast_1d(np.asarray(v, dtype=float))
            for v in (self.n, self.sum_y, self.sum_x, self.sum_y2, self.sum_x2, self.sum_xy)
        )


def _moments(n: np.ndarray, sy: np.ndarray, sx: np.ndarray, syy: np.ndarray, sxx: np.ndarray, sxy: np.ndarray):
    """Means, variances and covariance with ddof=1 from sums."""
    with np.errstate(divide="ignore", invalid="ignore"):
        my, mx = sy / n, sx / n
        vy = np.maximum((syy - sy * my) / (n - 1), 0.0)
        vx = np.maximum((sxx - sx * mx) / (n - 1), 0.0)
        cxy = (sxy - sx * my) / (n - 1)
    return my, mx, vy, vx, cxy


def pooled_theta(control: CupedSums, treatment: CupedSums) -> np.ndarray:
    """theta = cov(y, x) / var(x) over the units of both arms together (0 when x does not vary)."""
    joint = [a + b for a, b in zip(control.arrays(), treatment.arrays(), strict=True)]
    _, _, _, vx, cxy = _moments(*joint)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(vx > 0, cxy / vx, 0.0)


@dataclass(frozen=True)
class CupedResult:
    """Adjusted and unadjusted readings side by side; `estimate`, `ci`, `p_value`, `verdict` are the adjusted ones."""

    method: str
    alpha: float
    n_control: int
    n_treatment: int
    theta: float
    variance_reduction: float
    adjusted: ABTestResult
    unadjusted: ABTestResult
    estimate: float
    ci: tuple[float, float]
    p_value: float
    verdict: Verdict


@dataclass(frozen=True, eq=False)
class CupedArrays:
    """Vectorised CUPED: `adjusted.mean_*`/`var_*` are the adjusted moments, `unadjusted.mean_*` the raw means."""

    method: str
    alpha: float
    theta: np.ndarray
    variance_reduction: np.ndarray
    adjusted: ABTestArrays
    unadjusted: ABTestArrays

    def __len__(self) -> int:
        return len(self.adjusted)

    def row(self, i: int) -> CupedResult:
        adj = self.adjusted.row(i)
        return CupedResult(
            method=self.method,
            alpha=self.alpha,
            n_control=adj.n_control,
            n_treatment=adj.n_treatment,
            theta=float(self.theta.flat[i]),
            variance_reduction=float(self.variance_reduction.flat[i]),
            adjusted=adj,
            unadjusted=self.unadjusted.row(i),
            estimate=adj.estimate,
            ci=adj.ci,
            p_value=adj.p_value,
            verdict=adj.verdict,
        )


def cuped_arrays(
    control: CupedSums,
    treatment: CupedSums,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    theta: float | npt.ArrayLike | None = None,
) -> CupedArrays:
    """CUPED-adjusted Welch reading from per-arm sums; arrays in, arrays out.

    `theta` overrides the pooled estimate (e.g. to reproduce a published example).
    """
    _check(alpha, direction, difference_type)
    c = control.arrays()
    t = treatment.arrays()
    my_c, mx_c, vy_c, vx_c, cxy_c = _moments(*c)
    my_t, mx_t, vy_t, vx_t, cxy_t = _moments(*t)
    th = pooled_theta(control, treatment) if theta is None else np.asarray(theta, dtype=float)
    th = np.broadcast_to(th, my_c.shape).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx_pooled = (c[2] + t[2]) / (c[0] + t[0])
    # Centring on the pooled pre-period mean keeps adjusted means on the metric's own scale;
    # the difference between arms is unchanged by it.
    adj_c = my_c - th * (mx_c - mx_pooled)
    adj_t = my_t - th * (mx_t - mx_pooled)
    avar_c = np.maximum(vy_c + th**2 * vx_c - 2 * th * cxy_c, 0.0)
    avar_t = np.maximum(vy_t + th**2 * vx_t - 2 * th * cxy_t, 0.0)
    kw = {"alpha": alpha, "direction": direction, "difference_type": difference_type}
    adjusted = welch_ttest_arrays(
        c[0], adj_c, avar_c, t[0], adj_t, avar_t, base_control=my_c, base_treatment=my_t, **kw
    )
    unadjusted = welch_ttest_arrays(c[0], my_c, vy_c, t[0], my_t, vy_t, **kw)
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = 1.0 - adjusted.abs_se**2 / unadjusted.abs_se**2
    return CupedArrays(
        method="cuped_regression_adjustment",
        alpha=alpha,
        theta=th,
        variance_reduction=reduction,
        adjusted=adjusted,
        unadjusted=unadjusted,
    )


def cuped_from_sums(
    control: CupedSums,
    treatment: CupedSums,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    theta: float | None = None,
) -> CupedResult:
    """CUPED-adjusted reading of one comparison from each arm's sufficient statistics."""
    return cuped_arrays(
        control, treatment, alpha=alpha, direction=direction, difference_type=difference_type, theta=theta
    ).row(0)


def cuped(
    y_control: npt.ArrayLike,
    x_control: npt.ArrayLike,
    y_treatment: npt.ArrayLike,
    x_treatment: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = "higher",
    difference_type: DifferenceType = "relative",
    theta: float | None = None,
) -> CupedResult:
    """CUPED-adjusted reading from raw per-unit values (y in the experiment, x in the pre-period)."""
    return cuped_from_sums(
        CupedSums.from_values(y_control, x_control),
        CupedSums.from_values(y_treatment, x_treatment),
        alpha=alpha,
        direction=direction,
        difference_type=difference_type,
        theta=theta,
    )
