"""Reading an experiment: exposures and metric observations aggregated in SQL, then every comparison
(each treatment arm against control, for each metric, overall and per segment) read four ways with
the vectorised statistics of services.stats:

- frequentist fixed horizon: two-proportion z-test (0/1 metrics) or Welch t-test (other metrics),
  absolute and relative lift (delta method) with their CIs, p-value, verdict;
- sequential: always-valid confidence sequences (GrowthBook's formulation, N* = 5000);
- Bayesian: chance to beat control, risk, credible interval; flat prior unless a proper one is given;
- CUPED: regression adjustment on the pre-period value (metrics that have pre_value), with the
  variance reduction achieved and the unadjusted result beside it;
plus Holm / Benjamini-Hochberg across the goal metrics (off by default), health checks (SRM, too few
units, implausible lift, units in several arms), guardrail and SRM alerts that propose to stop, the
sequential rule's "may stop for a win", and Thompson-sampling weights for the arms.

Data conventions:
- A unit counts for a metric when it has an observation of it. Metrics arrive late (a 30-day
  retention is known 30 days after exposure), so exposed units without one are not counted as 0.
- Units exposed to more than one arm are left out of every metric (and counted in a health check).
- A metric whose values are all 0 or 1 is a conversion; any other metric is a mean.
- Good direction: higher for goal metrics; for a guardrail the opposite of its bad direction.
- Segments come from the exposures' cohort fields (Exposure.cohorts: platform, region, tier...; any
  number of them): for each field, its 20 largest values, the rest pooled as "(other)", units without
  the field as "(none)". The rollups keep the sums overall and per (field, value); "(none)" is the
  overall sums minus the field's values (the sums are additive). Results are keyed by (field,
  segment); the overall rows have field "" and segment "(all)".

`aggregate` is the only function that touches the database; `compute` is pure (tests call both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.db import write_session
from services.core.errors import InvalidInput
from services.core.schema import (
    Experiment,
    ExperimentExposureRollup,
    ExperimentRollup,
    ExperimentRollupState,
    Exposure,
    MetricObservation,
)
from services.core.timeutil import utcnow
from services.experiments import lifecycle as experiments
from services.stats import abtest, bandit, bayesian, cuped, multiple, sequential, srm

READINGS = ("frequentist", "sequential", "bayesian", "cuped")
CORRECTIONS = ("holm", "bh")
ALL = "(all)"
OTHER = "(other)"
NONE = "(none)"
TOP_SEGMENTS = 20
SUMS = ("n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy", "n_pre")


# --- options and results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadoutOptions:
    """How to read. The prior is on the lift (relative or absolute, as `difference_type`); without
    `prior_sd` it is flat. `correction` adjusts the fixed-horizon and CUPED p-values across the goal
    metrics x treatment arms of each segment."""

    difference_type: str = "relative"
    correction: str | None = None
    prior_mean: float = 0.0
    prior_sd: float | None = None
    segments: bool = True
    tuning_n: float = sequential.DEFAULT_TUNING_N
    chance_to_win_threshold: float = bayesian.DEFAULT_CHANCE_TO_WIN_THRESHOLD

    def check(self) -> ReadoutOptions:
        if self.difference_type not in ("relative", "absolute"):
            raise InvalidInput("The lift is read relative or absolute.")
        if self.correction not in (None, *CORRECTIONS):
            raise InvalidInput(f"The correction is off, {' or '.join(CORRECTIONS)}.")
        if self.prior_sd is not None and not (math.isfinite(self.prior_sd) and self.prior_sd > 0):
            raise InvalidInput("The prior's standard deviation must be above 0 (or leave it empty for a flat prior).")
        if not math.isfinite(self.prior_mean):
            raise InvalidInput("The prior's mean must be a number.")
        return self

    @property
    def prior(self) -> bayesian.GaussianPrior:
        if self.prior_sd is None:
            return bayesian.FLAT_PRIOR
        return bayesian.GaussianPrior(mean=float(self.prior_mean), variance=float(self.prior_sd) ** 2, proper=True)


@dataclass(frozen=True, eq=False)
class Aggregates:
    """The sums a readout needs. `cells`: variant, field, segment, metric and the sums (y the value, x
    the pre-period value with NULL as 0), n_pre (units that have a pre value), min_y, max_y; field ""
    and segment "" is every unit, (field, NONE) the units without the field. `exposures`: variant,
    field, segment, units (every exposure row, for SRM), keyed the same way."""

    cells: pd.DataFrame
    exposures: pd.DataFrame
    units_total: int
    multi_units: int
    seconds: float


@dataclass(frozen=True)
class HealthItem:
    name: str  # srm, min_units, large_lift, multiple_exposure
    title: str
    ok: bool
    message: str
    value: float


@dataclass(frozen=True)
class Alert:
    kind: str  # srm, guardrail
    message: str
    metric: str | None = None
    variant: str | None = None
    propose_stop: bool = True


@dataclass(frozen=True)
class StopAdvice:
    rule: str  # fixed, sequential
    may_stop_for_win: bool
    winners: tuple[str, ...]
    message: str


@dataclass(frozen=True, eq=False)
class Readout:
    experiment: Experiment
    options: ReadoutOptions
    as_of: datetime
    control: str
    variants: tuple[str, ...]
    arms: pd.DataFrame  # variant, planned share, units, share, planned per arm, progress
    metrics: pd.DataFrame  # metric, role, type, direction, cuped (has pre values)
    segments: dict[str, tuple[str, ...]]  # cohort field -> its segment labels (top 20, OTHER, NONE); {} if none
    results: pd.DataFrame  # one row per (field, segment) x metric x treatment arm; see RESULT_COLUMNS
    segment_srm: pd.DataFrame  # field, segment, units, srm_p
    health: tuple[HealthItem, ...]
    alerts: tuple[Alert, ...]
    stopping: StopAdvice
    bandit: bandit.BanditWeights | None
    units_total: int
    multi_units: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def overall(self) -> pd.DataFrame:
        return self.results[self.results["segment"] == ALL]

    @property
    def comparisons(self) -> int:
        return len(self.results)

    @property
    def fields(self) -> tuple[str, ...]:
        """The cohort fields the results are broken down by."""
        return tuple(self.segments)

    def by_segment(self, field: str, segment: str = ALL) -> pd.DataFrame:
        """The results of one segment of a field (ALL: the overall rows)."""
        r = self.results
        if segment == ALL:
            return r[r["segment"] == ALL]
        return r[(r["field"] == field) & (r["segment"] == segment)]


# Columns of Readout.results (besides field, segment, metric, role, type, direction, variant):
RESULT_COLUMNS = (
    # frequentist fixed horizon
    "n_control", "n_treatment", "mean_control", "mean_treatment", "abs_lift", "abs_ci_low", "abs_ci_high",
    "rel_lift", "rel_ci_low", "rel_ci_high", "p_value", "p_adjusted", "ci_low", "ci_high", "verdict", "progress",
    # sequential
    "seq_ci_low", "seq_ci_high", "seq_p_value", "seq_verdict",
    # Bayesian
    "bayes_estimate", "bayes_ci_low", "bayes_ci_high", "chance_to_win", "risk_control", "risk_treatment",
    "bayes_verdict",
    # CUPED (NaN where the metric has no pre-period values)
    "cuped_estimate", "cuped_ci_low", "cuped_ci_high", "cuped_p_value", "cuped_verdict", "variance_reduction",
    "theta",
)  # fmt: skip


# --- SQL: the rollups -------------------------------------------------------------------------------
#
# Reading 20 million metric rows joined to their exposures takes minutes in SQLite (and seconds in
# Postgres) on every page view; a readout must not. So the sums live in derived tables
# (experiment_rollup: variant x segment x metric; experiment_exposure_rollup: variant x segment),
# brought up to date before each readout from the rows that arrived since (imports only append):
#   new metric rows x all exposures  +  older metric rows x new exposures,  and new exposures;
# nothing to do when the highest ids have not moved. A new exposure of a unit already exposed to
# another arm (a unit in several arms is left out everywhere), or a caller asking for it, rebuilds
# the experiment's rollups from scratch. On Postgres the refresh takes SHARE locks on the two source
# tables, so every id up to the watermark is committed (no import still in flight below it).

_CELL_COLUMNS = ["variant", "field", "segment", "metric", "n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy",
                 "n_pre", "min_y", "max_y"]  # fmt: skip
_EXPOSURE_COLUMNS = ["variant", "field", "segment", "units"]
_KEYS = ("variant", "field", "segment", "metric")


@dataclass(frozen=True)
class RollupStatus:
    mode: str  # fresh (nothing new), incremental, full
    seconds: float
    exposure_rows: int
    metric_rows: int
    generation: int


def _cohort_value(field: str | None):
    """The SQL expression of one cohort field's value of an exposure ("" for the overall row): JSON
    extraction as text, which SQLAlchemy writes for each dialect (json_extract / ->>)."""
    if field is None:
        return sa.literal_column("''")
    return Exposure.__table__.c.cohorts[field].as_string()


def _cells_select(experiment_id: int, field: str | None = None, where=()):
    """Sums of the experiment's metric rows joined to their exposures, by variant x metric, and by the
    value of `field` (units without it left out) or overall (field None). The value is computed in a
    subquery and grouped on by name: a JSON path is a bound parameter, which Postgres does not match
    between the select list and GROUP BY."""
    e, m = Exposure.__table__, MetricObservation.__table__
    value = _cohort_value(field)
    rows = (
        sa.select(
            e.c.variant,
            value.label("segment"),
            m.c.metric,
            m.c.value.label("y"),
            sa.func.coalesce(m.c.pre_value, 0.0).label("x"),
            m.c.pre_value,
        )  # fmt: skip
        .select_from(e.join(m, sa.and_(m.c.experiment_id == e.c.experiment_id, m.c.unit_id == e.c.unit_id)))
        .where(e.c.experiment_id == experiment_id, *where)
    )
    if field is not None:
        rows = rows.where(value.is_not(None), value != "")
    r = rows.subquery("cells")
    return sa.select(
        r.c.variant,
        r.c.segment,
        r.c.metric,
        sa.func.count().label("n"),
        sa.func.sum(r.c.y).label("sum_y"),
        sa.func.sum(r.c.y * r.c.y).label("sum_y2"),
        sa.func.sum(r.c.x).label("sum_x"),
        sa.func.sum(r.c.x * r.c.x).label("sum_x2"),
        sa.func.sum(r.c.x * r.c.y).label("sum_xy"),
        sa.func.count(r.c.pre_value).label("n_pre"),
        sa.func.min(r.c.y).label("min_y"),
        sa.func.max(r.c.y).label("max_y"),
    ).group_by(r.c.variant, r.c.segment, r.c.metric)


def _exposures_select(experiment_id: int, field: str | None = None, after_id: int = 0):
    e = Exposure.__table__
    value = _cohort_value(field)
    rows = sa.select(e.c.variant, value.label("segment")).where(e.c.experiment_id == experiment_id, e.c.id > after_id)
    if field is not None:
        rows = rows.where(value.is_not(None), value != "")
    r = rows.subquery("exposed")
    return sa.select(r.c.variant, r.c.segment, sa.func.count().label("units")).group_by(r.c.variant, r.c.segment)


def _multi_select(experiment_id: int):
    e = Exposure.__table__
    return (
        sa.select(e.c.unit_id)
        .where(e.c.experiment_id == experiment_id)
        .group_by(e.c.unit_id)
        .having(sa.func.count() > 1)
    )


def cohort_fields(conn, experiment_id: int, after_id: int = 0) -> list[str]:
    """The cohort fields of the experiment's exposures (those with id > after_id), sorted. The keys of a
    JSON column are listed by each dialect's own table function (jsonb_object_keys / json_each)."""
    params = {"e": experiment_id, "after": after_id}
    if conn.dialect.name == "postgresql":
        sql = ("SELECT DISTINCT jsonb_object_keys(cohorts) FROM exposure WHERE experiment_id = :e AND id > :after "
               "AND jsonb_typeof(cohorts) = 'object'")  # fmt: skip
    else:
        sql = ("SELECT DISTINCT j.key FROM exposure, json_each(exposure.cohorts) AS j "
               "WHERE exposure.experiment_id = :e AND exposure.id > :after "
               "AND json_type(exposure.cohorts) = 'object'")  # fmt: skip
    return sorted(str(k) for (k,) in conn.execute(sa.text(sql), params) if k)


