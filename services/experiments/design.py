"""The design screen's service: sample size per arm, expected duration, MDE for a given sample size and
the two curves (power vs effect, sample size vs MDE), over services.stats.power (statsmodels).

Pure (no database, no permission: anybody may do arithmetic). Statistics errors (ValueError) come
back as InvalidInput with a message meant for the user.

Traffic split: control first, then each treatment arm; the treatment arms share one weight (the
power functions size every treatment arm against control with one `ratio`). With more than one
treatment arm each comparison is sized at the Bonferroni-adjusted alpha / (k - 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from services.core.errors import InvalidInput
from services.stats import power as pw
from services.stats import power_curves

METRIC_TYPES = ("conversion", "mean")
MDE_TYPES = ("relative", "absolute")
CURVE_POINTS = 41


@dataclass(frozen=True)
class DesignInput:
    """What the design screen asks. `baseline` is the control's rate (conversion) or mean (mean);
    `sd` the per-unit standard deviation (means only); `allocation` the traffic split, control first
    (any positive weights; they are normalised)."""

    metric_type: str = "conversion"
    baseline: float = 0.1
    sd: float | None = None
    mde: float = 0.1
    mde_type: str = "relative"
    alpha: float = 0.05
    power: float = 0.8
    allocation: tuple[float, ...] = (0.5, 0.5)
    daily_traffic: float | None = None

    @property
    def n_variants(self) -> int:
        return len(self.allocation)

    @property
    def shares(self) -> tuple[float, ...]:
        total = float(sum(self.allocation))
        return tuple(float(a) / total for a in self.allocation)

    def as_dict(self) -> dict:
        """JSON-ready (stored with a registered experiment as its design record)."""
        d = asdict(self)
        d["allocation"] = list(self.shares)
        return d


@dataclass(frozen=True)
class DesignResult:
    input: DesignInput
    n_per_arm: tuple[int, ...]  # control first
    n_total: int
    alpha_adjusted: float
    bonferroni: bool  # True when alpha was split over several treatment arms
    effect_size: float  # Cohen's h (conversion) or d (mean)
    mde_absolute: float
    mde_relative: float
    target: float
    ratio: float
    method: str
    days: int | None = None  # None without daily traffic
    days_exact: float | None = None
    limiting_arm: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MdeForSample:
    n_control: int
    n_treatment: int
    mde_absolute: float
    mde_relative: float
    target: float
    alpha_adjusted: float
    power: float


@dataclass(frozen=True, eq=False)
class DesignCurves:
    """power vs effect at the design's sample size; sample size (control arm) vs MDE at its power."""

    mde_relative: np.ndarray
    mde_absolute: np.ndarray
    power: np.ndarray
    n_control: np.ndarray
    n_total: np.ndarray
    design_mde_relative: float
    design_mde_absolute: float
    design_n_control: int
    target_power: float


def _number(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} must be a number.") from None
    if not math.isfinite(out):
        raise InvalidInput(f"{what} must be a finite number.")
    return out


