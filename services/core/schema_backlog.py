"""SQLModel tables: the improvement backlog, its evidence links and the proposals it is fed by.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow


class BacklogItem(SQLModel, table=True):
    """An improvement to make. status: proposed -> planned -> in_progress -> done | dropped (services/backlog
    has the allowed transitions). Scored by RICE (default) or WSJF; closing records the outcome."""

    __tablename__ = "backlog_item"
    __table_args__ = (sa.UniqueConstraint("proposal_key", name="uq_backlog_item_proposal_key"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)  # model_improvement, data_quality, tech_debt
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    source_type: str | None = Field(default=None, max_length=50)
    source_id: str | None = Field(default=None, max_length=200)
    evidence: dict | None = json_field()
    owner: str | None = Field(default=None, max_length=320)
    status: str = Field(default="proposed", max_length=20, index=True)
    scoring: str = Field(default="rice", max_length=10)  # rice, wsjf
    reach: float | None = None  # RICE: units per week (predictions, feedback items, users)
    reach_basis: str | None = Field(default=None, max_length=300)  # where the pre-filled reach came from
    impact: float | None = None  # RICE: 0.25, 0.5, 1, 2, 3
    confidence: float | None = None  # RICE: 0..1
    effort: float | None = None  # RICE: person-weeks
    business_value: float | None = None  # WSJF: 1..10 each, cost of delay = value + criticality + risk
    time_criticality: float | None = None
    risk_reduction: float | None = None
    job_size: float | None = None  # WSJF: relative size
    score: float | None = None
    outcome: dict | None = json_field()  # free-form outcome detail (note, links)
    outcome_metric: str | None = Field(default=None, max_length=200)
    outcome_before: float | None = None
    outcome_after: float | None = None
    proposal_key: str | None = Field(default=None, max_length=300)  # the system proposal it came from
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    updated_by: str | None = Field(default=None, max_length=320)
    updated_at: datetime | None = None
    closed_by: str | None = Field(default=None, max_length=320)
    closed_at: datetime | None = None
    version: int = 1  # optimistic concurrency


class BacklogEvidence(SQLModel, table=True):
    """A typed reference from a backlog item to what justifies it: alert, theme, experiment, cohort_gap,
    judge_gate, drift (a drifted feature), feedback."""

    __tablename__ = "backlog_evidence"
    __table_args__ = (sa.UniqueConstraint("item_id", "ref_type", "ref_id", name="uq_backlog_evidence"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="backlog_item.id", index=True)
    ref_type: str = Field(max_length=30)
    ref_id: str = Field(max_length=300)
    label: str = Field(default="", max_length=500)
    detail: dict | None = json_field()
    added_by: str = Field(default="", max_length=320)
    added_at: datetime = Field(default_factory=utcnow)


class BacklogProposal(SQLModel, table=True):
    """A system proposal someone decided on (accepted into an item, or dismissed): remembered by its key so
    it is not proposed again. Open proposals are computed from the signals, not stored."""

    __tablename__ = "backlog_proposal"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300, unique=True)  # e.g. drift:churn:sessions_per_week
    rule: str = Field(max_length=30)  # drifted_feature, growing_theme, cohort_gap, open_alert
    title: str = Field(max_length=300)
    evidence: dict | None = json_field()
    status: str = Field(max_length=20)  # accepted, dismissed
    item_id: int | None = Field(default=None, foreign_key="backlog_item.id")
    reason: str = Field(default="", max_length=2000)
    decided_by: str = Field(max_length=320)
    decided_at: datetime = Field(default_factory=utcnow)
