"""SQLModel tables: model versions, deployments (what served when) and shadow scores.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow

# --- models and what served when --------------------------------------------------------------


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_version"
    __table_args__ = (sa.UniqueConstraint("model_name", "version", name="uq_model_version"),)

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=200, index=True)
    version: int
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    training_data: dict | None = json_field()  # snapshot: window, rows, feedback dataset version
    feature_schema: dict | None = json_field()  # {feature name: "numeric" | "categorical"}
    params: dict | None = json_field()
    metrics: dict | None = json_field()
    model_card: dict | None = json_field()
    artifact_uri: str | None = Field(default=None, max_length=1000)
    artifact_sha256: str | None = Field(default=None, max_length=64)
    parent_id: int | None = Field(default=None, foreign_key="model_version.id")
    trigger: str | None = Field(default=None, max_length=100)  # manual, alert:<id>, schedule
    status: str = Field(default="candidate", max_length=20)  # candidate, champion, challenger, archived


class Deployment(SQLModel, table=True):
    """One stretch of serving: never overwritten; ending it sets ended_at."""

    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="model_version.id", index=True)
    stage: str = Field(max_length=20)  # shadow, canary, full
    traffic_share: float = 0.0
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None
    started_by: str = Field(default="", max_length=320)
    reason: str = Field(default="", max_length=2000)
    approval_request_id: int | None = Field(default=None, foreign_key="approval_request.id")
    ended_by: str | None = Field(default=None, max_length=320)
    end_reason: str | None = Field(default=None, max_length=2000)


class ShadowScore(SQLModel, table=True):
    """A score a shadow deployment (0% traffic) gave a served request: recorded, never served."""

    __tablename__ = "shadow_score"
    __table_args__ = (sa.UniqueConstraint("deployment_id", "request_id", name="uq_shadow_score"),)

    id: int | None = Field(default=None, primary_key=True)
    deployment_id: int = Field(foreign_key="deployment.id", index=True)
    model_version_id: int = Field(foreign_key="model_version.id")
    request_id: str = Field(max_length=200)
    score: float
    predicted_label: int
    scored_at: datetime = Field(default_factory=utcnow)


class ModelPipeline(SQLModel, table=True):
    """A model whose training runs elsewhere: an approved retrain request calls this pipeline's signed
    webhook (a notify channel subscribed to no event, holding the URL and secret) instead of fitting
    locally (services/models/external_pipeline.py)."""

    __tablename__ = "model_pipeline"

    model_name: str = Field(max_length=200, primary_key=True)
    channel_id: int  # notify_channel.id (no foreign key: core imports no notify table)
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