def check(inp: DesignInput) -> DesignInput:
    """Validate and normalise the inputs (InvalidInput with a clear message otherwise)."""
    if inp.metric_type not in METRIC_TYPES:
        raise InvalidInput(f"The metric type must be one of: {', '.join(METRIC_TYPES)}.")
    if inp.mde_type not in MDE_TYPES:
        raise InvalidInput(f"The MDE is {' or '.join(MDE_TYPES)}.")
    baseline = _number(inp.baseline, "The baseline")
    mde = _number(inp.mde, "The minimum detectable effect")
    alpha = _number(inp.alpha, "alpha")
    power = _number(inp.power, "power")
    if not 0 < alpha < 0.5:
        raise InvalidInput("alpha must be between 0 and 0.5.")
    if not 0 < power < 1:
        raise InvalidInput("power must be between 0 and 1.")
    if mde == 0:
        raise InvalidInput("The minimum detectable effect must not be zero.")
    sd = None
    if inp.metric_type == "conversion":
        if not 0 < baseline < 1:
            raise InvalidInput("The baseline rate must be between 0 and 1 (e.g. 0.1 for 10%).")
        target = baseline * (1 + mde) if inp.mde_type == "relative" else baseline + mde
        if not 0 < target < 1:
            raise InvalidInput(f"The target rate {target:.4g} must be between 0 and 1: make the MDE smaller.")
    else:
        sd = _number(inp.sd, "The standard deviation")
        if sd <= 0:
            raise InvalidInput("The standard deviation must be above 0.")
        if inp.mde_type == "relative" and baseline == 0:
            raise InvalidInput("A relative MDE needs a baseline mean other than 0; use an absolute MDE.")
    allocation = tuple(_number(a, "Each traffic share") for a in inp.allocation)
    if len(allocation) < 2:
        raise InvalidInput("An experiment needs at least two variants (control and one treatment).")
    if len(allocation) > 20:
        raise InvalidInput("At most 20 variants.")
    if min(allocation) <= 0:
        raise InvalidInput("Every variant needs a traffic share above 0.")
    treatments = {round(a / allocation[1], 9) for a in allocation[1:]}
    if len(treatments) != 1:
        raise InvalidInput(
            "The treatment arms must share one traffic weight (e.g. 50/25/25): each is sized against control."
        )
    daily = None
    if inp.daily_traffic not in (None, 0, 0.0):
        daily = _number(inp.daily_traffic, "The daily traffic")
        if daily <= 0:
            raise InvalidInput("The daily traffic must be above 0.")
    return DesignInput(inp.metric_type, baseline, sd, mde, inp.mde_type, alpha, power, allocation, daily)


def _ratio(inp: DesignInput) -> float:
    return pw.ratio_from_allocation(inp.allocation)


def design(inp: DesignInput) -> DesignResult:
    """Sample size per arm (and the expected duration when the daily traffic is given)."""
    inp = check(inp)
    ratio = _ratio(inp)
    kw = dict(mde_type=inp.mde_type, alpha=inp.alpha, power=inp.power, n_variants=inp.n_variants, ratio=ratio)
    try:
        if inp.metric_type == "conversion":
            res = pw.sample_size_conversion(inp.baseline, inp.mde, **kw)
        else:
            res = pw.sample_size_mean(inp.baseline, inp.sd, inp.mde, **kw)
    except ValueError as exc:
        raise InvalidInput(f"No sample size for these inputs: {exc}.") from None
    notes = []
    if inp.n_variants > 2:
        notes.append(
            f"{inp.n_variants - 1} treatment arms: each is compared with control at alpha "
            f"{inp.alpha:g} / {inp.n_variants - 1} = {res.alpha_adjusted:.4g} (Bonferroni)."
        )
    days = days_exact = limiting = None
    if inp.daily_traffic:
        dur = pw.expected_duration(res.n_per_arm, inp.daily_traffic, inp.shares)
        days, days_exact, limiting = dur.days, dur.days_exact, dur.limiting_arm
    return DesignResult(
        input=inp,
        n_per_arm=tuple(int(n) for n in res.n_per_arm),
        n_total=int(res.n_total),
        alpha_adjusted=float(res.alpha_adjusted),
        bonferroni=inp.n_variants > 2,
        effect_size=float(res.effect_size),
        mde_absolute=float(res.mde_absolute),
        mde_relative=float(res.mde_relative),
        target=float(res.target),
        ratio=float(ratio),
        method=res.method,
        days=days,
        days_exact=days_exact,
        limiting_arm=limiting,
        notes=tuple(notes),
    )


