"""SQLModel tables: alert rules and alerts, drift overrides, derived summaries, monitoring day blocks and
day summaries.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow

# --- monitoring --------------------------------------------------------------------------------


class AlertRule(SQLModel, table=True):
    """A condition on one monitored number of a model (services/monitoring/alerts.py), evaluated per model version
    over the last `window` of data (e.g. "7d"); optionally restricted to one cohort."""

    __tablename__ = "alert_rule"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    model_name: str = Field(max_length=200)
    metric: str = Field(max_length=200)  # e.g. drift:feature_x, drift_share, accuracy, estimated_accuracy
    cohort: dict | None = json_field()  # {field: value or [values]}
    comparison: str = Field(default=">=", max_length=4)
    threshold: float
    window: str = Field(default="1d", max_length=20)
    severity: str = Field(default="warning", max_length=20)
    enabled: bool = True
    # opt-in: an alert it opens files a retrain request by itself (services/models/alert_retrain.py)
    auto_retrain: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    updated_by: str | None = Field(default=None, max_length=320)
    updated_at: datetime | None = None


class Alert(SQLModel, table=True):
    """One breach of a rule on one model version and window, or one guard-rail alert of an experiment
    (experiment_id and signature set, under the disabled rule "Experiment guard-rails":
    services/experiments/guard.py; opened once per experiment and signature). open -> acknowledged ->
    resolved."""

    __table_args__ = (
        sa.UniqueConstraint("rule_id", "model_version_id", "window_start", "window_end", name="uq_alert_window"),
        sa.UniqueConstraint("experiment_id", "signature", name="uq_alert_experiment_signature"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = Field(foreign_key="alert_rule.id", index=True)
    experiment_id: int | None = Field(default=None, foreign_key="experiment.id", index=True)
    signature: str | None = Field(default=None, max_length=500)  # experiment alerts: kind:metric:variant
    model_version_id: int | None = Field(default=None, foreign_key="model_version.id")
    state: str = Field(default="open", max_length=20, index=True)  # open, acknowledged, resolved
    value: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    evidence: dict | None = json_field()  # metric, value, threshold, comparison, window, n, reference, ...
    opened_at: datetime = Field(default_factory=utcnow)
    acknowledged_by: str | None = Field(default=None, max_length=320)
    acknowledged_at: datetime | None = None
    ack_comment: str | None = Field(default=None, max_length=2000)
    resolved_by: str | None = Field(default=None, max_length=320)
    resolved_at: datetime | None = None
    resolve_comment: str | None = Field(default=None, max_length=2000)
    backlog_item_id: int | None = Field(default=None, foreign_key="backlog_item.id")


class DriftOverride(SQLModel, table=True):
    """A user's choice of drift test and/or threshold for one column of a model (None keeps the default)."""

    __tablename__ = "drift_override"
    __table_args__ = (sa.UniqueConstraint("model_name", "column_name", name="uq_drift_override"),)

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=200)
    column_name: str = Field(max_length=200)  # a feature, or prediction.score / prediction.label / outcome.label
    method: str | None = Field(default=None, max_length=30)
    threshold: float | None = None
    updated_by: str = Field(default="", max_length=320)
    updated_at: datetime = Field(default_factory=utcnow)


class DerivedSummary(SQLModel, table=True):
    """A small derived result saved for every process and replica to reuse (e.g. the Overview's drift and
    weekly headline), valid while `token` (a digest of the inputs: block generations, windows) matches.
    Derived data: recomputed, never edited, not audited."""

    __tablename__ = "derived_summary"

    key: str = Field(primary_key=True, max_length=200)
    token: str = Field(max_length=64)
    payload: Any = json_field(nullable=False)
    computed_at: datetime = Field(default_factory=utcnow)


class MonitoringBlock(SQLModel, table=True):
    """One UTC day of one model version's predictions (with their outcomes so far), columnar: an Arrow
    IPC file holding ts, score, predicted label, actual label, every feature and cohort field. Derived
    data (services/monitoring/blocks.py rebuilds a block whenever its day gets new rows or outcomes)."""

    __tablename__ = "monitoring_block"
    __table_args__ = (sa.UniqueConstraint("model_version_id", "day", name="uq_monitoring_block_day"),)

    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="model_version.id")
    day: date
    n_rows: int = 0
    n_labelled: int = 0
    generation: int = 1  # +1 at every rebuild: part of every cache key
    format_version: int = 1
    built_at: datetime = Field(default_factory=utcnow)
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class MonitoringSync(SQLModel, table=True):
    """A single row: the highest prediction and outcome ids already folded into monitoring blocks, and,
    apart (they move in the same transaction as the summaries they describe), into the day summaries
    and the raw store (services/monitoring/summary_fold.py)."""

    __tablename__ = "monitoring_sync"

    id: int = Field(default=1, primary_key=True)
    last_prediction_id: int = 0
    last_outcome_id: int = 0
    synced_at: datetime | None = None
    summary_prediction_id: int = 0  # predictions up to this id are in the day summaries and the raw store,
    summary_outcome_id: int = 0  # with every outcome up to this id


class MonitoringDaySummary(SQLModel, table=True):
    """One UTC day of one model version, summarised (services/monitoring/day_summary.py: score histograms
    per cohort stratum, category counts, a bottom-k sample), as one blob whatever the day's row count
    (about 0.6 MiB). Folded in as rows arrive and updated in place by late outcomes and erasure
    (services/monitoring/summary_store.py); views merge days instead of reading rows (docs/scale.md)."""

    __tablename__ = "monitoring_day_summary"
    __table_args__ = (sa.UniqueConstraint("model_version_id", "day", name="uq_monitoring_day_summary"),)

    id: int | None = Field(default=None, primary_key=True)
    model_version_id: int = Field(foreign_key="model_version.id")
    day: date
    n_rows: int = 0
    generation: int = 1  # +1 at every change: part of every cache key
    format_version: int = 1
    updated_at: datetime = Field(default_factory=utcnow)
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class MonitoringSummarySchema(SQLModel, table=True):
    """The fields a version's day summaries hold (numeric and categorical features, cohort fields), fixed
    when first seen and only ever extended, so every day of a version types a field the same way."""

    __tablename__ = "monitoring_summary_schema"

    model_version_id: int = Field(foreign_key="model_version.id", primary_key=True)
    # {"numeric": [...], "categorical": [...], "cohorts": [...] (column names), "keys": {column: [kind, key]}}
    fields: dict = json_field(nullable=False, default=dict)
    updated_at: datetime = Field(default_factory=utcnow)
