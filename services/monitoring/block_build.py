"""Building the monitoring day blocks: the watermark, the incremental refresh, a full rebuild.

`refresh()` finds the (model version, day) pairs touched by predictions or outcomes newer than the
watermark in `monitoring_sync`, rebuilds exactly those blocks (one SQL read with the outcome join per
run of days, the next batch read while this one is written) and moves the watermark to the maxima it
saw when it started; `rebuild()` redoes a version from scratch. See services/monitoring/blocks.py for
the block format and why blocks exist.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as pa_ipc
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from services.core.db import write_session
from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import MonitoringBlock, MonitoringSync
from services.core.timeutil import utcnow
from services.monitoring import retention, summary_fold
from services.monitoring.block_codec import RawRows, block_table, gc_paused, take
from services.monitoring.blocks import BATCH_DAYS, BLOCK_FORMAT, Progress, is_postgres

# --- the watermark ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncStatus:
    last_prediction_id: int
    last_outcome_id: int
    max_prediction_id: int
    max_outcome_id: int
    summary_prediction_id: int = 0  # the day summaries' own watermark (services/monitoring/summary_fold.py)
    summary_outcome_id: int = 0

    @property
    def blocks_behind(self) -> bool:
        return self.max_prediction_id != self.last_prediction_id or self.max_outcome_id != self.last_outcome_id

    @property
    def needs_refresh(self) -> bool:
        """The blocks or the day summaries are behind the newest rows."""
        return self.blocks_behind or (self.summary_prediction_id, self.summary_outcome_id) != (
            self.max_prediction_id,
            self.max_outcome_id,
        )

    @property
    def first_build(self) -> bool:
        return self.last_prediction_id == 0


def sync_status(engine: Engine) -> SyncStatus:
    """Where the blocks stand against the newest prediction and outcome (two index lookups)."""
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT last_prediction_id, last_outcome_id, summary_prediction_id, summary_outcome_id "
            "FROM monitoring_sync WHERE id = 1")).first()  # fmt: skip
        max_p = conn.execute(sa.text("SELECT max(id) FROM prediction")).scalar() or 0
        max_o = conn.execute(sa.text("SELECT max(id) FROM outcome")).scalar() or 0
    last_p, last_o, sum_p, sum_o = (int(v) for v in row) if row else (0, 0, 0, 0)
    return SyncStatus(last_p, last_o, int(max_p), int(max_o), sum_p, sum_o)


def needs_refresh(engine: Engine) -> bool:
    return sync_status(engine).needs_refresh


@dataclass(frozen=True)
class RefreshResult:
    blocks_built: int
    blocks_deleted: int
    rows: int
    seconds: float
    summaries: Any = None  # summary_fold.FoldResult of the same refresh (services/monitoring/refresh.py)

    @property
    def changed(self) -> bool:
        return bool(self.blocks_built or self.blocks_deleted)

    def summary(self) -> str:
        folded = f" {self.summaries.summary()}" if self.summaries is not None else ""
        if not self.changed:
            return "Monitoring data is up to date." + folded
        return (
            f"Monitoring data refreshed: {self.blocks_built:,} day block(s) built from {self.rows:,} predictions"
            + (f", {self.blocks_deleted:,} removed" if self.blocks_deleted else "")
            + f" in {self.seconds:.1f} s."
            + folded
        )


def _day_sql(engine_or_conn, column: str = "p.ts") -> str:
    if is_postgres(engine_or_conn):
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return f"substr({column}, 1, 10)"


def _stale_days(engine: Engine, status: SyncStatus) -> dict[int, set[date]]:
    """(model version -> days) touched by predictions or outcomes newer than the watermark."""
    stale: dict[int, set[date]] = {}
    day = _day_sql(engine)
    with engine.connect() as conn:
        if status.max_prediction_id != status.last_prediction_id:
            rows = conn.execute(
                sa.text(
                    f"SELECT p.model_version_id, {day} FROM prediction p WHERE p.id > :lo AND p.id <= :hi GROUP BY 1, 2"
                ),
                {"lo": min(status.last_prediction_id, status.max_prediction_id), "hi": status.max_prediction_id},
            ).all()
            for mv, d in rows:
                stale.setdefault(int(mv), set()).add(date.fromisoformat(d))
        # On a first build every prediction's day is stale already, so every outcome's day too.
        if not status.first_build and status.max_outcome_id != status.last_outcome_id:
            rows = conn.execute(
                sa.text(
                    f"SELECT p.model_version_id, {day} FROM outcome o JOIN prediction p ON p.request_id = o.request_id "
                    "WHERE o.id > :lo AND o.id <= :hi GROUP BY 1, 2"
                ),
                {"lo": min(status.last_outcome_id, status.max_outcome_id), "hi": status.max_outcome_id},
            ).all()
            for mv, d in rows:
                stale.setdefault(int(mv), set()).add(date.fromisoformat(d))
    return stale


def _runs(days: Iterable[date], max_len: int = BATCH_DAYS) -> list[tuple[date, date]]:
    """Consecutive days grouped into [first, last] runs of at most max_len days."""
    runs: list[tuple[date, date]] = []
    for d in sorted(days):
        if runs and (d - runs[-1][1]).days == 1 and (d - runs[-1][0]).days < max_len:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def refresh(engine: Engine, progress: Progress | None = None) -> RefreshResult:
    """Bring the blocks up to date with the predictions and outcomes in the database (idempotent)."""
    status = sync_status(engine)
    if not status.blocks_behind:
        return RefreshResult(0, 0, 0, 0.0)
    if status.max_prediction_id < status.last_prediction_id or status.max_outcome_id < status.last_outcome_id:
        return rebuild(engine, progress=progress)  # rows were deleted from the end: start over
    stale = _stale_days(engine, status)
    result = _build(engine, stale, progress)
    _set_watermark(engine, status.max_prediction_id, status.max_outcome_id)
    return result


def rebuild(engine: Engine, model_version_id: int | None = None, progress: Progress | None = None) -> RefreshResult:
    """Rebuild every block of one version (or of all versions) from the prediction table, and their day
    summaries and raw-store days (services/monitoring/summary_fold.py)."""
    status = sync_status(engine)
    day = _day_sql(engine)
    where = "WHERE p.model_version_id = :mv" if model_version_id is not None else ""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(f"SELECT p.model_version_id, {day} FROM prediction p {where} GROUP BY 1, 2"),
            {"mv": model_version_id},
        ).all()
        existing = conn.execute(
            sa.text("SELECT model_version_id, day FROM monitoring_block")
            if model_version_id is None
            else sa.text("SELECT model_version_id, day FROM monitoring_block WHERE model_version_id = :mv"),
            {"mv": model_version_id},
        ).all()
    stale: dict[int, set[date]] = {}
    for mv, d in rows:
        stale.setdefault(int(mv), set()).add(date.fromisoformat(d))
    for mv, d in existing:  # days that lost their predictions are rebuilt to nothing (deleted)
        stale.setdefault(int(mv), set()).add(d if isinstance(d, date) else date.fromisoformat(str(d)))
    result = _build(engine, stale, progress)
    if model_version_id is None:
        _set_watermark(engine, status.max_prediction_id, status.max_outcome_id)
        folded = summary_fold.rebuild_all(engine)  # the day summaries and the raw store too
    else:
        folded = summary_fold.rebuild_version(engine, model_version_id)
    return RefreshResult(result.blocks_built, result.blocks_deleted, result.rows, result.seconds, folded)


def _set_watermark(engine: Engine, last_prediction_id: int, last_outcome_id: int) -> None:
    with write_session(engine) as session:
        conn = session.connection()
        insert = pg_insert if is_postgres(conn) else sqlite_insert
        values = {"id": 1, "last_prediction_id": last_prediction_id, "last_outcome_id": last_outcome_id,
                  "synced_at": utcnow()}  # fmt: skip
        stmt = insert(MonitoringSync).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={k: stmt.excluded[k] for k in ("last_prediction_id", "last_outcome_id", "synced_at")},
        )
        conn.execute(stmt)


# --- building blocks ----------------------------------------------------------------------------


def _feature_schemas(engine: Engine, version_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    ids = list(version_ids)
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ModelVersion.id, ModelVersion.feature_schema).where(ModelVersion.id.in_(ids))  # type: ignore[union-attr]
        ).all()
    return {int(i): dict(s or {}) for i, s in rows}


def _build(engine: Engine, stale: dict[int, set[date]], progress: Progress | None) -> RefreshResult:
    started = time.perf_counter()
    stale = _without_purged(engine, stale)
    schemas = _feature_schemas(engine, stale)
    work = [(mv, run) for mv in sorted(stale) for run in _runs(stale[mv])]
    total_days = sum((b - a).days + 1 for _, (a, b) in work) or 1
    built = deleted = rows = done_days = 0
    # The next batch is read from the database while this one is parsed and written (the SQL read and
    # pyarrow's parser both release the GIL).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitoring-read") as pool:
        ahead = [pool.submit(_read_predictions, engine, mv, a, b) for mv, (a, b) in work[:1]]
        for i, (mv, (first, last)) in enumerate(work):
            if progress:
                progress(done_days / total_days, f"model version {mv}: {first:%Y-%m-%d} to {last:%Y-%m-%d}")
            raw = ahead.pop(0).result()
            if i + 1 < len(work):
                nmv, (na, nb) = work[i + 1]
                ahead.append(pool.submit(_read_predictions, engine, nmv, na, nb))
            b, dl, r = _store(engine, mv, first, last, raw, schemas.get(mv, {}))
            built, deleted, rows = built + b, deleted + dl, rows + r
            done_days += (last - first).days + 1
    if progress:
        progress(1.0, "monitoring data is up to date")
    return RefreshResult(built, deleted, rows, time.perf_counter() - started)


def _without_purged(engine: Engine, stale: dict[int, set[date]]) -> dict[int, set[date]]:
    """Days before a retention purge keep their blocks: their rows are gone, so a rebuild would empty them
    (services/monitoring/retention.py); a late row landing on such a day stays out of its block."""
    protected = retention.protected_days(engine)
    kept = {mv: {d for d in days if mv not in protected or d >= protected[mv]} for mv, days in stale.items()}
    return {mv: days for mv, days in kept.items() if days}


def _store(
    engine: Engine, mv: int, first: date, last: date, raw: RawRows, schema: dict[str, str]
) -> tuple[int, int, int]:
    """Blocks for the days [first, last] of one version from their rows; returns (built, deleted, rows)."""
    by_day = _split_days(raw)
    blocks = []
    rows = 0
    for offset in range((last - first).days + 1):
        d = first + timedelta(days=offset)
        part = by_day.get(d)
        if part is None:
            continue
        table = block_table(part, schema)
        blocks.append((d, table))
        rows += table.num_rows
    empty_days = {first + timedelta(days=o) for o in range((last - first).days + 1)} - {d for d, _ in blocks}
    deleted = _write_blocks(engine, mv, blocks, empty_days)
    return len(blocks), deleted, rows


def _read_predictions(engine: Engine, mv: int, first: date, last: date) -> RawRows:
    """All predictions of [first, last] (UTC days) of one version, with their outcomes so far."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        try:
            if is_postgres(conn):
                cursor.execute(
                    "SELECT p.id, (extract(epoch FROM p.ts) * 1000000)::bigint, p.score, p.predicted_label, "
                    "o.actual_label, p.features::text, p.cohorts::text FROM prediction p "
                    "LEFT JOIN outcome o ON o.request_id = p.request_id "
                    "WHERE p.model_version_id = %s AND p.ts >= %s AND p.ts < %s",
                    (mv, start, end),
                )
            else:
                fmt = "%Y-%m-%d %H:%M:%S.%f"
                cursor.execute(
                    "SELECT p.id, p.ts, p.score, p.predicted_label, o.actual_label, p.features, p.cohorts "
                    "FROM prediction p LEFT JOIN outcome o ON o.request_id = p.request_id "
                    "WHERE p.model_version_id = ? AND p.ts >= ? AND p.ts < ?",
                    (mv, start.strftime(fmt), end.strftime(fmt)),
                )
            with gc_paused():  # see block_codec.gc_paused: a tuple per row, no cycles
                return _columns(cursor.fetchall(), is_postgres(conn))
        finally:
            cursor.close()


