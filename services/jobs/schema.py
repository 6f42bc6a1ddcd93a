"""Tables of the job queue and the schedules (registered on SQLModel.metadata; changed only by migrations).

A Job row is the truth every replica reads: status, progress, outcome, who asked. The queue library
(huey on SQLite, procrastinate on Postgres) only carries "run job N" messages to a worker; a worker
runs a job only after winning the conditional claim on this row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
DONE = ("succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")


class Job(SQLModel, table=True):
    __tablename__ = "job"
    __table_args__ = (sa.Index("ix_job_status_run_after", "status", "run_after"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=100, index=True)
    label: str = Field(default="", max_length=300)
    payload: dict[str, Any] = json_field(nullable=False, default=dict)
    status: str = Field(default="queued", max_length=20)
    progress: float = Field(default=0.0)
    message: str = Field(default="Waiting for a worker", max_length=500)
    requested_by: str = Field(max_length=320, index=True)
    requested_role: str = Field(default="viewer", max_length=20)
    requested_user_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    run_after: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    worker_id: str | None = Field(default=None, max_length=100)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=1)
    cancel_requested: bool = Field(default=False)
    result: Any = json_field()
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    error_kind: str | None = Field(default=None, max_length=20)  # domain | crash | lost | cancelled
    error_data: Any = json_field()
    # At most one queued or running job per singleton key (e.g. one notification delivery run at a time).
    singleton: str | None = Field(default=None, max_length=100, unique=True)
    schedule_id: int | None = Field(default=None, index=True)


class JobBlob(SQLModel, table=True):
    """Bytes a job needs that do not belong in JSON (an uploaded import file), deleted with the job's end."""

    __tablename__ = "job_blob"

    job_id: int = Field(primary_key=True, foreign_key="job.id", ondelete="CASCADE")
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class Schedule(SQLModel, table=True):
    """A periodic job: what (kind + payload, per model where it applies) and when (a cron expression, UTC)."""

    __tablename__ = "job_schedule"
    __table_args__ = (sa.UniqueConstraint("kind", "model_name", name="uq_schedule_kind_model"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=100)
    model_name: str = Field(default="", max_length=200)  # "" = every model / not model-specific
    cron: str = Field(max_length=100)
    enabled: bool = Field(default=True)
    payload: dict[str, Any] = json_field(nullable=False, default=dict)
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_job_id: int | None = None
    last_outcome: str = Field(default="", max_length=500)
    updated_by: str = Field(default="", max_length=320)
    updated_at: datetime = Field(default_factory=utcnow)
