"""The results of a frequentist fixed-horizon A/B reading: one comparison (ABTestResult) or many at once
(ABTestArrays), assembled from the lift's moments the same way for the t-test and the z-test, with the
verdict rule and the type names they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

Direction = Literal["higher", "lower"]
DifferenceType = Literal["relative", "absolute"]
Verdict = Literal["win", "lose", "inconclusive"]


def verdicts(significant: npt.ArrayLike, estimate: npt.ArrayLike, direction: Direction | npt.ArrayLike) -> np.ndarray:
    """win / lose / inconclusive from significance and the sign of the lift, given the good direction."""
    sig = np.asarray(significant, dtype=bool)
    est = np.asarray(estimate, dtype=float)
    higher = np.asarray(direction) == "higher"
    good = np.where(higher, est > 0, est < 0)
    bad = np.where(higher, est < 0, est > 0)
    return np.where(sig & good, "win", np.where(sig & bad, "lose", "inconclusive"))


def scalar_of(x: object) -> float:
    return float(np.asarray(x).item())


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ABTestResult:
    """One comparison of a treatment arm against control.

    `estimate`, `se`, `ci`, `statistic`, `df`, `p_value` and `verdict` are on the scale named by
    `difference_type`; the `abs_*` and `rel_*` fields give both scales. `df` is inf for a z-test.
    """

    method: str
    difference_type: DifferenceType
    direction: Direction
    alpha: float
    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    var_control: float
    var_treatment: float
    abs_lift: float
    abs_se: float
    abs_ci: tuple[float, float]
    abs_p_value: float
    rel_lift: float
    rel_se: float
    rel_ci: tuple[float, float]
    rel_p_value: float
    estimate: float
    se: float
    ci: tuple[float, float]
    statistic: float
    df: float
    p_value: float
    verdict: Verdict
    exact: bool = False  # small counts: Fisher's exact p-value, no normal CI (services.stats.small_counts)


@dataclass(frozen=True, eq=False)
class ABTestArrays:
    """The vectorised form of ABTestResult: one element per comparison (`row(i)` gives one)."""

    method: str
    difference_type: DifferenceType
    direction: Direction
    alpha: float
    n_control: np.ndarray
    n_treatment: np.ndarray
    mean_control: np.ndarray
    mean_treatment: np.ndarray
    var_control: np.ndarray
    var_treatment: np.ndarray
    abs_lift: np.ndarray
    abs_se: np.ndarray
    abs_ci_low: np.ndarray
    abs_ci_high: np.ndarray
    abs_p_value: np.ndarray
    rel_lift: np.ndarray
    rel_se: np.ndarray
    rel_ci_low: np.ndarray
    rel_ci_high: np.ndarray
    rel_p_value: np.ndarray
    statistic: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    verdict: np.ndarray
    exact: np.ndarray | None = None  # where Fisher's exact test replaced the normal reading

    def __len__(self) -> int:
        return int(self.abs_lift.size)

    @property
    def estimate(self) -> np.ndarray:
        return self.rel_lift if self.difference_type == "relative" else self.abs_lift

    @property
    def se(self) -> np.ndarray:
        return self.rel_se if self.difference_type == "relative" else self.abs_se

    @property
    def ci_low(self) -> np.ndarray:
        return self.rel_ci_low if self.difference_type == "relative" else self.abs_ci_low

    @property
    def ci_high(self) -> np.ndarray:
        return self.rel_ci_high if self.difference_type == "relative" else self.abs_ci_high

    def row(self, i: int) -> ABTestResult:
        f = scalar_of
        return ABTestResult(
            method=self.method,
            difference_type=self.difference_type,
            direction=self.direction,
            alpha=self.alpha,
            n_control=int(self.n_control.flat[i]),
            n_treatment=int(self.n_treatment.flat[i]),
            mean_control=f(self.mean_control.flat[i]),
            mean_treatment=f(self.mean_treatment.flat[i]),
            var_control=f(self.var_control.flat[i]),
            var_treatment=f(self.var_treatment.flat[i]),
            abs_lift=f(self.abs_lift.flat[i]),
            abs_se=f(self.abs_se.flat[i]),
            abs_ci=(f(self.abs_ci_low.flat[i]), f(self.abs_ci_high.flat[i])),
            abs_p_value=f(self.abs_p_value.flat[i]),
            rel_lift=f(self.rel_lift.flat[i]),
            rel_se=f(self.rel_se.flat[i]),
            rel_ci=(f(self.rel_ci_low.flat[i]), f(self.rel_ci_high.flat[i])),
            rel_p_value=f(self.rel_p_value.flat[i]),
            estimate=f(self.estimate.flat[i]),
            se=f(self.se.flat[i]),
            ci=(f(self.ci_low.flat[i]), f(self.ci_high.flat[i])),
            statistic=f(self.statistic.flat[i]),
            df=f(self.df.flat[i]),
            p_value=f(self.p_value.flat[i]),
            verdict=str(self.verdict.flat[i]),  # type: ignore[arg-type]
            exact=bool(self.exact.flat[i]) if self.exact is not None else False,
        )


def assemble(
    method: str,
    *,
    n_c: np.ndarray,
    mean_c: np.ndarray,
    var_c: np.ndarray,
    n_t: np.ndarray,
    mean_t: np.ndarray,
    var_t: np.ndarray,
    abs_lift: np.ndarray,
    abs_se: np.ndarray,
    abs_stat: np.ndarray,
    abs_p: np.ndarray,
    rel_lift: np.ndarray,
    rel_se: np.ndarray,
    df: np.ndarray,
    alpha: float,
    direction: Direction,
    difference_type: DifferenceType,
) -> ABTestArrays:
    z_test = np.isinf(df)
    t_df = np.where(z_test, 1.0, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Quantiles: Student t with Welch df, or the normal when df is infinite (z-test).
        q = np.where(z_test, stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, t_df))
        rel_stat = rel_lift / rel_se
        rel_p = np.where(z_test, 2 * stats.norm.sf(np.abs(rel_stat)), 2 * stats.t.sf(np.abs(rel_stat), t_df))
    # A zero standard error (no variance in either arm) gives no test: NaN, never a "significant" 0/0.
    abs_ok = abs_se > 0
    rel_ok = rel_se > 0
    abs_stat = np.where(abs_ok, abs_stat, np.nan)
    abs_p = np.where(abs_ok, abs_p, np.nan)
    rel_stat = np.where(rel_ok, rel_stat, np.nan)
    rel_p = np.where(rel_ok, rel_p, np.nan)
    abs_hw = np.where(abs_ok, q * abs_se, np.nan)
    rel_hw = np.where(rel_ok, q * rel_se, np.nan)
    relative = difference_type == "relative"
    p = rel_p if relative else abs_p
    est = rel_lift if relative else abs_lift
    significant = np.nan_to_num(p, nan=1.0) < alpha
    return ABTestArrays(
        method=method,
        difference_type=difference_type,
        direction=direction,
        alpha=alpha,
        n_control=n_c,
        n_treatment=n_t,
        mean_control=mean_c,
        mean_treatment=mean_t,
        var_control=var_c,
        var_treatment=var_t,
        abs_lift=abs_lift,
        abs_se=abs_se,
        abs_ci_low=abs_lift - abs_hw,
        abs_ci_high=abs_lift + abs_hw,
        abs_p_value=abs_p,
        rel_lift=rel_lift,
        rel_se=rel_se,
        rel_ci_low=rel_lift - rel_hw,
        rel_ci_high=rel_lift + rel_hw,
        rel_p_value=rel_p,
        statistic=rel_stat if relative else abs_stat,
        df=np.broadcast_to(df, abs_lift.shape).astype(float),
        p_value=p,
        verdict=verdicts(significant, est, direction),
    )