def mde_for_sample(inp: DesignInput, n_control: int) -> MdeForSample:
    """The smallest effect detectable with `n_control` units in control (treatment arms: ratio x that)."""
    inp = check(inp)
    try:
        n_control = int(n_control)
    except (TypeError, ValueError):
        raise InvalidInput("The sample size must be a whole number.") from None
    if n_control < 2:
        raise InvalidInput("The sample size per arm must be at least 2.")
    kw = dict(alpha=inp.alpha, power=inp.power, n_variants=inp.n_variants, ratio=_ratio(inp), increase=inp.mde > 0)
    try:
        if inp.metric_type == "conversion":
            res = pw.mde_conversion(inp.baseline, n_control, **kw)
        else:
            res = pw.mde_mean(inp.baseline, inp.sd, n_control, **kw)
    except ValueError as exc:
        raise InvalidInput(f"No MDE for these inputs: {exc}.") from None
    return MdeForSample(
        n_control=res.n_control,
        n_treatment=res.n_treatment,
        mde_absolute=float(res.mde_absolute),
        mde_relative=float(res.mde_relative),
        target=float(res.target),
        alpha_adjusted=float(res.alpha_adjusted),
        power=float(res.power),
    )


def curves(inp: DesignInput, result: DesignResult | None = None, points: int = CURVE_POINTS) -> DesignCurves:
    """Power vs effect at the designed sample size, and control-arm size vs MDE at the design's power,
    on a grid of relative MDEs from a quarter to three times the design's MDE."""
    inp = check(inp)
    result = result or design(inp)
    rel = abs(result.mde_relative) if math.isfinite(result.mde_relative) else None
    sign = 1.0 if result.mde_absolute > 0 else -1.0
    if inp.metric_type == "conversion":
        # Keep the target rate inside (0, 1) along the whole grid.
        room = (1 - inp.baseline) / inp.baseline if sign > 0 else 1.0
        high = min(3 * rel, 0.98 * room)
        grid_rel = sign * np.linspace(rel / 4, high, points)
        mdes, mde_type = grid_rel, "relative"
    elif rel is not None and inp.baseline != 0:
        grid_rel = sign * np.linspace(rel / 4, 3 * rel, points)
        mdes, mde_type = grid_rel, "relative"
    else:
        a = abs(result.mde_absolute)
        mdes, mde_type = sign * np.linspace(a / 4, 3 * a, points), "absolute"
    common = dict(mde_type=mde_type, alpha=inp.alpha, n_variants=inp.n_variants, ratio=result.ratio)
    if inp.metric_type == "conversion":
        pc = power_curves.power_curve_conversion(inp.baseline, result.n_per_arm[0], mdes, **common)
        sc = power_curves.sample_size_curve_conversion(inp.baseline, mdes, power=inp.power, **common)
    else:
        pc = power_curves.power_curve_mean(inp.baseline, inp.sd, result.n_per_arm[0], mdes, **common)
        sc = power_curves.sample_size_curve_mean(inp.baseline, inp.sd, mdes, power=inp.power, **common)
    return DesignCurves(
        mde_relative=np.asarray(pc.mde_relative, dtype=float),
        mde_absolute=np.asarray(pc.mde_absolute, dtype=float),
        power=np.asarray(pc.power, dtype=float),
        n_control=np.asarray(sc.n_control, dtype=float),
        n_total=np.asarray(sc.n_total, dtype=float),
        design_mde_relative=result.mde_relative,
        design_mde_absolute=result.mde_absolute,
        design_n_control=result.n_per_arm[0],
        target_power=inp.power,
    )


def allocation_from_text(text: str, n_variants: int) -> tuple[float, ...]:
    """'50/25/25' or '50, 50' -> weights; empty text -> an even split over `n_variants`."""
    text = (text or "").strip()
    if not text:
        return tuple([1.0 / n_variants] * n_variants)
    parts = [p for p in text.replace(",", "/").replace(" ", "/").split("/") if p]
    try:
        weights = tuple(float(p.rstrip("%")) for p in parts)
    except ValueError:
        raise InvalidInput(f"The traffic split {text!r} is not a list of numbers like 50/50 or 50/25/25.") from None
    if len(weights) != n_variants:
        raise InvalidInput(f"The traffic split lists {len(weights)} share(s) for {n_variants} variants.")
    return weights


def even_split(n_variants: int) -> tuple[float, ...]:
    return tuple([1.0 / n_variants] * n_variants)


def shares_text(allocation: Sequence[float]) -> str:
    total = float(sum(allocation))
    return "/".join(f"{100 * a / total:g}" for a in allocation)
