"""Evidence links of backlog items (a typed reference to what justifies an item) and the reach they
imply: predictions per week of the model or cohort an item concerns, or feedback items per week of
its theme, over the last REACH_DAYS days of data (pre-fills the RICE reach)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from services.core.db import read_session
from services.core.errors import InvalidInput
from services.core.schema_experiments import Exposure
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Prediction
from services.core.schema_monitoring import Alert
from services.core.timeutil import to_utc

EVIDENCE_TYPES = ("alert", "theme", "experiment", "cohort_gap", "judge_gate", "drift", "feedback")
REACH_DAYS = 28  # reach per week is averaged over the last 4 weeks of data


# --- evidence and reach ------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceRef:
    """A typed reference to what justifies an item: ref_type in EVIDENCE_TYPES, ref_id its id there.
    cohort_gap: ref_id "model:field=value", detail {"field", "value"}; drift: "model:feature";
    judge_gate: "model:v<candidate>-vs-v<champion>:<scope>:<metric>", detail with the rule, both values,
    the holdout and the cohort of a cohort gate (services/judge.JudgePanel.gate_evidence)."""

    ref_type: str
    ref_id: str
    label: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reach:
    per_week: float
    basis: str


def check_ref(ref: EvidenceRef) -> None:
    if ref.ref_type not in EVIDENCE_TYPES:
        raise InvalidInput(f"Unknown evidence type {ref.ref_type!r}; choose one of {', '.join(EVIDENCE_TYPES)}.")
    if not str(ref.ref_id).strip():
        raise InvalidInput("An evidence link needs the id of what it points at.")


def _per_week(count: int, days: float) -> float:
    return round(count * 7.0 / days, 1) if days > 0 else float(count)


def _last_ts(session: Session, column) -> datetime | None:
    value = session.exec(select(func.max(column))).one()
    return to_utc(value) if value is not None else None


def _cohort_condition(cohort: Mapping[str, Any]):
    conditions = []
    for key, value in cohort.items():
        values = [value] if isinstance(value, str) else [str(v) for v in value]
        conditions.append(Prediction.cohorts[key].as_string().in_(values))
    return sa.and_(*conditions) if conditions else sa.true()


def _predictions_per_week(
    session: Session, cohort: Mapping[str, Any] | None, model_version_ids=None
) -> tuple[float, str]:
    last = _last_ts(session, Prediction.ts)
    if last is None:
        return 0.0, "no predictions yet"
    since = last - timedelta(days=REACH_DAYS)
    query = select(func.count()).select_from(Prediction).where(Prediction.ts > since)
    if cohort:
        query = query.where(_cohort_condition(cohort))
    if model_version_ids:
        query = query.where(Prediction.model_version_id.in_(list(model_version_ids)))
    n = int(session.exec(query).one())
    where = ", ".join(
        f"{k} = {v if isinstance(v, str) else ' or '.join(map(str, v))}" for k, v in (cohort or {}).items()
    )
    return _per_week(n, REACH_DAYS), f"predictions per week{' for ' + where if where else ''} (last {REACH_DAYS} days)"


def reach_in_session(session: Session, ref: EvidenceRef) -> Reach | None:
    """Units affected per week by what the evidence points at, or None when it cannot say."""
    detail = ref.detail or {}
    if ref.ref_type == "theme":
        last = _last_ts(session, Feedback.ts)
        if last is None:
            return None
        try:
            theme_id = int(ref.ref_id)
        except ValueError:
            return None
        n = session.exec(
            select(func.count()).select_from(Feedback)
            .where(Feedback.theme_id == theme_id, Feedback.ts > last - timedelta(days=REACH_DAYS))
        ).one()  # fmt: skip
        return Reach(_per_week(int(n), REACH_DAYS), f"feedback items per week on this theme (last {REACH_DAYS} days)")
    if ref.ref_type == "feedback":
        n = int(detail.get("items") or len(str(ref.ref_id).split(",")))
        return Reach(float(n), "feedback items linked")
    if ref.ref_type == "experiment":
        try:
            experiment_id = int(ref.ref_id)
        except ValueError:
            return None
        n, first, last = session.exec(
            select(func.count(), func.min(Exposure.ts), func.max(Exposure.ts)).where(
                Exposure.experiment_id == experiment_id
            )
        ).one()
        if not n:
            return None
        days = max(1.0, (to_utc(last) - to_utc(first)).total_seconds() / 86400)
        return Reach(_per_week(int(n), days), "experiment exposures per week while it ran")
    if ref.ref_type == "cohort_gap" and detail.get("field"):
        value, basis = _predictions_per_week(session, {detail["field"]: detail.get("value", "")})
        return Reach(value, basis)
    if ref.ref_type == "alert":
        try:
            alert = session.get(Alert, int(ref.ref_id))
        except ValueError:
            alert = None
        cohort = (alert.evidence or {}).get("cohort") if alert is not None else detail.get("cohort")
        value, basis = _predictions_per_week(session, cohort)
        return Reach(value, basis)
    if ref.ref_type in ("drift", "judge_gate"):
        value, basis = _predictions_per_week(session, detail.get("cohort"))
        return Reach(value, basis)
    return None


def reach_from_evidence(engine: Engine, refs: Sequence[EvidenceRef]) -> Reach | None:
    """The first evidence link that can say how many units per week the item reaches."""
    with read_session(engine) as session:
        for ref in refs:
            reach = reach_in_session(session, ref)
            if reach is not None:
                return reach
    return None
