"""How Monitoring reads prediction data at scale: columnar day blocks, an in-process cache, samples.

Why not read `prediction` directly: features and cohorts are JSON. Fetching and parsing them costs
about 10 us a row with `json.loads` (3.5 us with pyarrow's JSON reader) on top of the SQL read with
the outcome join: several seconds per page view at 1,000,000 predictions, on every window change.

Blocks. `monitoring_block` holds one UTC day of one model version as an Arrow IPC file (lz4): the
prediction id, ts, score, predicted label, the actual label (null until its outcome arrives), one
column per feature (`f:<name>`: float64 when numeric, dictionary-encoded text when categorical) and
one per cohort field (`c:<name>`, text). A day of 8,000 predictions is about 500 KB and decodes in
about 2 ms of CPU, so a window read is a handful of blob reads on SQLite and Postgres alike, and every
app replica shares the same blocks. Why IPC and not Parquet: on 76 days of 1,000,000-row data, reading
and decoding took 0.45 s as Parquet (zstd, 21 MB: decoding dominates), 0.15-0.2 s as IPC with lz4
(39 MB) and 0.2 s as uncompressed IPC (87 MB: reading dominates); lz4 IPC is the fastest at half the
size of uncompressed, about 60 bytes per prediction. (Blocks written as Parquet by an earlier
version are still read.) Decoded blocks stay in an in-process LRU (bounded by bytes, keyed by
database, block id and generation): revisiting a window costs no I/O at all. After the Monitoring
page draws, `prefetch` decodes the version's other days in a background thread (newest first, up to
half the cache), so the next window change mostly reads from memory too.

Incremental build. `monitoring_sync` keeps the highest prediction and outcome ids already folded
into blocks. `refresh()` finds the (model version, day) pairs touched by newer predictions or newer
outcomes (one GROUP BY over the new id range), rebuilds exactly those blocks (one SQL read with the
outcome join per run of days, the JSON of a whole batch parsed in one pyarrow call) and moves the
watermark to the maxima it saw when it started (rows landing meanwhile are picked up next time).
Imports only append, and services/ingest serialises imports per table, so ids grow in commit order
and nothing is skipped; `rebuild()` redoes a version from scratch if ever needed.

When it runs: after an import of predictions or outcomes while an alert rule is enabled
(services.ingest calls `services.monitoring.alerts.evaluate_after_import`, which refreshes first), when rules are
evaluated on demand, and lazily when the Monitoring page sees the watermark behind the newest ids (two
max(id) lookups, microseconds), with a progress bar. Building 1,000,000 predictions takes about
15-20 s once (see bench/bench_monitoring.py); an import of a day's data rebuilds one or two blocks.

Samples. Tests that need raw values (the numeric drift tests) run on a fixed-size uniform sample of
each window: for each numeric column, at most SAMPLE_SIZE of its non-missing values (all of them when
there are fewer), drawn with a seed derived from the window and its data, so a view is reproducible
(columns without missing values read the same rows). Counts (categorical drift, outcome drift, cohort
sizes) and every performance metric use all rows.

What the sample does to verdicts. The default rule is fed the whole window's counts (non-missing
values in the reference, distinct values over both windows), never the sample's, so a sampled window
gets the test its whole window would get. Its p-value tests (KS, chi-square, z) are chosen only at
<= 1000 reference values, which are never sampled; the current window may be, which barely changes
their power (against 1,000 reference values, 50,000 current ones give an effective sample size
n_r n_c / (n_r + n_c) of 980; any number of them, at most 1,000). The distance tests read the sample.
The normed Wasserstein distance between two n-value samples of one distribution averages about
1.8 / sqrt(n) and stays below 4 / sqrt(n) in 99% of draws (its 99th percentile over normal, lognormal,
gamma and Poisson data together measured at 3.6-3.8 / sqrt(n), with 1,000 draws of each at n = 2,000,
2,000 at 5,000, 600 at 20,000 and 250 at 50,000): about 0.008, and under 0.018 in 99% of draws, at
n = 50,000. So a sampled verdict at the 0.1 threshold can differ from the full-data verdict only when
the full-data distance lies within about 0.018 of 0.1 (tests/services/test_monitoring.py checks both).
Jensen-Shannon on categorical columns reads exact counts, no sample. p-value tests chosen by override
(KS, Anderson-Darling) lose power on a sample: their p-values are those of the sample, which the page
says.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from services.core.db import write_session
from services.core.schema import ModelVersion, MonitoringBlock, MonitoringSync
from services.core.timeutil import utcnow

Progress = Callable[[float, str], None]

BLOCK_FORMAT = 2  # 1: Parquet (zstd), 2: Arrow IPC file (lz4)
SAMPLE_SIZE = 50_000
BATCH_DAYS = 7  # days read per SQL query while building
CACHE_BYTES = int(os.environ.get("LOOPDECK_MONITORING_CACHE_MB", "512")) * 2**20
FEATURE_PREFIX, COHORT_PREFIX = "f:", "c:"
BASE_COLUMNS = ("id", "ts", "score", "predicted_label", "label")
NUMERIC, CATEGORICAL = "numeric", "categorical"
logger = logging.getLogger(__name__)


def engine_key(engine: Engine) -> str:
    """Identifies the database in cache keys (the password is never part of it)."""
    return engine.url.render_as_string(hide_password=True)


def _is_postgres(engine_or_conn) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


# --- the watermark ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncStatus:
    last_prediction_id: int
    last_outcome_id: int
    max_prediction_id: int
    max_outcome_id: int

    @property
    def needs_refresh(self) -> bool:
        return self.max_prediction_id != self.last_prediction_id or self.max_outcome_id != self.last_outcome_id

    @property
    def first_build(self) -> bool:
        return self.last_prediction_id == 0


def sync_status(engine: Engine) -> SyncStatus:
    """Where the blocks stand against the newest prediction and outcome (two index lookups)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT last_prediction_id, last_outcome_id FROM monitoring_sync WHERE id = 1")
        ).first()
        max_p = conn.execute(sa.text("SELECT max(id) FROM prediction")).scalar() or 0
        max_o = conn.execute(sa.text("SELECT max(id) FROM outcome")).scalar() or 0
    last_p, last_o = (int(row[0]), int(row[1])) if row else (0, 0)
    return SyncStatus(last_p, last_o, int(max_p), int(max_o))


