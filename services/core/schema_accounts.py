"""SQLModel tables: accounts, settings and the hash-chained audit log.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow

# --- accounts ---------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    role: str = Field(default="viewer", max_length=20)
    password_hash: str | None = Field(default=None, max_length=255)
    disabled: bool = Field(default=False)
    failed_attempts: int = Field(default=0)
    locked_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class Setting(SQLModel, table=True):
    """Admin-editable settings (SLA days, feedback categories, approvals needed per kind, ...)."""

    key: str = Field(primary_key=True, max_length=100)
    value: Any = json_field(nullable=False)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(default="", max_length=320)


# --- audit -------------------------------------------------------------------------------------


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained. `payload` is canonical JSON text so the hash covers its exact bytes."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_subject", "subject_type", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(index=True)
    actor: str = Field(max_length=320, index=True)
    action: str = Field(max_length=100, index=True)
    subject_type: str = Field(max_length=50)
    subject_id: str = Field(max_length=200)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """A single row: the last event's id and hash. Locking it serialises appends to the chain,
    and comparing it with the table catches events deleted from the end of the chain."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_event_id: int = 0
    last_hash: str = Field(default="0" * 64, max_length=64)
