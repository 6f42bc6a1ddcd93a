"""Tamper-evident audit log: append-only, hash-chained events written in the caller's transaction.

Each event's hash covers its id, time, actor, action, subject, canonical JSON payload and the
previous event's hash. Ids are assigned from the chain head (no gaps), so an edited, deleted or
reordered row breaks the chain at that row; the head row catches events cut from the end.

Against someone who can write SQL (see the README's threat model): the hash is an HMAC-SHA256 with a
key kept outside the database, and every committed audit transaction appends a signed checkpoint to a
file outside it (services/core/audit_anchor.py); services/core/audit_verify.py checks all three.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, func, select

from services.core import audit_anchor, audit_guard, text_filter  # noqa: F401 (audit_guard: create_all adds the triggers)
from services.core.audit_hash import GENESIS_HASH, canonical_json, event_hash, ts_text  # noqa: F401 (re-exported)
from services.core.audit_verify import ChainReport, verify  # noqa: F401 (re-exported)
from services.core.db import read_session
from services.core.roles import Actor
from services.core.schema_accounts import AuditEvent, AuditHead
from services.core.timeutil import to_utc, utcnow

if TYPE_CHECKING:
    import pandas as pd

_PENDING = "loopdeck_audit_checkpoint"  # session.info: (anchor, last id, last hash) to sign after commit


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


def _anchored_head(session: Session) -> tuple[AuditHead, audit_anchor.Anchor]:
    """Lock the head, then find (or write) this database's anchor while no one else can append."""
    head = _locked_head(session)
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, sa.engine.Connection) else bind
    return head, audit_anchor.anchor_for_append(engine, head.last_event_id, head.last_hash)


def _advance(session: Session, head: AuditHead, anchor: audit_anchor.Anchor, last_id: int, last_hash: str) -> None:
    head.last_event_id, head.last_hash = last_id, last_hash
    session.add(head)
    session.flush()
    session.info[_PENDING] = (anchor, last_id, last_hash)


@sa_event.listens_for(OrmSession, "after_commit")
def _checkpoint_after_commit(session: OrmSession) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        audit_anchor.write_checkpoint(*pending)


@sa_event.listens_for(OrmSession, "after_rollback")
def _forget_after_rollback(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)


def record(
    session: Session,
    actor: Actor | str,
    action: str,
    subject_type: str,
    subject_id: Any,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction (it commits or rolls back with the change)."""
    head, anchor = _anchored_head(session)
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
        anchor.key,
    )
    session.add(event)
    session.flush()  # the event before the head: the head never points past what exists
    _advance(session, head, anchor, event.id, event.hash)
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
    head, anchor = _anchored_head(session)
    prev, next_id, now = head.last_hash, head.last_event_id + 1, utcnow()
    rows = []
    for subject_id, payload in items:
        text = canonical_json(payload or {})
        digest = event_hash(next_id, now, actor.label, action, subject_type, str(subject_id), text, prev, anchor.key)
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
    _advance(session, head, anchor, next_id - 1, prev)
    return len(rows)


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
    # Exact matches; control characters are refused (InvalidInput), never sent to the database.
    if f.actor:
        query = query.where(text_filter.equals(AuditEvent.actor, f.actor, "The actor"))
    if f.action:
        query = query.where(text_filter.equals(AuditEvent.action, f.action, "The action"))
    if f.subject_type:
        query = query.where(text_filter.equals(AuditEvent.subject_type, f.subject_type, "The object type"))
    if f.subject_id:
        query = query.where(text_filter.equals(AuditEvent.subject_id, f.subject_id, "The object id"))
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
    import pandas as pd  # here, not at import: every process imports audit, few list events (pandas ~1.5 CPU-s)

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
    import pandas as pd  # here, not at import: every process imports audit, few export it (pandas ~1.5 CPU-s)

    buffer = io.StringIO()
    with engine.connect() as conn:
        frame = pd.read_sql(query.order_by(table.c.id), conn)
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")
