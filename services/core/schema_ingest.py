"""SQLModel tables: what the model did (predictions) and what happened (delayed outcomes).

Natural ids (request_id, ...) are unique so imports are idempotent.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field

# --- what the model did and what happened -----------------------------------------------------


class Prediction(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_prediction_version_ts", "model_version_id", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(max_length=200, unique=True)
    model_version_id: int = Field(foreign_key="model_version.id")
    ts: datetime = Field(index=True)
    score: float
    predicted_label: int
    features: dict | None = json_field()  # {name: number | string}
    cohorts: dict | None = json_field()  # {field: value}, e.g. region, platform, tier


class Outcome(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(max_length=200, unique=True, foreign_key="prediction.request_id")
    ts: datetime = Field(index=True)
    actual_label: int
    actual_value: float | None = None
