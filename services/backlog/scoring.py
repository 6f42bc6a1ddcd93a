"""Prioritisation scores for backlog items: pure functions, no database.

RICE (Intercom's): reach x impact x confidence / effort. Reach is units per week (predictions,
feedback items, users); impact on Intercom's scale 0.25 (minimal), 0.5 (low), 1 (medium), 2 (high),
3 (massive); confidence 0..1 (100% / 80% / 50% are the usual steps); effort in person-weeks (> 0).

WSJF (SAFe's weighted shortest job first): cost of delay / job size, where cost of delay is
business value + time criticality + risk reduction / opportunity enablement, each usually on a
relative 1..20 scale (Fibonacci steps), and job size on the same relative scale (> 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.core.errors import InvalidInput

METHODS = ("rice", "wsjf")
IMPACT_SCALE: dict[float, str] = {0.25: "minimal", 0.5: "low", 1.0: "medium", 2.0: "high", 3.0: "massive"}
CONFIDENCE_STEPS: dict[float, str] = {1.0: "high (100%)", 0.8: "medium (80%)", 0.5: "low (50%)"}


@dataclass(frozen=True)
class Score:
    method: str
    value: float
    formula: str  # the numbers that made it, for a tooltip


def _finite(name: str, value: float | None, *, positive: bool = False, low: float = 0.0) -> float:
    if value is None:
        raise InvalidInput(f"{name} is missing.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(v):
        raise InvalidInput(f"{name} must be a finite number.")
    if positive and v <= 0:
        raise InvalidInput(f"{name} must be greater than 0.")
    if v < low:
        raise InvalidInput(f"{name} must be at least {low:g}.")
    return v


def rice(reach: float, impact: float, confidence: float, effort: float) -> Score:
    """RICE = reach x impact x confidence / effort."""
    r = _finite("Reach", reach)
    i = _finite("Impact", impact)
    c = _finite("Confidence", confidence)
    if c > 1:
        raise InvalidInput("Confidence is a share between 0 and 1 (0.8 for 80%).")
    e = _finite("Effort", effort, positive=True)
    value = r * i * c / e
    return Score("rice", value, f"{r:g} reach x {i:g} impact x {c:g} confidence / {e:g} effort = {value:.4g}")


def wsjf(business_value: float, time_criticality: float, risk_reduction: float, job_size: float) -> Score:
    """WSJF = (business value + time criticality + risk reduction) / job size."""
    bv = _finite("Business value", business_value)
    tc = _finite("Time criticality", time_criticality)
    rr = _finite("Risk reduction", risk_reduction)
    size = _finite("Job size", job_size, positive=True)
    cost_of_delay = bv + tc + rr
    value = cost_of_delay / size
    return Score("wsjf", value, f"({bv:g} + {tc:g} + {rr:g}) cost of delay / {size:g} job size = {value:.4g}")


def score_of(method: str, values: dict[str, float | None]) -> Score | None:
    """The item's score by its method, or None while a field it needs is still empty."""
    if method not in METHODS:
        raise InvalidInput(f"Scoring is one of {', '.join(METHODS)}, not {method!r}.")
    needed = (
        ("reach", "impact", "confidence", "effort")
        if method == "rice"
        else ("business_value", "time_criticality", "risk_reduction", "job_size")
    )
    if any(values.get(k) is None for k in needed):
        return None
    fn = rice if method == "rice" else wsjf
    return fn(*(values[k] for k in needed))  # type: ignore[arg-type]
