"""Tamper-evident audit log: append-only, hash-chained events written in the caller's transaction.

Each event's hash covers its id, time, actor, action, subject, canonical JSON payload and the
previous event's hash. Ids are assigned from the chain head (no gaps), so an edited, deleted or
reordered row breaks the chain at that row; the head row catches events cut from the end.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from services.core.db import read_session
from services.core.roles import Actor
from services.core.schema_accounts import AuditEvent, AuditHead
from services.core.timeutil import to_utc, utcnow

GENESIS_HASH = "0" * 64


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def ts_text(ts: datetime | str) -> str:
    """The timestamp as hashed: ISO 8601 UTC with microseconds. SQLite hands back its stored text
    ('YYYY-MM-DD HH:MM:SS.ffffff', UTC) when read raw; reshaping it is 10x faster than parsing."""
    if isinstance(ts, str):
        if len(ts) == 26:
            return f"{ts[:10]}T{ts[11:]}+00:00"
        ts = datetime.fromisoformat(ts)
    return to_utc(ts).isoformat(timespec="microseconds")


def event_hash(
    event_id: int,
    ts: datetime | str,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    payload: str,
    prev_hash: str,
) -> str:
    text = "\x1f".join(
        (
            str(event_id),
            ts_text(ts),
            actor,
            action,
            subject_type,
            subject_id,
            payload,
            prev_hash,
        )
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _locked_head(session: Session) -> AuditHead:
    query = select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = session.exec(query).first()
    if head is None:  # the migration seeds it; databases built by create_all (tests) may not have it
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        row = {"id": 1, "last_event_id": 0, "last_hash": GENESIS_HASH}
        session.execute(insert(AuditHead).values(**row).on_conflict_do_nothing())
        head = session.exec(query).one()
    return head


def record(
    session: Session,
    actor: Actor | str,
    action: str,
    subject_type: str,
    subject_id: Any,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction (it commits or rolls back with the change)."""
    head = _locked_head(session)
    label = actor.label if isinstance(actor, Actor) else actor
    event = AuditEvent(
        id=head.last_event_id + 1,
        ts=utcnow(),
        actor=label,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=canonical_json(payload or {}),
        prev_hash=head.last_hash,
        hash="",
    )
    event.hash = event_hash(
        event.id,
        event.ts,
        event.actor,
        event.action,
        event.subject_type,
        event.subject_id,
        event.payload,
        event.prev_hash,
    )
    session.add(event)
    head.last_event_id = event.id
    head.last_hash = event.hash
    session.add(head)
    session.flush()
    return event


