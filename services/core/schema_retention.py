"""SQLModel tables: a model's retention of raw rows, and the requests erased at a data subject's request.

Conventions: timestamps are aware UTC; changed only through Alembic migrations; services/core/schema.py
imports every table module.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from services.core.timeutil import utcnow


class RetentionPolicy(SQLModel, table=True):
    """Per model: raw prediction and outcome rows older than `keep_days` days before the model's latest
    day are purged (services/monitoring/retention.py); the monitoring blocks and day summaries stay.
    `purged_before`: the day before which a purge has run, so the monitoring build never rebuilds those
    days from the rows that are gone."""

    __tablename__ = "retention_policy"

    model_name: str = Field(primary_key=True, max_length=200)
    keep_days: int
    purged_before: date | None = None
    updated_by: str = Field(default="", max_length=320)
    updated_at: datetime = Field(default_factory=utcnow)


class ErasedRequest(SQLModel, table=True):
    """A request id erased at a data subject's request (services/ingest/erasure.py), kept only as its
    SHA-256 so no table holds the id itself: future training sets skip it."""

    __tablename__ = "erased_request"

    request_hash: str = Field(primary_key=True, max_length=64)
    erased_at: datetime = Field(default_factory=utcnow)
    erased_by: str = Field(default="", max_length=320)
