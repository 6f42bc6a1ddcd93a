"""Backlog of improvements (model improvement, data quality, tech debt), with typed evidence links.

Other areas add items from their evidence (a theme, an alert, an experiment result, a failed judge
gate) through `add_in_session` inside their own transaction; people add and edit items by hand; the
system proposes items from open signals (services/proposals). Every change is one transaction with
its audit event. Viewers read; analysts and up create, edit, move and close items.

Status: proposed -> planned -> in_progress -> done | dropped (TRANSITIONS has every allowed move;
done and dropped can be reopened). Done goes through `close`, which records the outcome: the
metric and its value before and after. Score: RICE by default, WSJF per item (services/scoring);
reach is pre-filled from the evidence (`reach_from_evidence`) when the creator leaves it empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.backlog import scoring
from services.backlog.evidence import EVIDENCE_TYPES, EvidenceRef, check_ref, reach_in_session
from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_accounts import AuditEvent
from services.core.schema_backlog import BacklogEvidence, BacklogItem
from services.core.timeutil import utcnow

KINDS = ("model_improvement", "data_quality", "tech_debt")
KIND_LABELS = {"model_improvement": "Model improvement", "data_quality": "Data quality", "tech_debt": "Tech debt"}
STATUSES = ("proposed", "planned", "in_progress", "done", "dropped")
OPEN_STATUSES = ("proposed", "planned", "in_progress")
CLOSED_STATUSES = ("done", "dropped")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "proposed": ("planned", "in_progress", "dropped"),
    "planned": ("proposed", "in_progress", "dropped"),
    "in_progress": ("planned", "done", "dropped"),
    "done": ("in_progress",),  # reopen: the outcome did not hold
    "dropped": ("proposed",),  # reopen
}
EDITABLE = (
    "title", "description", "kind", "owner", "scoring", "reach", "reach_basis", "impact", "confidence", "effort",
    "business_value", "time_criticality", "risk_reduction", "job_size",
)  # fmt: skip
SCORE_FIELDS = (
    "reach", "impact", "confidence", "effort", "business_value", "time_criticality", "risk_reduction", "job_size",
)  # fmt: skip


def _add_evidence(session: Session, actor: Actor, item: BacklogItem, ref: EvidenceRef) -> BacklogEvidence | None:
    check_ref(ref)
    exists = session.exec(
        select(BacklogEvidence).where(
            BacklogEvidence.item_id == item.id, BacklogEvidence.ref_type == ref.ref_type,
            BacklogEvidence.ref_id == str(ref.ref_id),
        )
    ).first()  # fmt: skip
    if exists is not None:
        return None
    row = BacklogEvidence(
        item_id=item.id, ref_type=ref.ref_type, ref_id=str(ref.ref_id)[:300], label=(ref.label or "")[:500],
        detail=dict(ref.detail) or None, added_by=actor.label,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


# --- writing -----------------------------------------------------------------------------------


def _score(values: Mapping[str, Any], method: str) -> float | None:
    result = scoring.score_of(method, {k: values.get(k) for k in SCORE_FIELDS})
    return None if result is None else round(result.value, 6)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"Unknown backlog kind {kind!r}; choose one of {', '.join(KINDS)}.")


def add_in_session(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    title: str,
    description: str = "",
    source_type: str | None = None,
    source_id: str | None = None,
    evidence: dict[str, Any] | None = None,
    reach: float | None = None,
    links: Iterable[EvidenceRef] = (),
    owner: str | None = None,
    status: str = "proposed",
    scoring_method: str = "rice",
    impact: float | None = None,
    confidence: float | None = None,
    effort: float | None = None,
    business_value: float | None = None,
    time_criticality: float | None = None,
    risk_reduction: float | None = None,
    job_size: float | None = None,
    reach_basis: str | None = None,
    proposal_key: str | None = None,
) -> BacklogItem:
    """Create an item inside the caller's transaction (so evidence and item commit together).
    The source (alert, theme, experiment, ...) becomes a typed evidence link too; reach left empty is
    pre-filled from the first link that can estimate it."""
    require(actor, Role.analyst, "create backlog items")
    _check_kind(kind)
    if status not in OPEN_STATUSES:
        raise InvalidInput(f"A new item starts as {', '.join(OPEN_STATUSES)}.")
    title = (title or "").strip()
    if not title:
        raise InvalidInput("A backlog item needs a title.")
    refs = list(links)
    if (
        source_type in EVIDENCE_TYPES
        and source_id
        and not any(r.ref_type == source_type and r.ref_id == str(source_id) for r in refs)
    ):
        refs.insert(0, EvidenceRef(source_type, str(source_id), title[:200], {}))
    for ref in refs:
        check_ref(ref)
    if reach is None:
        for ref in refs:
            estimate = reach_in_session(session, ref)
            if estimate is not None:
                reach, reach_basis = estimate.per_week, estimate.basis
                break
    values = {"reach": reach, "impact": impact, "confidence": confidence, "effort": effort,
              "business_value": business_value, "time_criticality": time_criticality,
              "risk_reduction": risk_reduction, "job_size": job_size}  # fmt: skip
    score = _score(values, scoring_method)
    item = BacklogItem(
        kind=kind, title=title[:300], description=description or "", source_type=source_type, source_id=source_id,
        evidence=evidence, owner=(owner or None), status=status, scoring=scoring_method, reach_basis=reach_basis,
        score=score, proposal_key=proposal_key, created_by=actor.label, **values,
    )  # fmt: skip
    session.add(item)
    session.flush()
    for ref in refs:
        _add_evidence(session, actor, item, ref)
    audit.record(
        session, actor, "backlog.create", "backlog_item", item.id,
        {"kind": kind, "title": item.title, "status": status, "owner": item.owner,
         "source": f"{source_type}:{source_id}" if source_type else None,
         "evidence": [f"{r.ref_type}:{r.ref_id}" for r in refs], "reach": reach, "score": score},
    )  # fmt: skip
    return item


def create_item(engine: Engine, actor: Actor, **values: Any) -> BacklogItem:
    with write_session(engine) as session:
        return add_in_session(session, actor, **values)


def _locked(session: Session, item_id: int, expected_version: int | None) -> BacklogItem:
    item = session.exec(select(BacklogItem).where(BacklogItem.id == item_id).with_for_update()).first()
    if item is None:
        raise NotFound(f"No backlog item {item_id}.")
    if expected_version is not None and item.version != expected_version:
        raise Conflict(
            f"Backlog item {item_id} was changed by {item.updated_by or item.created_by} meanwhile; reload and retry."
        )
    return item


def _touch(item: BacklogItem, actor: Actor) -> None:
    item.version += 1
    item.updated_by, item.updated_at = actor.label, utcnow()


def _clean(name: str, value: Any) -> Any:
    if name in SCORE_FIELDS:
        if value is None or value == "":
            return None
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{name.replace('_', ' ').capitalize()} must be a number.") from None
        if v < 0:
            raise InvalidInput(f"{name.replace('_', ' ').capitalize()} cannot be negative.")
        return v
    if name == "title":
        value = (value or "").strip()
        if not value:
            raise InvalidInput("A backlog item needs a title.")
        return value[:300]
    if name == "kind":
        _check_kind(value)
    if name == "scoring" and value not in scoring.METHODS:
        raise InvalidInput(f"Scoring is one of {', '.join(scoring.METHODS)}.")
    if name == "owner":
        return (value or "").strip()[:320] or None
    if name == "reach_basis":
        return (value or "").strip()[:300] or None
    if name == "description":
        return value or ""
    return value


def update_item(
    engine: Engine, actor: Actor, item_id: int, changes: Mapping[str, Any], expected_version: int | None = None,
) -> BacklogItem:  # fmt: skip
    """Edit fields of an item (EDITABLE); the score is recomputed. Audited with every old and new value."""
    require(actor, Role.analyst, "edit backlog items")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    with write_session(engine) as session:
        item = _locked(session, item_id, expected_version)
        diff: dict[str, list[Any]] = {}
        for name, value in changes.items():
            new = _clean(name, value)
            old = getattr(item, name)
            if new != old:
                diff[name] = [old, new]
                setattr(item, name, new)
        if "reach" in diff and "reach_basis" not in changes:
            item.reach_basis = "set by hand"
        item.score = _score(item.model_dump(), item.scoring)
        if not diff:
            return item
        _touch(item, actor)
        session.add(item)
        audit.record(session, actor, "backlog.update", "backlog_item", item.id, {"changes": diff, "score": item.score})
        return item


def transition(
    engine: Engine, actor: Actor, item_id: int, to_status: str, comment: str = "",
    expected_version: int | None = None,
) -> BacklogItem:  # fmt: skip
    """Move an item along TRANSITIONS. Done needs an outcome: use close(). Dropping needs a reason."""
    require(actor, Role.analyst, "change the status of backlog items")
    if to_status not in STATUSES:
        raise InvalidInput(f"Unknown status {to_status!r}; choose one of {', '.join(STATUSES)}.")
    if to_status == "done":
        raise InvalidInput("Closing an item as done records its outcome: use Close with the metric before and after.")
    comment = (comment or "").strip()[:2000]
    if to_status == "dropped" and not comment:
        raise InvalidInput("Say why the item is dropped.")
    with write_session(engine) as session:
        item = _locked(session, item_id, expected_version)
        previous = item.status
        if to_status not in TRANSITIONS[previous]:
            allowed = ", ".join(TRANSITIONS[previous])
            raise InvalidInput(f"An item that is {previous} can move to {allowed}, not {to_status}.")
        item.status = to_status
        if to_status == "dropped":
            item.closed_by, item.closed_at = actor.label, utcnow()
            item.outcome = {"note": comment}
        elif previous in CLOSED_STATUSES:  # reopened
            item.closed_by = item.closed_at = None
        _touch(item, actor)
        session.add(item)
        audit.record(session, actor, "backlog.status", "backlog_item", item.id,
                     {"from": previous, "to": to_status, "comment": comment or None})  # fmt: skip
        return item


def close(
    engine: Engine, actor: Actor, item_id: int, *, metric: str, before: float, after: float, note: str = "",
    expected_version: int | None = None,
) -> BacklogItem:  # fmt: skip
    """Mark an in-progress item done with its outcome: which metric, its value before and after."""
    require(actor, Role.analyst, "close backlog items")
    metric = (metric or "").strip()
    if not metric:
        raise InvalidInput("Name the metric the outcome is measured on (e.g. accuracy on mobile).")
    b = scoring._finite("The value before", before)
    a = scoring._finite("The value after", after)
    with write_session(engine) as session:
        item = _locked(session, item_id, expected_version)
        if "done" not in TRANSITIONS[item.status]:
            raise InvalidInput(f"Only an item in progress can be closed as done; this one is {item.status}.")
        previous = item.status
        item.status = "done"
        item.outcome_metric, item.outcome_before, item.outcome_after = metric[:200], b, a
        item.outcome = {"note": (note or "").strip()[:2000] or None, "change": a - b}
        item.closed_by, item.closed_at = actor.label, utcnow()
        _touch(item, actor)
        session.add(item)
        audit.record(session, actor, "backlog.close", "backlog_item", item.id,
                     {"from": previous, "metric": item.outcome_metric, "before": b, "after": a,
                      "note": item.outcome["note"]})  # fmt: skip
        return item


def add_evidence(engine: Engine, actor: Actor, item_id: int, ref: EvidenceRef) -> BacklogEvidence:
    require(actor, Role.analyst, "edit backlog items")
    with write_session(engine) as session:
        item = _locked(session, item_id, None)
        row = _add_evidence(session, actor, item, ref)
        if row is None:
            raise Conflict(f"Item {item_id} links {ref.ref_type} {ref.ref_id} already.")
        _touch(item, actor)
        session.add(item)
        audit.record(session, actor, "backlog.evidence.add", "backlog_item", item.id,
                     {"ref": f"{ref.ref_type}:{ref.ref_id}", "label": ref.label})  # fmt: skip
        return row


def remove_evidence(engine: Engine, actor: Actor, item_id: int, evidence_id: int) -> None:
    require(actor, Role.analyst, "edit backlog items")
    with write_session(engine) as session:
        item = _locked(session, item_id, None)
        row = session.get(BacklogEvidence, evidence_id)
        if row is None or row.item_id != item_id:
            raise NotFound(f"Item {item_id} has no evidence link {evidence_id}.")
        session.delete(row)
        _touch(item, actor)
        session.add(item)
        audit.record(session, actor, "backlog.evidence.remove", "backlog_item", item.id,
                     {"ref": f"{row.ref_type}:{row.ref_id}"})  # fmt: skip


# --- reading -------------------------------------------------------------------------------------


def list_items(
    engine: Engine, source_type: str | None = None, *, kinds: Sequence[str] = (), statuses: Sequence[str] = (),
    owner: str | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Items newest first (optionally of one source type, kinds, statuses, owner)."""
    with read_session(engine) as session:
        query = select(BacklogItem).order_by(BacklogItem.id.desc())
        if source_type:
            query = query.where(BacklogItem.source_type == source_type)
        if kinds:
            query = query.where(BacklogItem.kind.in_(list(kinds)))
        if statuses:
            query = query.where(BacklogItem.status.in_(list(statuses)))
        if owner:
            query = query.where(BacklogItem.owner == owner)
        rows = session.exec(query).all()
    return pd.DataFrame([r.model_dump() for r in rows])