def _columns(fetched: list[tuple], postgres: bool) -> RawRows:
    if not fetched:
        return RawRows([], np.array([], dtype="datetime64[us]"), [], [], [], [], [])
    ids, ts, score, predicted, label, features, cohorts = zip(*fetched, strict=True)  # columns as tuples, in C
    if postgres:
        ts_arr = np.asarray(ts, dtype=np.int64).astype("datetime64[us]")
    else:
        ts_arr = np.asarray(ts, dtype="datetime64[us]")
    return RawRows(ids, ts_arr, score, predicted, label, features, cohorts)


def _split_days(raw: RawRows) -> dict[date, RawRows]:
    if not len(raw.ids):
        return {}
    days = raw.ts.astype("datetime64[D]")
    out: dict[date, RawRows] = {}
    for d in np.unique(days):
        idx = np.flatnonzero(days == d)
        out[d.astype(object)] = RawRows(take(raw.ids, idx), raw.ts[idx], take(raw.score, idx),
                                        take(raw.predicted, idx), take(raw.label, idx), take(raw.features, idx),
                                        take(raw.cohorts, idx))  # fmt: skip
    return out


def _write_blocks(engine: Engine, mv: int, blocks: list[tuple[date, pa.Table]], empty_days: set[date]) -> int:
    """Upsert the built blocks and delete the blocks of days that have no predictions any more."""
    now = utcnow()
    payloads = []
    for d, table in blocks:
        buf = io.BytesIO()
        with pa_ipc.new_file(buf, table.schema, options=pa_ipc.IpcWriteOptions(compression="lz4")) as writer:
            writer.write_table(table)
        labelled = int(table["label"].null_count)
        payloads.append(
            {"model_version_id": mv, "day": d, "n_rows": table.num_rows, "n_labelled": table.num_rows - labelled,
             "generation": 1, "format_version": BLOCK_FORMAT, "built_at": now, "data": buf.getvalue()}
        )  # fmt: skip
    deleted = 0
    with write_session(engine) as session:
        conn = session.connection()
        if payloads:
            insert = pg_insert if is_postgres(conn) else sqlite_insert
            stmt = insert(MonitoringBlock)
            stmt = stmt.on_conflict_do_update(
                index_elements=["model_version_id", "day"],
                set_={
                    "n_rows": stmt.excluded.n_rows,
                    "n_labelled": stmt.excluded.n_labelled,
                    "generation": MonitoringBlock.__table__.c.generation + 1,
                    "format_version": stmt.excluded.format_version,
                    "built_at": stmt.excluded.built_at,
                    "data": stmt.excluded.data,
                },
            )
            conn.execute(stmt, payloads)
        if empty_days:
            result = conn.execute(
                sa.delete(MonitoringBlock).where(
                    MonitoringBlock.model_version_id == mv,
                    MonitoringBlock.day.in_(sorted(empty_days)),  # type: ignore[attr-defined]
                )
            )
            deleted = int(result.rowcount or 0)
    return deleted