def _frame(conn, query, columns: list[str], field: str = "") -> pd.DataFrame:
    """Rows of a cells / exposures query, with the field they are about ("" overall)."""
    names = [c for c in columns if c != "field"]
    frame = pd.DataFrame(conn.execute(query).all(), columns=names)
    frame.insert(1, "field", field)
    frame["segment"] = frame["segment"].fillna("").astype(str).astype(object)
    for c in names:
        if c not in _KEYS:
            frame[c] = frame[c].astype(float)
    return frame


def _cells(conn, experiment_id: int, fields: list[str], where=()) -> pd.DataFrame:
    frames = [_frame(conn, _cells_select(experiment_id, field, where), _CELL_COLUMNS, field or "")
              for field in (None, *fields)]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _exposure_units(conn, experiment_id: int, fields: list[str], after_id: int = 0) -> pd.DataFrame:
    frames = [_frame(conn, _exposures_select(experiment_id, field, after_id), _EXPOSURE_COLUMNS, field or "")
              for field in (None, *fields)]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def _full(conn, experiment_id: int) -> tuple[pd.DataFrame, pd.DataFrame, int, int]:
    """(cells, exposures, units_total, multi_units) straight from the source rows."""
    e = Exposure.__table__
    fields = cohort_fields(conn, experiment_id)
    exposures = _exposure_units(conn, experiment_id, fields)
    per_unit = (
        sa.select((sa.func.count() - 1).label("extra"))
        .where(e.c.experiment_id == experiment_id)
        .group_by(e.c.unit_id)
        .having(sa.func.count() > 1)
        .subquery()
    )
    multi, extra = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(per_unit.c.extra), 0))).one()
    where = [e.c.unit_id.not_in(_multi_select(experiment_id))] if multi else []
    cells = _cells(conn, experiment_id, fields, where)
    overall = exposures[exposures["field"] == ""]
    units_total = int(overall["units"].sum()) - int(extra)
    return cells, exposures, units_total, int(multi)


