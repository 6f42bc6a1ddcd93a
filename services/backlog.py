"""Backlog of improvements (model improvement, data quality, tech debt), with evidence links.
Other areas add items from their evidence (a theme, an alert, an experiment result)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services import audit
from services.db import read_session, write_session
from services.errors import InvalidInput
from services.roles import Actor, Role, require
from services.schema import BacklogItem

KINDS = ("model_improvement", "data_quality", "tech_debt")
STATUSES = ("proposed", "planned", "in_progress", "done", "dropped")


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
) -> BacklogItem:
    """Create an item inside the caller's transaction (so evidence and item commit together)."""
    require(actor, Role.analyst, "create backlog items")
    if kind not in KINDS:
        raise InvalidInput(f"Unknown backlog kind {kind!r}; choose one of {', '.join(KINDS)}.")
    title = (title or "").strip()
    if not title:
        raise InvalidInput("A backlog item needs a title.")
    item = BacklogItem(
        kind=kind, title=title[:300], description=description, source_type=source_type, source_id=source_id,
        evidence=evidence, reach=reach, created_by=actor.label,
    )  # fmt: skip
    session.add(item)
    session.flush()
    audit.record(
        session, actor, "backlog.create", "backlog_item", item.id,
        {"kind": kind, "title": item.title, "source": f"{source_type}:{source_id}" if source_type else None},
    )  # fmt: skip
    return item


def create_item(engine: Engine, actor: Actor, **values: Any) -> BacklogItem:
    with write_session(engine) as session:
        return add_in_session(session, actor, **values)


def list_items(engine: Engine, source_type: str | None = None) -> pd.DataFrame:
    with read_session(engine) as session:
        query = select(BacklogItem).order_by(BacklogItem.id.desc())
        if source_type:
            query = query.where(BacklogItem.source_type == source_type)
        rows = session.exec(query).all()
    return pd.DataFrame([r.model_dump() for r in rows])