def record_many(
    session: Session,
    actor: Actor,
    action: str,
    subject_type: str,
    items: list[tuple[Any, dict[str, Any]]],
) -> int:
    """Append one event per (subject_id, payload) with one bulk insert; same chain rules as record()."""
    if not items:
        return 0
    head = _locked_head(session)
    prev, next_id, now = head.last_hash, head.last_event_id + 1, utcnow()
    rows = []
    for subject_id, payload in items:
        text = canonical_json(payload or {})
        digest = event_hash(next_id, now, actor.label, action, subject_type, str(subject_id), text, prev)
        rows.append(
            {
                "id": next_id,
                "ts": now,
                "actor": actor.label,
                "action": action,
                "subject_type": subject_type,
                "subject_id": str(subject_id),
                "payload": text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev, next_id = digest, next_id + 1
    session.execute(sa.insert(AuditEvent), rows)
    head.last_event_id, head.last_hash = next_id - 1, prev
    session.add(head)
    session.flush()
    return len(rows)


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""

    def message(self) -> str:
        if self.intact:
            return f"Audit chain intact: {self.checked:,} events verified."
        return (
            f"Audit chain BROKEN at event {self.first_bad_id}: {self.problem} "
            f"({self.checked:,} events checked before it)."
        )


def verify(engine: Engine, batch_size: int = 20_000) -> ChainReport:
    """Walk the whole chain in id order and report the first event that does not fit."""
    # Raw SQL on purpose: the driver's values, without ORM type processing (3x faster at 1M rows).
    query = (
        "SELECT id, ts, actor, action, subject_type, subject_id, payload, prev_hash, hash FROM audit_event ORDER BY id"
    )
    expected_id, prev, checked = 1, GENESIS_HASH, 0
    with engine.connect() as conn:
        head = conn.execute(sa.select(AuditHead.__table__)).mappings().first()
        result = conn.execution_options(stream_results=True, yield_per=batch_size).exec_driver_sql(query)
        for row in result:
            event_id, ts, actor, action, stype, sid, payload, prev_hash, digest = row
            if event_id != expected_id:
                return ChainReport(
                    False, checked, event_id, f"events {expected_id}..{event_id - 1} are missing (deleted)"
                )
            if prev_hash != prev:
                return ChainReport(
                    False,
                    checked,
                    event_id,
                    "its link to the previous event does not match (rows deleted or reordered)",
                )
            if event_hash(event_id, ts, actor, action, stype, sid, payload, prev_hash) != digest:
                return ChainReport(False, checked, event_id, "its content does not match its hash (row edited)")
            prev, expected_id, checked = digest, expected_id + 1, checked + 1
    head_id = head["last_event_id"] if head else 0
    head_hash = head["last_hash"] if head else GENESIS_HASH
    if head_id != checked or head_hash != prev:
        return ChainReport(
            False,
            checked,
            checked + 1,
            f"the chain head says {head_id} events but {checked} remain (events cut from the end)",
        )
    return ChainReport(True, checked)


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query, f: AuditFilter):
    if f.actor:
        query = query.where(AuditEvent.actor == f.actor)
    if f.action:
        query = query.where(AuditEvent.action == f.action)
    if f.subject_type:
        query = query.where(AuditEvent.subject_type == f.subject_type)
    if f.subject_id:
        query = query.where(AuditEvent.subject_id == f.subject_id)
    if f.since:
        query = query.where(AuditEvent.ts >= to_utc(f.since))
    if f.until:
        query = query.where(AuditEvent.ts < to_utc(f.until))
    return query


AUDIT_COLUMNS = ["id", "ts", "actor", "action", "subject_type", "subject_id", "payload", "hash"]


def list_events(engine: Engine, f: AuditFilter = AuditFilter(), limit: int = 500, offset: int = 0) -> pd.DataFrame:
    """Newest first."""
    with read_session(engine) as session:
        rows = session.exec(
            _filtered(select(AuditEvent), f).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
        ).all()
    return pd.DataFrame([{c: getattr(r, c) for c in AUDIT_COLUMNS} for r in rows], columns=AUDIT_COLUMNS)


def count_events(engine: Engine, f: AuditFilter = AuditFilter()) -> int:
    with read_session(engine) as session:
        return session.exec(_filtered(select(func.count()).select_from(AuditEvent), f)).one()


@dataclass(frozen=True)
class AuditFacets:
    actors: list[str]
    actions: list[str]
    subject_types: list[str]


def facets(engine: Engine) -> AuditFacets:
    with read_session(engine) as session:

        def distinct(col) -> list[str]:
            return sorted(v for v in session.exec(select(col).distinct()).all() if v)

        return AuditFacets(distinct(AuditEvent.actor), distinct(AuditEvent.action), distinct(AuditEvent.subject_type))


def export_csv(engine: Engine, f: AuditFilter = AuditFilter()) -> bytes:
    """All matching events, oldest first, as CSV (hashes included so an export can be re-checked)."""
    table = AuditEvent.__table__
    query = _filtered(sa.select(*[table.c[c] for c in AUDIT_COLUMNS] + [table.c.prev_hash]), f)
    buffer = io.StringIO()
    with engine.connect() as conn:
        frame = pd.read_sql(query.order_by(table.c.id), conn)
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")