def ranked(
    engine: Engine, *, kinds: Sequence[str] = (), statuses: Sequence[str] = OPEN_STATUSES, owner: str | None = None,
    limit: int | None = None,
) -> list[BacklogItem]:  # fmt: skip
    """Items by score, highest first (unscored last, then newest first): the backlog's order."""
    with read_session(engine) as session:
        query = select(BacklogItem)
        if kinds:
            query = query.where(BacklogItem.kind.in_(list(kinds)))
        if statuses:
            query = query.where(BacklogItem.status.in_(list(statuses)))
        if owner:
            query = query.where(BacklogItem.owner == owner)
        query = query.order_by(BacklogItem.score.is_(None), BacklogItem.score.desc(), BacklogItem.id.desc())
        if limit:
            query = query.limit(limit)
        return list(session.exec(query).all())


def owners(engine: Engine) -> list[str]:
    with read_session(engine) as session:
        rows = session.exec(select(BacklogItem.owner).where(BacklogItem.owner.is_not(None)).distinct()).all()
    return sorted(r for r in rows if r)


@dataclass(frozen=True)
class ItemDetail:
    item: BacklogItem
    evidence: list[BacklogEvidence]
    history: list[AuditEvent]

    @property
    def score_formula(self) -> str:
        result = scoring.score_of(self.item.scoring, {k: getattr(self.item, k) for k in SCORE_FIELDS})
        return result.formula if result else "Fill in every scoring field to get a score."


