"""SQLModel tables: the whole first-cut data model. Changed only through Alembic migrations.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres);
natural ids (request_id, feedback_id, ...) are unique so imports are idempotent.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from services.core.timeutil import utcnow

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")


def json_field(*, nullable: bool = True, default: Any = None) -> Any:
    if default is not None:
        return Field(default_factory=default, sa_column=sa.Column(JsonType, nullable=nullable))
    return Field(default=None, sa_column=sa.Column(JsonType, nullable=nullable))


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


class Feedback(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    feedback_id: str = Field(max_length=200, unique=True)
    request_id: str | None = Field(default=None, max_length=200, foreign_key="prediction.request_id", index=True)
    ts: datetime = Field(index=True)
    source: str = Field(default="", max_length=100)
    rating: int | None = None
    text: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    redactions: int = 0
    category: str | None = Field(default=None, max_length=100)
    status: str = Field(default="new", max_length=20, index=True)
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id")
    corrected_label: int | None = None
    priority: str = Field(default="normal", max_length=20)
    theme_id: int | None = Field(default=None, foreign_key="theme.id", index=True)
    duplicate_group: int | None = Field(default=None, index=True)  # feedback.id of the group's first item
    label_set_by: str | None = Field(default=None, max_length=320)
    label_set_at: datetime | None = None
    version: int = 1  # optimistic concurrency
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(default="", max_length=320)


class Theme(SQLModel, table=True):
    """A cluster of feedback texts. `label` starts as the top terms; an analyst may rename it."""

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=200)
    top_terms: list | None = json_field()
    renamed: bool = False
    size: int = 0
    active: bool = True  # false once a later clustering run replaced it
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=320)


class TrainingDataset(SQLModel, table=True):
    """A versioned, immutable set of corrected labels taken from feedback for the next training run."""

    __tablename__ = "training_dataset"
    __table_args__ = (sa.UniqueConstraint("name", "version", name="uq_training_dataset_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    version: int
    description: str = Field(default="", max_length=2000)
    item_count: int = 0
    label_counts: dict | None = json_field()
    content_sha256: str = Field(max_length=64)  # over the sorted (feedback id, request id, label) rows
    created_by: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow)


class TrainingDatasetItem(SQLModel, table=True):
    __tablename__ = "training_dataset_item"

    dataset_id: int = Field(foreign_key="training_dataset.id", primary_key=True)
    feedback_id: int = Field(foreign_key="feedback.id", primary_key=True)
    request_id: str | None = Field(default=None, max_length=200)
    label: int
    labelled_by: str | None = Field(default=None, max_length=320)
    labelled_at: datetime | None = None


def immutable_table_ddl(table: str, dialect: str) -> list[str]:
    """Triggers that refuse every UPDATE and DELETE of `table`'s rows (training dataset versions are
    immutable in the database, not only by convention). Migration 0009 creates the same triggers;
    the listeners below add them to tables made by metadata.create_all (tests, the demo)."""
    message = f"{table} rows are immutable: a training dataset version never changes once created"
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{op} refused: {message}'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION loopdeck_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = TG_OP || ' refused: ' || TG_ARGV[0]; END $$",
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION loopdeck_refuse_change('{message}')",
        ]
    return []


def drop_immutable_table_ddl(table: str, dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}"]
    return []


IMMUTABLE_TABLES = (TrainingDataset.__table__, TrainingDatasetItem.__table__)
for _table in IMMUTABLE_TABLES:
    for _dialect in ("sqlite", "postgresql"):
        for _statement in immutable_table_ddl(_table.name, _dialect):
            sa.event.listen(_table, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))


# --- experiments -------------------------------------------------------------------------------


class Experiment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    name: str = Field(default="", max_length=300)
    hypothesis: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    variants: list | None = json_field()  # [{key, model_version_id, allocation}]
    primary_metric: str = Field(default="", max_length=200)
    secondary_metrics: list | None = json_field()
    guardrail_metrics: list | None = json_field()  # [{metric, bad_direction}]
    metric_type: str = Field(default="conversion", max_length=20)  # conversion, mean
    mde: float | None = None
    mde_relative: bool = True
    alpha: float = 0.05
    power: float = 0.8
    planned_sample_size: int | None = None  # per arm
    stopping_rule: str = Field(default="fixed", max_length=20)  # fixed, sequential
    status: str = Field(default="draft", max_length=20)  # draft, running, stopped, concluded
    start_at: datetime | None = None
    end_at: datetime | None = None
    decision: str | None = Field(default=None, max_length=2000)
    outcome: str | None = Field(default=None, max_length=20)  # ship, do-not-ship, iterate (on conclusion)
    design: dict | None = json_field()  # the design screen's inputs: baseline, sd, daily traffic, ...
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow)


class Exposure(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("experiment_id", "unit_id", "variant", name="uq_exposure"),)

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    unit_id: str = Field(max_length=200)
    variant: str = Field(max_length=100)
    ts: datetime
    cohorts: dict | None = json_field()  # {field: value} (platform, region, tier...): results by segment


class MetricObservation(SQLModel, table=True):
    """One unit's value of one metric in one experiment (pre_value: the pre-period, for CUPED)."""

    __tablename__ = "metric_observation"
    __table_args__ = (sa.UniqueConstraint("experiment_id", "unit_id", "metric", name="uq_metric_observation"),)

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    unit_id: str = Field(max_length=200)
    metric: str = Field(max_length=200)
    value: float
    pre_value: float | None = None
    ts: datetime | None = None