def needs_refresh(engine: Engine) -> bool:
    return sync_status(engine).needs_refresh


@dataclass(frozen=True)
class RefreshResult:
    blocks_built: int
    blocks_deleted: int
    rows: int
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.blocks_built or self.blocks_deleted)

    def summary(self) -> str:
        if not self.changed:
            return "Monitoring data is up to date."
        return (
            f"Monitoring data refreshed: {self.blocks_built:,} day block(s) built from {self.rows:,} predictions"
            + (f", {self.blocks_deleted:,} removed" if self.blocks_deleted else "")
            + f" in {self.seconds:.1f} s."
        )


def _day_sql(engine_or_conn, column: str = "p.ts") -> str:
    if _is_postgres(engine_or_conn):
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
    if not status.needs_refresh:
        return RefreshResult(0, 0, 0, 0.0)
    if status.max_prediction_id < status.last_prediction_id or status.max_outcome_id < status.last_outcome_id:
        return rebuild(engine, progress=progress)  # rows were deleted from the end: start over
    stale = _stale_days(engine, status)
    result = _build(engine, stale, progress)
    _set_watermark(engine, status.max_prediction_id, status.max_outcome_id)
    return result


def rebuild(engine: Engine, model_version_id: int | None = None, progress: Progress | None = None) -> RefreshResult:
    """Rebuild every block of one version (or of all versions) from the prediction table."""
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
    return result