def get_item(engine: Engine, item_id: int) -> ItemDetail:
    with read_session(engine) as session:
        item = session.get(BacklogItem, item_id)
        if item is None:
            raise NotFound(f"No backlog item {item_id}.")
        evidence = list(session.exec(
            select(BacklogEvidence).where(BacklogEvidence.item_id == item_id).order_by(BacklogEvidence.id)
        ).all())  # fmt: skip
        history = list(session.exec(
            select(AuditEvent).where(AuditEvent.subject_type == "backlog_item", AuditEvent.subject_id == str(item_id))
            .order_by(AuditEvent.id.desc()).limit(100)
        ).all())  # fmt: skip
    return ItemDetail(item, evidence, history)


def linked_refs(engine: Engine, include_dropped: bool = False) -> set[tuple[str, str]]:
    """(ref_type, ref_id) of every evidence link of items (dropped items' links only on request)."""
    with read_session(engine) as session:
        query = select(BacklogEvidence.ref_type, BacklogEvidence.ref_id).join(
            BacklogItem, BacklogItem.id == BacklogEvidence.item_id
        )
        if not include_dropped:
            query = query.where(BacklogItem.status != "dropped")
        return {(t, i) for t, i in session.exec(query).all()}


def weekly_flow(engine: Engine) -> pd.DataFrame:
    """Per ISO week (Monday) and kind: items created, items closed (done or dropped), open at week end."""
    with read_session(engine) as session:
        rows = session.exec(select(BacklogItem.kind, BacklogItem.created_at, BacklogItem.closed_at)).all()
    columns = ["week", "kind", "created", "closed", "open"]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows, columns=["kind", "created_at", "closed_at"])
    created = pd.to_datetime(frame["created_at"], utc=True)
    closed = pd.to_datetime(frame["closed_at"], utc=True)
    frame["created_week"] = created.dt.tz_convert(None).dt.to_period("W-SUN").dt.start_time
    frame["closed_week"] = closed.dt.tz_convert(None).dt.to_period("W-SUN").dt.start_time
    first = frame["created_week"].min()
    last = max(frame["created_week"].max(), frame["closed_week"].max() if closed.notna().any() else first)
    last = max(last, pd.Timestamp(utcnow()).tz_convert(None).to_period("W-SUN").start_time)
    weeks = pd.date_range(first, last, freq="7D")
    out = []
    for kind in KINDS:
        part = frame[frame["kind"] == kind]
        made = part.groupby("created_week").size()
        shut = part.dropna(subset=["closed_week"]).groupby("closed_week").size()
        open_count = 0
        for week in weeks:
            c, s = int(made.get(week, 0)), int(shut.get(week, 0))
            open_count += c - s
            out.append({"week": week, "kind": kind, "created": c, "closed": s, "open": open_count})
    return pd.DataFrame(out, columns=columns)