class ExperimentRollup(SQLModel, table=True):
    """Derived: metric sums per experiment x variant x (cohort field, value) x metric (field "" and
    value "": every unit, the overall row; units without the field are the overall row minus the
    field's values), units in several arms left out. Kept up to date by services.experiments.readout
    (incrementally as exposures and metric observations arrive; rebuilt from them when in doubt).
    Never edited by hand."""

    __tablename__ = "experiment_rollup"
    __table_args__ = (
        sa.UniqueConstraint("experiment_id", "variant", "field", "segment", "metric", name="uq_experiment_rollup"),
    )

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id")
    variant: str = Field(max_length=100)
    field: str = Field(default="", max_length=100)  # the cohort field ("" = overall)
    segment: str = Field(default="", max_length=200)  # its value
    metric: str = Field(max_length=200)
    n: float = 0.0
    sum_y: float = 0.0
    sum_y2: float = 0.0
    sum_x: float = 0.0  # pre_value, NULL counted as 0 (CUPED)
    sum_x2: float = 0.0
    sum_xy: float = 0.0
    n_pre: float = 0.0  # units with a pre_value
    min_y: float | None = None
    max_y: float | None = None


class ExperimentExposureRollup(SQLModel, table=True):
    """Derived: exposed units per experiment x variant x (cohort field, value) (every exposure row; for
    SRM); field "" and value "" is every unit."""

    __tablename__ = "experiment_exposure_rollup"
    __table_args__ = (
        sa.UniqueConstraint("experiment_id", "variant", "field", "segment", name="uq_experiment_exposure_rollup"),
    )

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id")
    variant: str = Field(max_length=100)
    field: str = Field(default="", max_length=100)
    segment: str = Field(default="", max_length=200)
    units: int = 0


class ExperimentRollupState(SQLModel, table=True):
    """How far the rollups of one experiment go: the row counts and highest ids of its exposures and
    metric observations folded in (any other count means rows arrived out of order: rebuild)."""

    __tablename__ = "experiment_rollup_state"

    experiment_id: int = Field(foreign_key="experiment.id", primary_key=True)
    exposure_rows: int = 0
    exposure_max_id: int = 0
    metric_rows: int = 0
    metric_max_id: int = 0
    units_total: int = 0
    multi_units: int = 0
    generation: int = 0  # +1 at every change: part of cache keys
    rebuilt_at: datetime | None = None
    refreshed_at: datetime | None = None


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
    """A single row: the highest prediction and outcome ids already folded into monitoring blocks."""

    __tablename__ = "monitoring_sync"

    id: int = Field(default=1, primary_key=True)
    last_prediction_id: int = 0
    last_outcome_id: int = 0
    synced_at: datetime | None = None


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
