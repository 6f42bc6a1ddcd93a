"""The SQL side of a readout: exposures and metric observations summed into rollup tables, kept up to
date incrementally before each readout, and read back as the Aggregates a readout computes from.

Reading 20 million metric rows joined to their exposures takes minutes in SQLite (and seconds in
Postgres) on every page view; a readout must not. So the sums live in derived tables
(experiment_rollup: variant x segment x metric; experiment_exposure_rollup: variant x segment),
brought up to date before each readout from the rows that arrived since (imports only append).
`aggregate` is the only function of the readout that touches the database (with bandit_history).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.db import write_session
from services.core.schema_experiments import (
    ExperimentExposureRollup,
    ExperimentRollup,
    ExperimentRollupState,
    Exposure,
    MetricObservation,
)
from services.core.timeutil import utcnow
from services.experiments.readout import NONE, SUMS, Aggregates

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


def _tuples(result) -> list[tuple]:
    """The rows as plain tuples: pandas builds a frame from SQLAlchemy Row objects ~10x slower (it asks
    each row for a `dtype` attribute, which a Row answers through a failing key lookup)."""
    return [tuple(row) for row in result]


def _frame(conn, query, columns: list[str], field: str = "") -> pd.DataFrame:
    """Rows of a cells / exposures query, with the field they are about ("" overall)."""
    names = [c for c in columns if c != "field"]
    frame = pd.DataFrame(_tuples(conn.execute(query)), columns=names)
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
        _tuples(conn.execute(sa.select(*[r.c[c] for c in _CELL_COLUMNS]).where(r.c.experiment_id == experiment_id))),
        columns=_CELL_COLUMNS,
    )
    exposures = pd.DataFrame(
        _tuples(
            conn.execute(sa.select(*[x.c[c] for c in _EXPOSURE_COLUMNS]).where(x.c.experiment_id == experiment_id))
        ),
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
