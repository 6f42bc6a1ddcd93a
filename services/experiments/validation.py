"""Validation of an experiment's design: variants and allocation, metrics and guardrails, MDE, alpha,
power, planned sample, stopping rule, start, and the design screen's record. One rule per field
(CLEANERS); services/experiments/lifecycle.py applies them on register, edit and amend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from services.core import audit
from services.core.errors import InvalidInput, NotFound
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc

METRIC_TYPES = ("conversion", "mean")
STOPPING_RULES = ("fixed", "sequential")
BAD_DIRECTIONS = ("increase", "decrease")
METRIC_PATTERN = re.compile(r"^\S.{0,199}$")
# The fields of the design (what pre-registration freezes); update_draft and amend_experiment take these.
DESIGN_FIELDS = (
    "name", "hypothesis", "variants", "primary_metric", "secondary_metrics", "guardrail_metrics", "metric_type",
    "mde", "mde_relative", "alpha", "power", "planned_sample_size", "stopping_rule", "start_at", "design",
)  # fmt: skip


# --- validation ------------------------------------------------------------------------------------


def _metric(name: Any, what: str) -> str:
    name = str(name or "").strip()
    if not METRIC_PATTERN.match(name):
        raise InvalidInput(f"{what} must be a metric name of 1 to 200 characters.")
    return name


def _variants(variants: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(variants, (list, tuple)) or len(variants) < 2:
        raise InvalidInput("An experiment needs at least two variants.")
    out, keys = [], set()
    for v in variants:
        if not isinstance(v, dict):
            raise InvalidInput("Each variant must be a dict with key, allocation and optionally model_version_id.")
        key = str(v.get("key") or "").strip()
        if not key or len(key) > 100:
            raise InvalidInput("Each variant needs a key of 1 to 100 characters.")
        if key in keys:
            raise InvalidInput(f"Variant key {key!r} appears twice.")
        keys.add(key)
        try:
            allocation = float(v.get("allocation"))
        except (TypeError, ValueError):
            raise InvalidInput(f"Variant {key!r} needs a numeric allocation.") from None
        if not math.isfinite(allocation) or not 0.0 < allocation <= 1.0:
            raise InvalidInput(f"Variant {key!r}: the allocation must be above 0 and at most 1.")
        model_version_id = v.get("model_version_id")
        if model_version_id is not None and (
            isinstance(model_version_id, bool) or not isinstance(model_version_id, int)
        ):
            raise InvalidInput(f"Variant {key!r}: model_version_id must be an integer id or empty.")
        out.append({"key": key, "model_version_id": model_version_id, "allocation": allocation})
    total = sum(v["allocation"] for v in out)
    if abs(total - 1.0) > 1e-6:
        raise InvalidInput(f"The allocations must add up to 1 (they add up to {total:g}).")
    return out


def _guardrails(guardrails: Sequence[Any]) -> list[dict[str, str]]:
    out = []
    for g in guardrails or ():
        if isinstance(g, str):
            g = {"metric": g, "bad_direction": "increase"}
        if not isinstance(g, dict):
            raise InvalidInput("A guardrail is a metric name or {metric, bad_direction}.")
        direction = str(g.get("bad_direction") or "increase")
        if direction not in BAD_DIRECTIONS:
            raise InvalidInput(f"bad_direction must be one of: {', '.join(BAD_DIRECTIONS)}.")
        out.append({"metric": _metric(g.get("metric"), "A guardrail"), "bad_direction": direction})
    return out


def _probability(value: float, what: str, high: float = 1.0) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} must be a number.") from None
    if not 0.0 < value < high:
        raise InvalidInput(f"{what} must be between 0 and {high:g}.")
    return value


def _mde(mde: Any) -> float | None:
    if mde is None:
        return None
    try:
        mde = float(mde)
    except (TypeError, ValueError):
        raise InvalidInput("The minimum detectable effect must be a number.") from None
    if not math.isfinite(mde) or mde <= 0:
        raise InvalidInput("The minimum detectable effect must be above 0.")
    return mde


def _planned(n: Any) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, (int, float)) or int(n) != n or n <= 0:
        raise InvalidInput("The planned sample size (per arm) must be a positive whole number.")
    return int(n)


def _design_record(design: Any) -> dict | None:
    if design is None:
        return None
    if not isinstance(design, Mapping):
        raise InvalidInput("The design record must be a mapping of the design screen's inputs.")
    text = audit.canonical_json(dict(design))
    if len(text) > 20_000:
        raise InvalidInput("The design record is too large.")
    return dict(design)


def _text(limit: int | None) -> Any:
    return lambda value: str(value or "").strip()[:limit] if limit else str(value or "").strip()


def _choice(options: tuple[str, ...], what: str) -> Any:
    def check(value: Any) -> str:
        if value not in options:
            raise InvalidInput(f"{what} must be one of: {', '.join(options)}.")
        return value

    return check


def _start_at(value: Any) -> datetime | None:
    if value is not None and not isinstance(value, datetime):
        raise InvalidInput("The start date must be a date and time.")
    return to_utc(value) if value else None


# One rule per design field (the same rules as register_experiment).
CLEANERS: dict[str, Any] = {
    "name": _text(300),
    "hypothesis": _text(None),
    "variants": _variants,
    "primary_metric": lambda v: _metric(v, "The primary metric"),
    "secondary_metrics": lambda v: [_metric(m, "A secondary metric") for m in v or ()],
    "guardrail_metrics": _guardrails,
    "metric_type": _choice(METRIC_TYPES, "metric_type"),
    "mde": _mde,
    "mde_relative": bool,
    "alpha": lambda v: _probability(v, "alpha", 0.5),
    "power": lambda v: _probability(v, "power"),
    "planned_sample_size": _planned,
    "stopping_rule": _choice(STOPPING_RULES, "stopping_rule"),
    "start_at": _start_at,
    "design": _design_record,
}


def clean(name: str, value: Any) -> Any:
    """One design field, validated and normalised."""
    cleaner = CLEANERS.get(name)
    if cleaner is None:
        raise InvalidInput(
            f"{name!r} is not a field of an experiment's design; it can be one of: {', '.join(DESIGN_FIELDS)}."
        )
    return cleaner(value)


def check_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInput("Nothing to change.")
    unknown = sorted(set(changes) - set(DESIGN_FIELDS))
    if unknown:
        raise InvalidInput(f"{unknown[0]!r} cannot be changed; the design fields are: {', '.join(DESIGN_FIELDS)}.")
    return {name: clean(name, value) for name, value in changes.items()}


def check_model_versions(session: Session, variants: list[dict[str, Any]]) -> None:
    ids = [v["model_version_id"] for v in variants if v["model_version_id"] is not None]
    if ids:
        found = set(session.exec(select(ModelVersion.id).where(ModelVersion.id.in_(ids))).all())
        missing = sorted(set(ids) - found)
        if missing:
            raise NotFound(f"No model version with id {missing[0]}.")
