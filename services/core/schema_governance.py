"""SQLModel tables: approval requests and their decisions (the four-eyes rule).

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow

# --- governance --------------------------------------------------------------------------------


class ApprovalRequest(SQLModel, table=True):
    __tablename__ = "approval_request"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)  # promote, canary, retrain, rollback, stop-experiment
    subject_type: str = Field(max_length=50)
    subject_id: str = Field(max_length=200)
    payload: dict | None = json_field()  # what exactly will happen
    evidence: dict | None = json_field()  # snapshot as it was when requested
    subject_fingerprint: str = Field(default="", max_length=64)  # change resets approvals
    required_approvals: int = 1
    status: str = Field(default="pending", max_length=20)  # pending, approved, rejected, executed, cancelled
    comment: str = Field(default="", max_length=2000)
    requested_by: str = Field(max_length=320)
    requested_at: datetime = Field(default_factory=utcnow)
    executed_at: datetime | None = None
    executed_by: str | None = Field(default=None, max_length=320)
    result: dict | None = json_field()  # what the execution did (deployment ids, version registered, ...)


class ApprovalDecision(SQLModel, table=True):
    __tablename__ = "approval_decision"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="approval_request.id", index=True)
    actor: str = Field(max_length=320)
    verdict: str = Field(max_length=20)  # approve, reject
    comment: str = Field(default="", max_length=2000)
    ts: datetime = Field(default_factory=utcnow)
    valid: bool = True  # false once the subject changed after this decision