def _set_watermark(engine: Engine, last_prediction_id: int, last_outcome_id: int) -> None:
    with write_session(engine) as session:
        conn = session.connection()
        insert = pg_insert if _is_postgres(conn) else sqlite_insert
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


def _store(engine: Engine, mv: int, first: date, last: date, raw: _Raw, schema: dict[str, str]) -> tuple[int, int, int]:
    """Blocks for the days [first, last] of one version from their rows; returns (built, deleted, rows)."""
    by_day = _split_days(raw)
    blocks = []
    rows = 0
    for offset in range((last - first).days + 1):
        d = first + timedelta(days=offset)
        part = by_day.get(d)
        if part is None:
            continue
        table = _block_table(part, schema)
        blocks.append((d, table))
        rows += table.num_rows
    empty_days = {first + timedelta(days=o) for o in range((last - first).days + 1)} - {d for d, _ in blocks}
    deleted = _write_blocks(engine, mv, blocks, empty_days)
    return len(blocks), deleted, rows


@dataclass
class _Raw:
    ids: list
    ts: np.ndarray  # datetime64[us], UTC
    score: list
    predicted: list
    label: list
    features: list
    cohorts: list


def _read_predictions(engine: Engine, mv: int, first: date, last: date) -> _Raw:
    """All predictions of [first, last] (UTC days) of one version, with their outcomes so far."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        try:
            if _is_postgres(conn):
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
            fetched = cursor.fetchall()
        finally:
            cursor.close()
    if not fetched:
        return _Raw([], np.array([], dtype="datetime64[us]"), [], [], [], [], [])
    ids, ts, score, predicted, label, features, cohorts = (list(c) for c in zip(*fetched, strict=True))
    if _is_postgres(engine):
        ts_arr = np.asarray(ts, dtype=np.int64).astype("datetime64[us]")
    else:
        ts_arr = np.asarray(ts, dtype="datetime64[us]")
    return _Raw(ids, ts_arr, score, predicted, label, features, cohorts)


def _split_days(raw: _Raw) -> dict[date, _Raw]:
    if not raw.ids:
        return {}
    days = raw.ts.astype("datetime64[D]")
    out: dict[date, _Raw] = {}
    for d in np.unique(days):
        idx = np.flatnonzero(days == d)
        pick = idx.tolist()
        out[d.astype(object)] = _Raw(
            [raw.ids[i] for i in pick],
            raw.ts[idx],
            [raw.score[i] for i in pick],
            [raw.predicted[i] for i in pick],
            [raw.label[i] for i in pick],
            [raw.features[i] for i in pick],
            [raw.cohorts[i] for i in pick],
        )
    return out


def parse_json_objects(texts: Sequence[str | dict | None]) -> pa.Table:
    """JSON object texts (or dicts) -> one column per key, scalar values only. pyarrow's reader parses the
    whole batch at once; values it cannot type (a key that is a number in one row and text in another,
    numbers beyond double) fall back to Python, where such a column becomes text."""
    lines = []
    simple = True
    for t in texts:
        if t is None:
            lines.append("{}")
        elif isinstance(t, dict):
            lines.append(json.dumps(t))
        else:
            if "\n" in t or "\r" in t:
                simple = False
                break
            lines.append(t if t.strip() not in ("", "null") else "{}")
    if simple:
        try:
            table = pa_json.read_json(io.BytesIO("\n".join(lines).encode("utf-8")))
            keep = [i for i, f in enumerate(table.schema) if _scalar_type(f.type)]
            return table.select(keep)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return _parse_python(texts)


def _scalar_type(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_null(t)
        or pa.types.is_timestamp(t)
    )


def _parse_python(texts: Sequence[str | dict | None]) -> pa.Table:
    dicts = []
    for t in texts:
        if t is None:
            dicts.append({})
        elif isinstance(t, dict):
            dicts.append(t)
        else:
            value = json.loads(t) if t.strip() else None
            dicts.append(value if isinstance(value, dict) else {})
    keys: dict[str, None] = {}
    for d in dicts:
        for k, v in d.items():
            if v is None or isinstance(v, bool | int | float | str):
                keys.setdefault(k, None)
    columns = {}
    for k in keys:
        values = [d.get(k) for d in dicts]
        kinds = {type(v) for v in values if v is not None}
        if kinds and kinds <= {int, float}:
            columns[k] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        elif kinds == {bool}:
            columns[k] = pa.array(values, pa.bool_())
        else:
            columns[k] = pa.array([None if v is None or isinstance(v, dict | list) else str(v) for v in values],
                                  pa.string())  # fmt: skip
    return pa.table(columns) if columns else pa.table({"__empty__": pa.nulls(len(dicts))}).drop(["__empty__"])


def _as_text(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_boolean(arr.type):
        return pa.array([None if v is None else ("true" if v else "false") for v in arr.to_pylist()], pa.string())
    if pa.types.is_floating(arr.type):
        # 3.0 -> "3", as a category label written by hand would read
        values = arr.to_pylist()
        return pa.array([None if v is None else (str(int(v)) if float(v).is_integer() else repr(v)) for v in values],
                        pa.string())  # fmt: skip
    return arr.cast(pa.string())


def _as_number(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
        return arr.cast(pa.float64())
    values = pd.to_numeric(pd.Series(arr.to_pylist(), dtype=object), errors="coerce")
    return pa.array(values.to_numpy(dtype=np.float64, na_value=np.nan), pa.float64(), from_pandas=True)


def _is_numeric_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _block_table(raw: _Raw, schema: dict[str, str]) -> pa.Table:
    n = len(raw.ids)
    columns: dict[str, pa.Array] = {
        "id": pa.array(raw.ids, pa.int64()),
        "ts": pa.array(raw.ts, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "score": pa.array(raw.score, pa.float64()),
        "predicted_label": pa.array(raw.predicted, pa.int32()),
        "label": pa.array(raw.label, pa.int32()),
    }
    features = parse_json_objects(raw.features)
    kinds: dict[str, str] = {}
    for name in features.column_names:
        arr = features[name]
        declared = schema.get(name)
        kind = declared if declared in (NUMERIC, CATEGORICAL) else (NUMERIC if _is_numeric_type(arr.type) else None)
        if kind is None:
            kind = CATEGORICAL if not pa.types.is_null(arr.type) else NUMERIC
        columns[FEATURE_PREFIX + name] = _as_number(arr) if kind == NUMERIC else _as_text(arr).dictionary_encode()
        kinds[name] = kind
    for name, kind in schema.items():  # declared features missing from the whole day: all missing
        if name not in kinds and kind in (NUMERIC, CATEGORICAL):
            columns[FEATURE_PREFIX + name] = (
                pa.nulls(n, pa.float64()) if kind == NUMERIC else pa.nulls(n, pa.string()).dictionary_encode()
            )
    cohorts = parse_json_objects(raw.cohorts)
    for name in cohorts.column_names:
        columns[COHORT_PREFIX + name] = _as_text(cohorts[name]).dictionary_encode()
    # A fixed column order: blocks of the same version then share one schema and concatenate as they are.
    names = list(BASE_COLUMNS) + sorted(c for c in columns if c not in BASE_COLUMNS)
    return pa.table({name: columns[name] for name in names})


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
            insert = pg_insert if _is_postgres(conn) else sqlite_insert
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


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockInfo:
    id: int
    model_version_id: int
    day: date
    n_rows: int
    n_labelled: int
    generation: int


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def block_index(engine: Engine, model_version_id: int) -> list[BlockInfo]:
    """The version's blocks without their data (cheap: one indexed query), by day."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, model_version_id, day, n_rows, n_labelled, generation FROM monitoring_block "
                "WHERE model_version_id = :mv ORDER BY day"
            ),
            {"mv": model_version_id},
        ).all()
    return [BlockInfo(int(r[0]), int(r[1]), _as_date(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]


@dataclass(frozen=True)
class VersionData:
    model_version_id: int
    first_day: date
    last_day: date
    n_rows: int
    n_labelled: int
    last_labelled_day: date | None


def version_data(engine: Engine) -> dict[int, VersionData]:
    """Per model version: the days its blocks cover and its row counts (one aggregate over block rows)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT model_version_id, min(day), max(day), sum(n_rows), sum(n_labelled), "
                "max(CASE WHEN n_labelled > 0 THEN day END) FROM monitoring_block GROUP BY model_version_id"
            )
        ).all()
    return {
        int(r[0]): VersionData(
            int(r[0]), _as_date(r[1]), _as_date(r[2]), int(r[3] or 0), int(r[4] or 0), _as_date(r[5]) if r[5] else None
        )
        for r in rows
    }


class _LRU:
    """A thread-safe LRU bounded by total bytes (Streamlit serves sessions from threads)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            self._data.move_to_end(key)
            return hit[0]

    def put(self, key: Any, value: Any, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes and self._data:
                _, (_, size) = self._data.popitem(last=False)
                self._bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0

    def __contains__(self, key: Any) -> bool:  # without touching the entry's recency
        with self._lock:
            return key in self._data

    @property
    def nbytes(self) -> int:
        return self._bytes


_decoded = _LRU(CACHE_BYTES)
PREFETCH_SHARE = 0.5  # a prefetch stops once the decoded blocks fill this share of the cache
PREFETCH_CHUNK = 8  # blocks per query while prefetching
_prefetching: set[tuple[str, int]] = set()
_prefetch_lock = threading.Lock()


def clear_caches() -> None:
    _decoded.clear()


def prefetch(engine: Engine, model_version_id: int) -> threading.Thread | None:
    """Decode a version's blocks into the in-process cache in a background thread, newest day first, so
    that a later window change reads no blob (the Monitoring page calls it after drawing). One thread per
    database and version at a time; it stops once the cache is PREFETCH_SHARE full, so it does not push
    out what pages have read.
    Returns the thread, or None when one is running already. Errors are logged, never raised."""
    key = (engine_key(engine), model_version_id)
    with _prefetch_lock:
        if key in _prefetching:
            return None
        _prefetching.add(key)

    def run() -> None:
        try:
            db = engine_key(engine)
            blocks = [b for b in reversed(block_index(engine, model_version_id))
                      if (db, b.id, b.generation) not in _decoded]  # fmt: skip
            for start in range(0, len(blocks), PREFETCH_CHUNK):
                if _decoded.nbytes >= PREFETCH_SHARE * _decoded.max_bytes:
                    break
                read_blocks(engine, blocks[start : start + PREFETCH_CHUNK])
        except Exception:  # a cache warm-up: the page reads the blocks itself when it needs them
            logger.warning("monitoring prefetch of model version %s failed", model_version_id, exc_info=True)
        finally:
            with _prefetch_lock:
                _prefetching.discard(key)

    thread = threading.Thread(target=run, name=f"monitoring-prefetch-{model_version_id}", daemon=True)
    thread.start()
    return thread


def _decode(blob: bytes) -> pa.Table:
    if blob[:4] == b"PAR1":  # format 1 blocks
        return pq.read_table(io.BytesIO(blob))
    return pa_ipc.open_file(pa.BufferReader(blob)).read_all()


def read_blocks(engine: Engine, blocks: Sequence[BlockInfo]) -> list[pa.Table]:
    """Decoded tables of these blocks: from the in-process cache, else one query for all missing blobs."""
    key = engine_key(engine)
    tables: dict[int, pa.Table] = {}
    missing = []
    for b in blocks:
        hit = _decoded.get((key, b.id, b.generation))
        if hit is None:
            missing.append(b)
        else:
            tables[b.id] = hit
    if missing:
        wanted = {b.id: b for b in missing}
        with engine.connect() as conn:
            for start in range(0, len(missing), 200):
                chunk = missing[start : start + 200]
                rows = conn.execute(
                    sa.select(MonitoringBlock.id, MonitoringBlock.generation, MonitoringBlock.data).where(
                        MonitoringBlock.id.in_([b.id for b in chunk])  # type: ignore[union-attr]
                    )
                ).all()
                for block_id, generation, data in rows:
                    table = _decode(bytes(data))
                    tables[int(block_id)] = table
                    if int(generation) == wanted[int(block_id)].generation:
                        _decoded.put((key, int(block_id), int(generation)), table, table.nbytes)
    return [tables[b.id] for b in blocks if b.id in tables]


def _unify(tables: list[pa.Table]) -> pa.Table:
    """One table from blocks whose columns may differ (a feature added later, a kind inferred
    differently): numeric stays float64 only where every block has it numeric, else text."""
    if all(t.schema.equals(tables[0].schema) for t in tables[1:]):
        return pa.concat_tables(tables).unify_dictionaries()
    kinds: dict[str, str] = {}
    for t in tables:
        for f in t.schema:
            if f.name in BASE_COLUMNS:
                continue
            numeric = pa.types.is_floating(f.type) or pa.types.is_integer(f.type) or pa.types.is_null(f.type)
            if not numeric or f.name.startswith(COHORT_PREFIX):
                kinds[f.name] = CATEGORICAL
            else:
                kinds.setdefault(f.name, NUMERIC)
    names = [c for c in BASE_COLUMNS] + sorted(kinds)
    fixed = []
    for t in tables:
        cols = []
        for name in names:
            if name in t.column_names:
                arr = t[name]
                if name not in BASE_COLUMNS:
                    arr = _as_number(arr) if kinds[name] == NUMERIC else _dict_text(arr)
                cols.append(arr)
            else:
                if name in BASE_COLUMNS:
                    raise ValueError(f"block without column {name}")
                cols.append(
                    pa.nulls(t.num_rows, pa.float64())
                    if kinds[name] == NUMERIC
                    else pa.nulls(t.num_rows, pa.string()).dictionary_encode()
                )
        fixed.append(pa.table(dict(zip(names, cols, strict=True))))
    return pa.concat_tables(fixed).unify_dictionaries() if fixed else pa.table({})


def _dict_text(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type) and pa.types.is_string(arr.type.value_type):
        return arr.cast(pa.dictionary(pa.int32(), pa.string()))
    return _as_text(arr).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string()))


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.Series([], dtype="int64"),
            "ts": pd.Series([], dtype="datetime64[us, UTC]"),
            "score": pd.Series([], dtype="float64"),
            "predicted_label": pd.Series([], dtype="int32"),
            "label": pd.Series([], dtype="float64"),
        }
    )


def read_frame(engine: Engine, blocks: Sequence[BlockInfo], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """These blocks' rows as one DataFrame: categorical columns as pandas categories, `label` as float
    (NaN until the outcome arrives). `columns`: only these (those a block lacks are left out)."""
    tables = read_blocks(engine, blocks)
    if not tables:
        return empty_frame()
    if columns is not None:
        tables = [t.select([c for c in columns if c in t.column_names]) for t in tables]
    frame = _unify(tables).to_pandas()
    frame["label"] = frame["label"].astype("float64")
    return frame


def uniform_sample(n: int, size: int, seed: int) -> np.ndarray | None:
    """Sorted row positions of a uniform sample without replacement, or None when n <= size (all rows)."""
    if n <= size:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=size, replace=False))


def seed_for(*parts: Any) -> int:
    """A stable seed from the parts (Python's hash() of str differs between processes)."""
    import hashlib

    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def wasserstein_sampling_error(n: int) -> float:
    """The normed Wasserstein distance that two n-value samples of one distribution stay below in 99% of
    draws (4 / sqrt(n), measured; see the module docstring)."""
    return 4.0 / math.sqrt(max(n, 1))