def _delta(conn, experiment_id: int, e_max: int, m_max: int, fields: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sums of what arrived after the watermarks (new metric rows x all exposures, older metric rows x
    new exposures) and the new exposures; units in several arms left out."""
    e, m = Exposure.__table__, MetricObservation.__table__
    other = sa.alias(e, "other")
    single = ~sa.exists().where(
        other.c.experiment_id == e.c.experiment_id, other.c.unit_id == e.c.unit_id, other.c.variant != e.c.variant
    )
    new_metrics = _cells(conn, experiment_id, fields, [m.c.id > m_max, single])
    # `id + 0`: keeps SQLite from scanning every older metric row per new exposure by the rowid range
    # (it must look the unit's rows up by (experiment_id, unit_id) instead).
    new_exposures = _cells(conn, experiment_id, fields, [e.c.id > e_max, (m.c.id + 0) <= m_max, single])
    exposures = _exposure_units(conn, experiment_id, fields, e_max)
    return pd.concat([new_metrics, new_exposures], ignore_index=True), exposures


def _merge(old: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    both = pd.concat([old, new], ignore_index=True)
    if both.empty:
        return both
    sums = [c for c in both.columns if c not in keys and c not in ("min_y", "max_y")]
    agg: dict[str, str] = {c: "sum" for c in sums}
    if "min_y" in both.columns:
        agg.update(min_y="min", max_y="max")
    return both.groupby(keys, as_index=False, dropna=False).agg(agg)


def _read_rollup(conn, experiment_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    r, x = ExperimentRollup.__table__, ExperimentExposureRollup.__table__
    cells = pd.DataFrame(
        conn.execute(sa.select(*[r.c[c] for c in _CELL_COLUMNS]).where(r.c.experiment_id == experiment_id)).all(),
        columns=_CELL_COLUMNS,
    )
    exposures = pd.DataFrame(
        conn.execute(sa.select(*[x.c[c] for c in _EXPOSURE_COLUMNS]).where(x.c.experiment_id == experiment_id)).all(),
        columns=_EXPOSURE_COLUMNS,
    )
    for frame in (cells, exposures):
        for c in frame.columns:
            frame[c] = frame[c].astype(object) if c in _KEYS else frame[c].astype(float)
    return cells, exposures


def _write_rollup(conn, experiment_id: int, cells: pd.DataFrame, exposures: pd.DataFrame) -> None:
    r, x = ExperimentRollup.__table__, ExperimentExposureRollup.__table__
    conn.execute(sa.delete(r).where(r.c.experiment_id == experiment_id))
    conn.execute(sa.delete(x).where(x.c.experiment_id == experiment_id))
    if len(cells):
        rows = cells[_CELL_COLUMNS].astype(object).where(cells[_CELL_COLUMNS].notna(), None).to_dict("records")
        conn.execute(sa.insert(r), [{"experiment_id": experiment_id, **row} for row in rows])
    if len(exposures):
        conn.execute(
            sa.insert(x),
            [{"experiment_id": experiment_id, "variant": v, "field": f, "segment": s, "units": int(u)}
             for v, f, s, u in exposures[_EXPOSURE_COLUMNS].itertuples(index=False)],
        )  # fmt: skip


def _watermarks(conn, experiment_id: int) -> tuple[int, int]:
    e, m = Exposure.__table__, MetricObservation.__table__
    e_max = conn.execute(sa.select(sa.func.coalesce(sa.func.max(e.c.id), 0)).where(e.c.experiment_id == experiment_id))
    m_max = conn.execute(sa.select(sa.func.coalesce(sa.func.max(m.c.id), 0)).where(m.c.experiment_id == experiment_id))
    return int(e_max.scalar_one()), int(m_max.scalar_one())


def _count_after(conn, table, experiment_id: int, after: int) -> int:
    q = sa.select(sa.func.count()).where(table.c.experiment_id == experiment_id, table.c.id > after)
    return int(conn.execute(q).scalar_one())


def refresh_rollup(engine: Engine, experiment_id: int, *, full: bool = False) -> RollupStatus:
    """Bring the experiment's rollups up to date (derived data: no permission, no audit event)."""
    started = time.perf_counter()
    state_t = ExperimentRollupState.__table__
    if not full:
        with engine.connect() as conn:
            state = conn.execute(sa.select(state_t).where(state_t.c.experiment_id == experiment_id)).mappings().first()
            if state is not None and _watermarks(conn, experiment_id) == (
                state["exposure_max_id"],
                state["metric_max_id"],
            ):
                return RollupStatus("fresh", time.perf_counter() - started, state["exposure_rows"],
                                    state["metric_rows"], state["generation"])  # fmt: skip
    with write_session(engine) as session:
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("LOCK TABLE exposure, metric_observation IN SHARE MODE")
        state = (
            conn.execute(sa.select(state_t).where(state_t.c.experiment_id == experiment_id).with_for_update())
            .mappings()
            .first()
        )
        e_max, m_max = _watermarks(conn, experiment_id)
        if not full and state is not None and (e_max, m_max) == (state["exposure_max_id"], state["metric_max_id"]):
            return RollupStatus("fresh", time.perf_counter() - started, state["exposure_rows"],
                                state["metric_rows"], state["generation"])  # fmt: skip
        mode = "full"
        if state is not None and not full:
            e, m = Exposure.__table__, MetricObservation.__table__
            new_units = sa.select(e.c.unit_id).where(
                e.c.experiment_id == experiment_id, e.c.id > state["exposure_max_id"]
            )
            again = conn.execute(
                sa.select(sa.func.count()).select_from(
                    sa.select(e.c.unit_id).where(e.c.experiment_id == experiment_id, e.c.unit_id.in_(new_units))
                    .group_by(e.c.unit_id).having(sa.func.count() > 1).subquery()
                )
            ).scalar_one()  # fmt: skip
            if not again:
                mode = "incremental"
                new_e = _count_after(conn, e, experiment_id, state["exposure_max_id"])
                new_m = _count_after(conn, m, experiment_id, state["metric_max_id"])
                old_cells, old_exposures = _read_rollup(conn, experiment_id)
                # The fields seen so far (the exposure rollup has a row for each) and any the new rows bring.
                known = set(old_exposures["field"]) - {""}
                fields = sorted(known | set(cohort_fields(conn, experiment_id, state["exposure_max_id"])))
                cells, exposures = _delta(conn, experiment_id, state["exposure_max_id"], state["metric_max_id"],
                                          fields)  # fmt: skip
                cells = _merge(old_cells, cells, ["variant", "field", "segment", "metric"])
                exposures = _merge(old_exposures, exposures, ["variant", "field", "segment"])
                units_total, multi = state["units_total"] + new_e, state["multi_units"]
                e_rows, m_rows = state["exposure_rows"] + new_e, state["metric_rows"] + new_m
        if mode == "full":
            cells, exposures, units_total, multi = _full(conn, experiment_id)
            overall = exposures[exposures["field"] == ""]
            e_rows = int(overall["units"].sum()) if len(overall) else 0
            m_rows = int(
                conn.execute(
                    sa.select(sa.func.count()).where(MetricObservation.__table__.c.experiment_id == experiment_id)
                ).scalar_one()
            )
        _write_rollup(conn, experiment_id, cells, exposures)
        now = utcnow()
        values = {
            "exposure_rows": e_rows, "exposure_max_id": e_max, "metric_rows": m_rows, "metric_max_id": m_max,
            "units_total": int(units_total), "multi_units": int(multi), "refreshed_at": now,
            "generation": (state["generation"] if state is not None else 0) + 1,
        }  # fmt: skip
        if mode == "full":
            values["rebuilt_at"] = now
        if state is None:
            conn.execute(sa.insert(state_t).values(experiment_id=experiment_id, **values))
        else:
            conn.execute(sa.update(state_t).where(state_t.c.experiment_id == experiment_id).values(**values))
        return RollupStatus(mode, time.perf_counter() - started, e_rows, m_rows, values["generation"])


def aggregate(engine: Engine, experiment_id: int, *, refresh: bool = True) -> Aggregates:
    """The sums for a readout, from the rollups (brought up to date first unless refresh=False)."""
    started = time.perf_counter()
    if refresh:
        refresh_rollup(engine, experiment_id)
    state_t = ExperimentRollupState.__table__
    with engine.connect() as conn:
        cells, exposures = _read_rollup(conn, experiment_id)
        state = conn.execute(sa.select(state_t).where(state_t.c.experiment_id == experiment_id)).mappings().first()
    units_total = state["units_total"] if state else 0
    multi = state["multi_units"] if state else 0
    cells, exposures = _with_none(cells, exposures)
    return Aggregates(cells, exposures, units_total, multi, time.perf_counter() - started)


def aggregate_raw(engine: Engine, experiment_id: int) -> Aggregates:
    """The same sums straight from the source rows, without the rollups (tests and checks)."""
    started = time.perf_counter()
    with engine.connect() as conn:
        cells, exposures, units_total, multi = _full(conn, experiment_id)
    cells, exposures = _with_none(cells, exposures)
    return Aggregates(cells, exposures, units_total, multi, time.perf_counter() - started)


def _with_none(cells: pd.DataFrame, exposures: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add, for each cohort field, the units without it (segment NONE): the overall sums minus the sums
    over the field's values (the sums are additive; min_y and max_y are unknown there, NaN)."""

    def add(frame: pd.DataFrame, keys: list[str], sums: list[str]) -> pd.DataFrame:
        if frame.empty:
            return frame
        overall = frame[frame["field"] == ""].groupby(keys)[sums].sum()
        parts = [frame]
        for name in sorted(set(frame["field"]) - {""}):
            mine = frame[frame["field"] == name].groupby(keys)[sums].sum().reindex(overall.index, fill_value=0)
            rest = overall - mine
            lead = "n" if "n" in sums else "units"
            rest = rest[rest[lead] > 0.5].reset_index()
            if len(rest):
                parts.append(rest.assign(field=name, segment=NONE))
        out = pd.concat(parts, ignore_index=True)
        return out[frame.columns]

    return add(cells, ["variant", "metric"], list(SUMS)), add(exposures, ["variant"], ["units"])


def data_version(engine: Engine, experiment_id: int) -> int:
    """A number that changes whenever the experiment's rollups do (for caching a readout)."""
    state_t = ExperimentRollupState.__table__
    with engine.connect() as conn:
        value = conn.execute(sa.select(state_t.c.generation).where(state_t.c.experiment_id == experiment_id)).scalar()
    return int(value or 0)


# --- the statistics ----------------------------------------------------------------------------------


def _variants(exp: Experiment) -> tuple[str, tuple[str, ...], np.ndarray]:
    keys = tuple(v["key"] for v in exp.variants or ())
    if len(keys) < 2:
        raise InvalidInput(f"Experiment {exp.key} has fewer than two variants: nothing to compare.")
    control = "control" if "control" in keys else keys[0]
    ordered = (control, *[k for k in keys if k != control])
    by_key = {v["key"]: float(v.get("allocation") or 0) for v in exp.variants}
    return control, ordered, np.asarray([by_key[k] for k in ordered], dtype=float)


def _metric_table(exp: Experiment, cells: pd.DataFrame) -> pd.DataFrame:
    """Registered metrics first (primary, secondary, guardrails), then any other metric in the data."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(metric: str, role: str, direction: str) -> None:
        if metric and metric not in seen:
            seen.add(metric)
            rows.append({"metric": metric, "role": role, "direction": direction})

    add(exp.primary_metric, "primary", "higher")
    for metric in exp.secondary_metrics or ():
        add(metric, "secondary", "higher")
    for g in exp.guardrail_metrics or ():
        add(g["metric"], "guardrail", "lower" if g.get("bad_direction", "increase") == "increase" else "higher")
    for metric in sorted(set(cells["metric"]) - seen) if len(cells) else ():
        add(metric, "other", "higher")
    table = pd.DataFrame(rows, columns=["metric", "role", "direction"])
    stats = (
        cells.groupby("metric").agg(
            min_y=("min_y", "min"), max_y=("max_y", "max"), sum_y=("sum_y", "sum"), sum_y2=("sum_y2", "sum"),
            n=("n", "sum"), n_pre=("n_pre", "sum"),
        )
        if len(cells)
        else pd.DataFrame(columns=["min_y", "max_y", "sum_y", "sum_y2", "n", "n_pre"])
    )  # fmt: skip
    table = table.join(stats, on="metric")
    # 0/1 values only <=> all in [0, 1] and sum(y^2) == sum(y) (y^2 < y strictly inside (0, 1)).
    binary = (
        (table["min_y"] >= 0)
        & (table["max_y"] <= 1)
        & np.isclose(table["sum_y2"].astype(float), table["sum_y"].astype(float), rtol=0, atol=1e-9)
    )
    table["type"] = np.where(binary.fillna(False), "conversion", "mean")
    table["cuped"] = table["n_pre"].fillna(0) > 0
    table["observations"] = table["n"].fillna(0).astype(int)
    return table[["metric", "role", "type", "direction", "cuped", "observations"]].reset_index(drop=True)


def _segment_labels(exposures: pd.DataFrame) -> tuple[dict[Any, str], tuple[str, ...]]:
    """One field's exposures: value -> label (top 20 by units, the rest OTHER; NONE counts as a value)."""
    if exposures.empty or (exposures["segment"] == NONE).all():
        return {}, ()
    units = exposures.groupby("segment")["units"].sum().sort_values(ascending=False)
    top = list(units.index[:TOP_SEGMENTS])
    mapping = {value: value if value in top else OTHER for value in units.index}
    labels = tuple(top) + ((OTHER,) if len(units) > TOP_SEGMENTS else ())
    return mapping, labels


def _cube(
    cells: pd.DataFrame, segments: list[str], metrics: list[str], variants: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Sums as arrays [segment, metric, variant] (zeros where there is no data)."""
    shape = (len(segments), len(metrics), len(variants))
    out = {c: np.zeros(shape) for c in SUMS}
    if cells.empty:
        return out
    s_idx = pd.Index(segments).get_indexer(cells["seg"])
    m_idx = pd.Index(metrics).get_indexer(cells["metric"])
    v_idx = pd.Index(variants).get_indexer(cells["variant"])
    ok = (s_idx >= 0) & (m_idx >= 0) & (v_idx >= 0)
    for c in SUMS:
        np.add.at(out[c], (s_idx[ok], m_idx[ok], v_idx[ok]), cells[c].to_numpy(dtype=float)[ok])
    return out


def _grouped(
    keys: np.ndarray, fn: Callable[[np.ndarray, Any], dict[str, np.ndarray]], size: int
) -> dict[str, np.ndarray]:
    """Call `fn(mask, key)` for each distinct key (e.g. (type, direction)) and scatter its arrays back."""
    out: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(keys.tolist()):
        mask = np.asarray([k == key for k in keys.tolist()])
        part = fn(mask, key)
        for name, values in part.items():
            if name not in out:
                out[name] = np.full(size, np.nan, dtype=object if values.dtype.kind in "OUS" else float)
            out[name][mask] = values
    return out


@dataclass(frozen=True, eq=False)
class _Comparisons:
    """Every comparison flattened to arrays in C order of (segment group, metric, treatment arm)."""

    groups: list[tuple[str, str]]
    n_metrics: int
    n_treatments: int
    met_idx: np.ndarray
    mtype: np.ndarray
    direction: np.ndarray
    role: np.ndarray
    has_pre: np.ndarray
    ctrl: dict[str, np.ndarray]  # the control arm's sums, repeated per treatment arm
    trt: dict[str, np.ndarray]  # each treatment arm's sums
    mean_c: np.ndarray
    var_c: np.ndarray
    mean_t: np.ndarray
    var_t: np.ndarray
    keys: np.ndarray  # "type|good direction" of each comparison

    @property
    def size(self) -> int:
        return len(self.groups) * self.n_metrics * self.n_treatments


def _segment_cube(
    agg: Aggregates, options: ReadoutOptions, overall_cells: pd.DataFrame, metric_names: list[str],
    variants: tuple[str, ...],
) -> tuple[list[tuple[str, str]], dict[str, tuple[str, ...]], dict[str, dict], dict[str, np.ndarray]]:  # fmt: skip
    """Segments: (field, label) groups after the overall one, each field's values mapped to its labels,
    and the sums cube over all groups."""
    seg_labels: dict[str, tuple[str, ...]] = {}
    mappings: dict[str, dict] = {}
    fields = sorted(set(agg.exposures["field"]) - {""}) if options.segments and len(agg.exposures) else []
    for f in fields:
        mapping, labels = _segment_labels(agg.exposures[agg.exposures["field"] == f])
        if labels:
            seg_labels[f], mappings[f] = labels, mapping
    groups = [("", ALL)] + [(f, label) for f, labels in seg_labels.items() for label in labels]
    cube = _cube(overall_cells.assign(seg=_group_key("", ALL)), [_group_key("", ALL)], metric_names, variants)
    if seg_labels:
        cells = agg.cells[agg.cells["field"].isin(list(seg_labels))]
        label = pd.Series(OTHER, index=cells.index, dtype=object)
        for f, mapping in mappings.items():
            mine = (cells["field"] == f).to_numpy()
            label[mine] = cells.loc[mine, "segment"].map(mapping).fillna(OTHER)
        cells = cells.assign(seg=cells["field"].astype(str) + "\x1f" + label.astype(str))
        seg_cube = _cube(cells, [_group_key(f, lab) for f, lab in groups[1:]], metric_names, variants)
        cube = {c: np.concatenate([cube[c], seg_cube[c]], axis=0) for c in SUMS}
    return groups, seg_labels, mappings, cube


def _flatten(
    cube: dict[str, np.ndarray], groups: list[tuple[str, str]], metrics_table: pd.DataFrame, n_variants: int
) -> _Comparisons:
    """Flatten the cube to comparisons: (segment, metric, treatment) in C order."""
    S, M, T = len(groups), len(metrics_table), n_variants - 1
    ctrl = {c: np.repeat(cube[c][:, :, 0][:, :, None], T, axis=2).ravel() for c in SUMS}
    trt = {c: cube[c][:, :, 1:].ravel() for c in SUMS}
    met_idx = np.tile(np.repeat(np.arange(M), T), S)
    mtype = metrics_table["type"].to_numpy()[met_idx]
    direction = metrics_table["direction"].to_numpy()[met_idx]
    n_c, n_t = ctrl["n"], trt["n"]
    sy_c, sy_t = ctrl["sum_y"], trt["sum_y"]
    mean_c, var_c = abtest.summary_from_sums(n_c, sy_c, ctrl["sum_y2"])
    mean_t, var_t = abtest.summary_from_sums(n_t, sy_t, trt["sum_y2"])
    conv = mtype == "conversion"
    pc, vc = abtest.conversion_summary(n_c, sy_c)
    pt, vt = abtest.conversion_summary(n_t, sy_t)
    return _Comparisons(
        groups=groups, n_metrics=M, n_treatments=T, met_idx=met_idx, mtype=mtype, direction=direction,
        role=metrics_table["role"].to_numpy()[met_idx], has_pre=metrics_table["cuped"].to_numpy()[met_idx],
        ctrl=ctrl, trt=trt, mean_c=np.where(conv, pc, mean_c), var_c=np.where(conv, vc, var_c),
        mean_t=np.where(conv, pt, mean_t), var_t=np.where(conv, vt, var_t),
        keys=np.asarray([f"{a}|{b}" for a, b in zip(mtype, direction, strict=True)], dtype=object),
    )  # fmt: skip


def _frequentist(cmp: _Comparisons, kw: dict[str, Any], mask: np.ndarray, key: str) -> dict[str, np.ndarray]:
    kind, good = key.split("|")
    n_c, n_t = cmp.ctrl["n"][mask], cmp.trt["n"][mask]
    if kind == "conversion":
        r = abtest.two_proportion_ztest_arrays(
            n_c, cmp.ctrl["sum_y"][mask], n_t, cmp.trt["sum_y"][mask], direction=good, **kw
        )
    else:
        r = abtest.welch_ttest_arrays(
            n_c, cmp.mean_c[mask], cmp.var_c[mask], n_t, cmp.mean_t[mask], cmp.var_t[mask], direction=good, **kw
        )
    return {
        "abs_lift": r.abs_lift, "abs_ci_low": r.abs_ci_low, "abs_ci_high": r.abs_ci_high,
        "rel_lift": r.rel_lift, "rel_ci_low": r.rel_ci_low, "rel_ci_high": r.rel_ci_high,
        "p_value": r.p_value, "ci_low": r.ci_low, "ci_high": r.ci_high, "estimate": r.estimate,
        "verdict": r.verdict.astype(object),
    }  # fmt: skip


def _sequential(
    cmp: _Comparisons, options: ReadoutOptions, kw: dict[str, Any], mask: np.ndarray, key: str
) -> dict[str, np.ndarray]:
    r = sequential.sequential_test_arrays(
        cmp.ctrl["n"][mask], cmp.mean_c[mask], cmp.var_c[mask], cmp.trt["n"][mask], cmp.mean_t[mask],
        cmp.var_t[mask], tuning_n=options.tuning_n, direction=key.split("|")[1], **kw,
    )  # fmt: skip
    return {"seq_ci_low": r.ci_low, "seq_ci_high": r.ci_high, "seq_p_value": r.p_value,
            "seq_verdict": r.verdict.astype(object)}  # fmt: skip


def _bayesian(
    cmp: _Comparisons, options: ReadoutOptions, kw: dict[str, Any], mask: np.ndarray, key: str
) -> dict[str, np.ndarray]:
    r = bayesian.bayesian_test_arrays(
        cmp.ctrl["n"][mask], cmp.mean_c[mask], cmp.var_c[mask], cmp.trt["n"][mask], cmp.mean_t[mask],
        cmp.var_t[mask], prior=options.prior, threshold=options.chance_to_win_threshold,
        direction=key.split("|")[1], **kw,
    )  # fmt: skip
    return {
        "bayes_estimate": r.estimate, "bayes_ci_low": r.ci_low, "bayes_ci_high": r.ci_high,
        "chance_to_win": r.chance_to_win, "risk_control": r.risk_control, "risk_treatment": r.risk_treatment,
        "bayes_verdict": r.verdict.astype(object),
    }  # fmt: skip


def _cuped(cmp: _Comparisons, kw: dict[str, Any], mask: np.ndarray, key: str) -> dict[str, np.ndarray]:
    sums_c = cuped.CupedSums(**{c: cmp.ctrl[c][mask] for c in SUMS[:-1]})
    sums_t = cuped.CupedSums(**{c: cmp.trt[c][mask] for c in SUMS[:-1]})
    r = cuped.cuped_arrays(sums_c, sums_t, direction=key.split("|")[1], **kw)
    a = r.adjusted
    return {
        "cuped_estimate": a.estimate, "cuped_ci_low": a.ci_low, "cuped_ci_high": a.ci_high,
        "cuped_p_value": a.p_value, "cuped_verdict": a.verdict.astype(object),
        "variance_reduction": r.variance_reduction, "theta": r.theta,
    }  # fmt: skip


def _readings(
    cmp: _Comparisons, options: ReadoutOptions, alpha: float, timings: dict[str, float]
) -> dict[str, np.ndarray]:
    """The four readings of every comparison (CUPED only where the metric has pre-period values)."""
    kw = {"alpha": alpha, "difference_type": options.difference_type}
    size, keys, has_pre = cmp.size, cmp.keys, cmp.has_pre
    t = time.perf_counter()
    out = _grouped(keys, lambda mask, key: _frequentist(cmp, kw, mask, key), size)
    timings["frequentist"] = time.perf_counter() - t
    t = time.perf_counter()
    out.update(_grouped(keys, lambda mask, key: _sequential(cmp, options, kw, mask, key), size))
    timings["sequential"] = time.perf_counter() - t
    t = time.perf_counter()
    out.update(_grouped(keys, lambda mask, key: _bayesian(cmp, options, kw, mask, key), size))
    timings["bayesian"] = time.perf_counter() - t
    t = time.perf_counter()
    cuped_keys = np.where(has_pre, keys, "-")
    cuped_out = _grouped(cuped_keys, lambda mask, key: {} if key == "-" else _cuped(cmp, kw, mask, key), size)
    for name in ("cuped_estimate", "cuped_ci_low", "cuped_ci_high", "cuped_p_value", "variance_reduction", "theta"):
        out[name] = np.asarray(cuped_out.get(name, np.full(size, np.nan)), dtype=float)
        out[name][~has_pre] = np.nan
    verdict = np.asarray(cuped_out.get("cuped_verdict", np.full(size, None, dtype=object)), dtype=object)
    verdict[~has_pre] = None
    out["cuped_verdict"] = verdict
    timings["cuped"] = time.perf_counter() - t
    return out


def _correct(out: dict[str, np.ndarray], cmp: _Comparisons, options: ReadoutOptions, alpha: float) -> None:
    """Multiple testing across goal metrics x arms, per segment: fixed-horizon and CUPED p-values (in place)."""
    out["p_adjusted"] = np.full(cmp.size, np.nan)
    out["cuped_p_adjusted"] = np.full(cmp.size, np.nan)
    if not options.correction:
        return
    goal = np.isin(cmp.role, ("primary", "secondary"))
    shape = (len(cmp.groups), cmp.n_metrics * cmp.n_treatments)
    for p_name, adj_name, low, high, est, verdict_name in (
        ("p_value", "p_adjusted", "ci_low", "ci_high", "estimate", "verdict"),
        ("cuped_p_value", "cuped_p_adjusted", "cuped_ci_low", "cuped_ci_high", "cuped_estimate", "cuped_verdict"),
    ):
        p = np.where(goal, out[p_name].astype(float), np.nan).reshape(shape)
        res = multiple.adjust_p_values_arrays(p, method=options.correction, alpha=alpha)
        adj = res.adjusted_p_values.ravel()
        out[adj_name] = adj
        ci = multiple.adjusted_intervals(out[est], out[low], out[high], adj, alpha=alpha)
        sel = goal & ~np.isnan(adj)
        out[low] = np.where(sel, ci.ci_low, out[low])
        out[high] = np.where(sel, ci.ci_high, out[high])
        new = abtest.verdicts(adj < alpha, out[est], cmp.direction)
        out[verdict_name] = np.where(sel, new, out[verdict_name]).astype(object)


def _results_frame(
    cmp: _Comparisons, out: dict[str, np.ndarray], metric_names: list[str], variants: tuple[str, ...],
    planned: float,
) -> pd.DataFrame:  # fmt: skip
    M, T = cmp.n_metrics, cmp.n_treatments
    n_c, n_t = cmp.ctrl["n"], cmp.trt["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        progress = np.minimum(n_c, n_t) / planned
    return pd.DataFrame(
        {
            "field": np.repeat(np.asarray([f for f, _ in cmp.groups], dtype=object), M * T),
            "segment": np.repeat(np.asarray([label for _, label in cmp.groups], dtype=object), M * T),
            "metric": np.asarray(metric_names, dtype=object)[cmp.met_idx],
            "role": cmp.role,
            "type": cmp.mtype,
            "direction": cmp.direction,
            "variant": np.tile(np.asarray(variants[1:], dtype=object), len(cmp.groups) * M),
            "n_control": n_c.astype(int),
            "n_treatment": n_t.astype(int),
            "mean_control": cmp.mean_c,
            "mean_treatment": cmp.mean_t,
            **{c: out[c] for c in RESULT_COLUMNS if c not in ("n_control", "n_treatment", "mean_control",
                                                              "mean_treatment", "progress")},
            "progress": progress,
            "cuped_p_adjusted": out["cuped_p_adjusted"],
            "estimate": out["estimate"],
        }
    )  # fmt: skip


def _arms(
    agg: Aggregates, variants: tuple[str, ...], allocation: np.ndarray, planned: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """The arms' table (planned share, units, share, progress) and the units exposed to each arm."""
    V = len(variants)
    overall_exposures = agg.exposures[agg.exposures["field"] == ""] if len(agg.exposures) else agg.exposures
    units = overall_exposures.groupby("variant")["units"].sum() if len(agg.exposures) else pd.Series(dtype=float)
    arm_units = np.asarray([float(units.get(v, 0)) for v in variants])
    frame = pd.DataFrame(
        {
            "variant": variants,
            "planned_share": allocation / allocation.sum(),
            "units": arm_units.astype(int),
            "share": arm_units / arm_units.sum() if arm_units.sum() else np.zeros(V),
            "planned_units": [int(planned) if planned == planned else None] * V,
            "progress": arm_units / planned if planned == planned else np.full(V, np.nan),
        }
    )
    return frame, arm_units


def compute(
    exp: Experiment, agg: Aggregates, options: ReadoutOptions = ReadoutOptions(), as_of: datetime | None = None
) -> Readout:
    """Every reading of every comparison from the aggregates (no database)."""
    options = options.check()
    t0 = time.perf_counter()
    control, variants, allocation = _variants(exp)
    alpha = float(exp.alpha or 0.05)
    overall_cells = agg.cells[agg.cells["field"] == ""] if len(agg.cells) else agg.cells
    metrics_table = _metric_table(exp, overall_cells)
    metric_names = list(metrics_table["metric"])
    groups, seg_labels, mappings, cube = _segment_cube(agg, options, overall_cells, metric_names, variants)
    cmp = _flatten(cube, groups, metrics_table, len(variants))
    timings = {"prepare": time.perf_counter() - t0}
    out = _readings(cmp, options, alpha, timings)
    t = time.perf_counter()
    _correct(out, cmp, options, alpha)
    timings["correction"] = time.perf_counter() - t
    t = time.perf_counter()
    planned = float(exp.planned_sample_size) if exp.planned_sample_size else np.nan
    results = _results_frame(cmp, out, metric_names, variants, planned)
    # Arms, health, alerts, the stopping rule and the bandit.
    arms, arm_units = _arms(agg, variants, allocation, planned)
    segment_srm = _segment_srm(agg.exposures, mappings, seg_labels, variants, allocation)
    health = _health(arm_units, allocation, agg, results, variants)
    alerts = _alerts(exp, health, results)
    stopping = _stopping(exp, results)
    arm_bandit = _bandit(exp, cube, metrics_table, variants, allocation)
    timings["rest"] = time.perf_counter() - t
    timings["statistics"] = time.perf_counter() - t0
    timings["sql"] = agg.seconds
    return Readout(
        experiment=exp, options=options, as_of=as_of or utcnow(), control=control, variants=variants, arms=arms,
        metrics=metrics_table, segments=seg_labels, results=results, segment_srm=segment_srm, health=health,
        alerts=alerts, stopping=stopping, bandit=arm_bandit, units_total=agg.units_total,
        multi_units=agg.multi_units, timings=timings,
    )  # fmt: skip


def _group_key(field: str, label: str) -> str:
    return f"{field}\x1f{label}"


def _segment_srm(
    exposures: pd.DataFrame, mappings: dict[str, dict], labels: dict[str, tuple[str, ...]],
    variants: tuple[str, ...], allocation: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    columns = ["field", "segment", "units", "srm_p"]
    parts = []
    for name, mapping in mappings.items():
        mine = exposures[exposures["field"] == name]
        frame = mine.assign(seg=mine["segment"].map(mapping).fillna(OTHER))
        table = frame.pivot_table(index="seg", columns="variant", values="units", aggfunc="sum", fill_value=0)
        table = table.reindex(index=list(labels[name]), columns=list(variants), fill_value=0)
        p = srm.srm_p_values(table.to_numpy(dtype=float), allocation)
        parts.append(pd.DataFrame({"field": name, "segment": list(labels[name]),
                                   "units": table.sum(axis=1).to_numpy(dtype=int), "srm_p": p}))  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _health(
    arm_units: np.ndarray, allocation: np.ndarray, agg: Aggregates, results: pd.DataFrame, variants: tuple[str, ...]
) -> tuple:
    items = []
    s = srm.srm_test(arm_units.astype(int).tolist(), allocation.tolist())
    items.append(HealthItem("srm", "Sample ratio", s.verdict == "ok", s.message, s.p_value))
    m = srm.min_units_check(arm_units.astype(int).tolist())
    message = m.message
    if not m.passed:
        low = ", ".join(f"{variants[i]} ({int(arm_units[i]):,})" for i in m.flagged)
        message = f"Too few units: {low} under {srm.MIN_UNITS_PER_ARM} per arm; the results are too noisy to read."
    items.append(HealthItem("min_units", "Units per arm", m.passed, message, m.value))
    overall = results[results["segment"] == ALL]
    lift = srm.large_lift_check(overall["rel_lift"].to_numpy(dtype=float), n=int(arm_units.sum()))
    message = lift.message
    if not lift.passed:
        big = overall.iloc[list(lift.flagged)]
        message += " Flagged: " + ", ".join(f"{r.metric} ({r.variant}: {r.rel_lift:+.0%})" for r in big.itertuples())
    items.append(HealthItem("large_lift", "Plausible lifts", lift.passed, message, lift.value))
    x = srm.multiple_exposure_check(agg.units_total, agg.multi_units)
    text = x.message + (" They are left out of the results." if agg.multi_units else "")
    items.append(HealthItem("multiple_exposure", "One arm per unit", x.passed, text, x.value))
    return tuple(items)


def _alerts(exp: Experiment, health: tuple[HealthItem, ...], results: pd.DataFrame) -> tuple[Alert, ...]:
    alerts = []
    srm_item = next(h for h in health if h.name == "srm")
    if not srm_item.ok:
        alerts.append(Alert("srm", srm_item.message + " Consider stopping the experiment until it is explained."))
    sequential_rule = exp.stopping_rule == "sequential"
    verdict_col = "seq_verdict" if sequential_rule else "verdict"
    bad = results[(results["segment"] == ALL) & (results["role"] == "guardrail") & (results[verdict_col] == "lose")]
    for r in bad.itertuples():
        low, high = (r.seq_ci_low, r.seq_ci_high) if sequential_rule else (r.rel_ci_low, r.rel_ci_high)
        worse = "higher" if r.direction == "lower" else "lower"
        alerts.append(
            Alert(
                "guardrail",
                f"Guardrail {r.metric} is significantly worse in {r.variant}: {worse} than control by "
                f"{abs(r.rel_lift):.1%} (CI {low:+.2%} to {high:+.2%}). Consider stopping the experiment.",
                metric=r.metric,
                variant=r.variant,
            )
        )
    return tuple(alerts)


def _stopping(exp: Experiment, results: pd.DataFrame) -> StopAdvice:
    rows = results[(results["segment"] == ALL) & (results["role"] == "primary")]
    winners = tuple(rows.loc[rows["seq_verdict"] == "win", "variant"])
    losers = tuple(rows.loc[rows["seq_verdict"] == "lose", "variant"])
    if exp.stopping_rule == "sequential":
        if winners:
            msg = (
                f"The sequential rule allows stopping early for a win: {', '.join(winners)} beat(s) control on "
                f"{exp.primary_metric} (the always-valid interval excludes 0)."
            )
        elif losers:
            msg = f"{', '.join(losers)} is worse than control on {exp.primary_metric} with always-valid confidence."
        else:
            msg = (
                "Sequential rule: keep going; no arm beats control on the primary metric with always-valid "
                "confidence yet."
            )
        return StopAdvice("sequential", bool(winners), winners, msg)
    progress = rows["progress"].min() if len(rows) else float("nan")
    reached = f" ({progress:.0%} of the planned sample so far)" if progress == progress else ""
    msg = f"Fixed horizon: read the result once the planned sample is reached{reached}; do not stop early on a peek."
    return StopAdvice("fixed", False, (), msg)


def _bandit(
    exp: Experiment, cube: dict[str, np.ndarray], metrics_table: pd.DataFrame, variants, allocation: np.ndarray
) -> bandit.BanditWeights | None:
    names = list(metrics_table["metric"])
    if exp.primary_metric not in names:
        return None
    i = names.index(exp.primary_metric)
    n = cube["n"][0, i, :]
    if n.sum() == 0 or np.any(n == 0):
        return None
    if metrics_table.loc[i, "type"] == "conversion":
        return bandit.thompson_weights_conversion(
            n.astype(int).tolist(), cube["sum_y"][0, i, :].round().astype(int).tolist(), current_weights=allocation
        )
    mean, var = abtest.summary_from_sums(n, cube["sum_y"][0, i, :], cube["sum_y2"][0, i, :])
    if np.any(~np.isfinite(var)):
        return None
    return bandit.thompson_weights_mean(n.tolist(), mean.tolist(), var.tolist(), current_weights=allocation)


# --- the service entry points -------------------------------------------------------------------


def read_experiment(engine: Engine, key: str | int, options: ReadoutOptions = ReadoutOptions()) -> Readout:
    """The whole readout of one experiment (anybody signed in may read)."""
    exp = experiments.find_experiment(engine, key)
    options = options.check()
    agg = aggregate(engine, exp.id)
    return compute(exp, agg, options)


def bandit_history(engine: Engine, key: str | int, freq: str = "D") -> pd.DataFrame:
    """Thompson weights recomputed from the data up to the end of each day (or week, freq="W") on the
    primary metric, by exposure time: columns period, variant, units, weight, updated."""
    exp = experiments.find_experiment(engine, key)
    control, variants, allocation = _variants(exp)
    e, m = Exposure.__table__, MetricObservation.__table__
    day = sa.func.date(e.c.ts).label("day")
    q = (
        sa.select(
            day,
            e.c.variant,
            sa.func.count().label("n"),
            sa.func.sum(m.c.value).label("s"),
            sa.func.sum(m.c.value * m.c.value).label("s2"),
            sa.func.min(m.c.value).label("lo"),
            sa.func.max(m.c.value).label("hi"),
        )  # fmt: skip
        .select_from(e.join(m, sa.and_(m.c.experiment_id == e.c.experiment_id, m.c.unit_id == e.c.unit_id)))
        .where(e.c.experiment_id == exp.id, m.c.metric == exp.primary_metric)
        .group_by(day, e.c.variant)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=["day", "variant", "n", "s", "s2", "lo", "hi"])
    columns = ["period", "variant", "units", "weight", "updated"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["period"] = pd.to_datetime(frame["day"].astype(str)).dt.to_period(freq).dt.start_time
    binary = frame["lo"].min() >= 0 and frame["hi"].max() <= 1 and np.isclose(frame["s"].sum(), frame["s2"].sum())
    per = frame.groupby(["period", "variant"])[["n", "s", "s2"]].sum()
    periods = sorted(per.index.get_level_values(0).unique())
    cum = np.zeros((3, len(variants)))
    rows = []
    for period in periods:
        chunk = per.loc[period].reindex(list(variants), fill_value=0)
        cum += chunk[["n", "s", "s2"]].to_numpy(dtype=float).T
        n, s, s2 = cum
        if np.any(n == 0):
            weights, updated = allocation / allocation.sum(), False
        elif binary:
            w = bandit.thompson_weights_conversion(n.astype(int).tolist(), s.round().astype(int).tolist(),
                                                   current_weights=allocation)  # fmt: skip
            weights, updated = np.asarray(w.weights), w.updated
        else:
            mean, var = abtest.summary_from_sums(n, s, s2)
            w = bandit.thompson_weights_mean(n.tolist(), mean.tolist(), np.nan_to_num(var).tolist(),
                                             current_weights=allocation)  # fmt: skip
            weights, updated = np.asarray(w.weights), w.updated
        for v, units, weight in zip(variants, n, weights, strict=True):
            rows.append({"period": period, "variant": v, "units": int(units), "weight": float(weight),
                         "updated": bool(updated)})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _clean(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), 10)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def evidence(readout: Readout, reading: str = "frequentist") -> dict[str, Any]:
    """A JSON-ready snapshot for an approval request: health, alerts, and the overall results of the
    primary and guardrail metrics as they were read."""
    overall = readout.overall
    keep = overall[overall["role"].isin(("primary", "guardrail"))]
    columns = ["metric", "role", "variant", "n_control", "n_treatment", "mean_control", "mean_treatment",
               "rel_lift", "rel_ci_low", "rel_ci_high", "p_value", "verdict", "seq_ci_low", "seq_ci_high",
               "seq_verdict", "chance_to_win"]  # fmt: skip
    return {
        "experiment": readout.experiment.key,
        "read_at": readout.as_of.isoformat(),
        "reading": reading,
        "difference_type": readout.options.difference_type,
        "units": {r.variant: int(r.units) for r in readout.arms.itertuples()},
        "health": [{"check": h.name, "ok": h.ok, "message": h.message} for h in readout.health],
        "alerts": [{"kind": a.kind, "message": a.message} for a in readout.alerts],
        "results": [{c: _clean(getattr(r, c)) for c in columns} for r in keep.itertuples()],
        "stopping": readout.stopping.message,
    }


def results_csv(readout: Readout) -> bytes:
    """All comparisons as CSV (UTF-8), for the export button."""
    frame = readout.results.drop(columns=["estimate"], errors="ignore")
    return frame.to_csv(index=False).encode("utf-8")
