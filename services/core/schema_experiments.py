"""SQLModel tables: experiments, exposures, metric observations and the readout rollups.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow

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
