"""Raw-row queries the day summaries cannot answer, read by DuckDB in-process from the raw store
(services/monitoring/raw_store.py, a local folder or S3-compatible storage):

- `window_metrics`: counts, confusion counts, accuracy, precision, recall, F1, ROC AUC and the mean score
  of a window filtered on several cohort fields at once (the summaries' strata hold one field at a time);
- `export_window`: a window's raw rows as Parquet or CSV, capped in rows (a clear message past the cap),
  audited (raw rows leave Loopdeck).

DuckDB's httpfs extension is not used (it would download at run time): the window's part files are opened
as one pyarrow dataset (the store's filesystem: local or S3) and handed to DuckDB, which scans it with the
projection and the filters pushed down. Only the window's day folders are listed. Unknown outcomes are
nulls (a NaN label, which an older writer may have left, counts as unknown too). Labels are 0/1.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sqlalchemy.engine import Engine

from services.core import audit
from services.core.db import write_session
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role, require
from services.core.tokens import require_scope
from services.monitoring import raw_store, summary_admin

MAX_DAYS = 400
MAX_FILTER_FIELDS = 8
MAX_FILTER_VALUES = 200
EXPORT_MAX_ROWS = 500_000
FORMATS = ("parquet", "csv")
DUCKDB_CONFIG = {"threads": 2, "memory_limit": "1GB"}  # a query never takes the serving process's memory
NEEDED = ("score", "predicted_label")

Filters = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class WindowMetrics:
    """A filtered window's metrics from its raw rows; a ratio is None when its denominator is 0."""

    model_name: str
    version: int
    first: date
    last: date
    filters: dict[str, tuple[str, ...]]
    rows: int
    labelled: int  # rows whose outcome is known
    positives: int
    predicted_positive: int
    tp: int
    fp: int
    tn: int
    fn: int
    mean_score: float | None
    accuracy: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None  # Mann-Whitney with ties counted one half: exact, as sklearn's roc_auc_score
    files: int = 0


@dataclass(frozen=True)
class Export:
    data: bytes
    rows: int
    format: str
    filename: str
    columns: list[str] = field(default_factory=list)


def _clean_filters(filters: Filters | None) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for name, values in (filters or {}).items():
        values = (values,) if isinstance(values, str) else tuple(values)
        values = tuple(sorted({str(v) for v in values}))
        if not values or len(values) > MAX_FILTER_VALUES:
            raise InvalidInput(f"Filter {name!r}: give 1 to {MAX_FILTER_VALUES} values; got {len(values)}.")
        out[str(name)] = values
    if len(out) > MAX_FILTER_FIELDS:
        raise InvalidInput(f"Filter on at most {MAX_FILTER_FIELDS} cohort fields at once; got {len(out)}.")
    return out


def _check_window(model_name: str, version: int, first: date, last: date) -> None:
    if not raw_store.NAME.match(model_name or ""):
        raise InvalidInput(f"Model name {model_name!r}: letters, digits, '_', '.' or '-' (at most 200).")
    if int(version) < 1:
        raise InvalidInput(f"Version must be 1 or more; got {version}.")
    if last < first:
        raise InvalidInput(f"The window ends ({last}) before it starts ({first}).")
    span = (last - first).days + 1
    if span > MAX_DAYS:
        raise InvalidInput(f"A raw query covers at most {MAX_DAYS} days; {first} to {last} is {span}.")


def _store_of(
    engine: Engine | None, model_name: str, version: int, store: raw_store.Location | None
) -> raw_store.Location | None:
    """With an engine (the API and the page), the version must exist (else NotFound) and the store defaults to
    that database's raw store; without one, `store` (None: LOOPDECK_RAW_STORE_DIR)."""
    if engine is None:
        return store
    summary_admin.version_id(engine, model_name, version)  # NotFound when the version does not exist
    if store is not None:
        return store
    located = raw_store.root_for(engine)
    if located is None:
        raise InvalidInput("This database keeps no raw store (an in-memory SQLite database).")
    return located


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _where(schema: pa.Schema, filters: dict[str, tuple[str, ...]]) -> tuple[str, list[str]]:
    """A WHERE clause over the filters (values bound as parameters) and its parameters."""
    clauses, params = ["TRUE"], []
    for name, values in filters.items():
        if name not in schema.names:
            known = ", ".join(n for n in schema.names if n not in ("request_id", "ts")) or "none"
            raise InvalidInput(f"Unknown field {name!r} in the filter; the window's columns are: {known}.")
        kind = schema.field(name).type
        plain = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        column = _quote(name) if plain else f"CAST({_quote(name)} AS VARCHAR)"
        clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
        params += list(values)
    return " AND ".join(clauses), params


def _connect(dataset: ds.Dataset) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config=DUCKDB_CONFIG)
    con.register("raw_rows", dataset)
    return con


def _label(schema: pa.Schema) -> str:
    if "label" not in schema.names:
        return "CAST(NULL AS DOUBLE)"
    return "CASE WHEN isnan(CAST(label AS DOUBLE)) THEN NULL ELSE CAST(label AS DOUBLE) END"


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


COUNTS_SQL = """
WITH r AS (SELECT score AS s, predicted_label AS p, {label} AS y FROM raw_rows WHERE {where})
SELECT count(*), count(y), count(*) FILTER (y = 1), count(*) FILTER (p = 1),
       count(*) FILTER (y = 1 AND p = 1), count(*) FILTER (y = 0 AND p = 1), count(*) FILTER (y = 0 AND p = 0),
       count(*) FILTER (y = 1 AND p = 0), count(*) FILTER (y = p), avg(s)
FROM r
"""
# count(*) FILTER, not count_if: DuckDB's count_if is NULL when every input is NULL (a window whose outcomes
# have not arrived), where a count must be 0.
AUC_SQL = """
WITH r AS (SELECT score AS s, {label} AS y FROM raw_rows WHERE {where}),
l AS (SELECT s, y FROM r WHERE y IN (0, 1) AND s IS NOT NULL AND NOT isnan(s)),
ranked AS (SELECT y, rank() OVER (ORDER BY s) AS low, count(*) OVER (PARTITION BY s) AS ties FROM l)
SELECT sum(CASE WHEN y = 1 THEN low + (ties - 1) / 2.0 ELSE 0 END), count(*) FILTER (y = 1),
       count(*) FILTER (y = 0)
FROM ranked
"""


def _empty(model_name, version, first, last, filters) -> WindowMetrics:
    return WindowMetrics(model_name, version, first, last, filters, 0, 0, 0, 0, 0, 0, 0, 0,
                         None, None, None, None, None, None)  # fmt: skip


def window_metrics(
    actor: Actor,
    model_name: str,
    version: int,
    first: date,
    last: date,
    filters: Filters | None = None,
    store: raw_store.Location | None = None,
    engine: Engine | None = None,
) -> WindowMetrics:
    """Metrics of the rows of days `first`..`last` whose cohort fields hold one of the given values (every
    field at once). Viewers and up; a token needs the `monitoring:read` scope for the model. `store`: None is
    the engine's raw store, or without an engine LOOPDECK_RAW_STORE_DIR."""
    require_scope(actor, "monitoring:read", [model_name])  # first: a token's message names its missing scope
    require(actor, Role.viewer, "query raw rows")
    _check_window(model_name, version, first, last)
    wanted = _clean_filters(filters)
    store = _store_of(engine, model_name, version, store)
    dataset = raw_store.window_dataset(raw_store.open_store(store), model_name, version, first, last)
    if dataset is None:
        return _empty(model_name, version, first, last, wanted)
    missing = [c for c in NEEDED if c not in dataset.schema.names]
    if missing:
        raise InvalidInput(f"The raw rows of {model_name} v{version} have no {', '.join(missing)} column.")
    where, params = _where(dataset.schema, wanted)
    label = _label(dataset.schema)
    with _connect(dataset) as con:
        rows, labelled, pos, pred, tp, fp, tn, fn, right, mean = con.execute(
            COUNTS_SQL.format(label=label, where=where), params
        ).fetchone()
        rank_sum, n_pos, n_neg = con.execute(AUC_SQL.format(label=label, where=where), params).fetchone()
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    auc = None
    if n_pos and n_neg:
        auc = (float(rank_sum) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return WindowMetrics(model_name, int(version), first, last, wanted, int(rows), int(labelled), int(pos),
                         int(pred), int(tp), int(fp), int(tn), int(fn), None if mean is None else float(mean),
                         _ratio(right, labelled), precision, recall, f1, auc,
                         len(dataset.files))  # fmt: skip


def _encode(table: pa.Table, fmt: str) -> bytes:
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink, compression=raw_store.COMPRESSION)
    else:
        plain = [pa.compute.cast(c, c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
        pacsv.write_csv(pa.table(plain, names=table.column_names), sink)
    return sink.getvalue()


def export_window(
    engine: Engine,
    actor: Actor,
    model_name: str,
    version: int,
    first: date,
    last: date,
    filters: Filters | None = None,
    fmt: str = "parquet",
    max_rows: int = EXPORT_MAX_ROWS,
    store: raw_store.Location | None = None,
) -> Export:
    """The window's raw rows (filtered as window_metrics), oldest first, as Parquet or CSV bytes. Analysts
    and up (a token: the `raw:export` scope for the model); refused past `max_rows` (at most EXPORT_MAX_ROWS)
    before any row is read; audited. `store`: None is the engine's raw store."""
    require_scope(actor, "raw:export", [model_name])
    require(actor, Role.analyst, "export raw rows")
    _check_window(model_name, version, first, last)
    if fmt not in FORMATS:
        raise InvalidInput(f"Export format {fmt!r}: one of {', '.join(FORMATS)}.")
    if not 1 <= max_rows <= EXPORT_MAX_ROWS:
        raise InvalidInput(f"The export cap is 1 to {EXPORT_MAX_ROWS:,} rows; got {max_rows:,}.")
    wanted = _clean_filters(filters)
    store = _store_of(engine, model_name, version, store)
    dataset = raw_store.window_dataset(raw_store.open_store(store), model_name, version, first, last)
    table = pa.table({})
    if dataset is not None:
        where, params = _where(dataset.schema, wanted)
        with _connect(dataset) as con:
            (n,) = con.execute(f"SELECT count(*) FROM raw_rows WHERE {where}", params).fetchone()
            if n > max_rows:
                raise InvalidInput(
                    f"{model_name} v{version}, {first} to {last}: {n:,} rows match, over the export cap of "
                    f"{max_rows:,}. Export fewer days or filter on a cohort field."
                )
            order = " ORDER BY ts, request_id" if {"ts", "request_id"} <= set(dataset.schema.names) else ""
            table = con.execute(f"SELECT * FROM raw_rows WHERE {where}{order}", params).to_arrow_table()
    data = _encode(table, fmt)
    with write_session(engine) as session:
        audit.record(session, actor, "raw.export", "model", f"{model_name} v{version}", {
            "first": first.isoformat(), "last": last.isoformat(), "filters": {k: list(v) for k, v in wanted.items()},
            "rows": table.num_rows, "format": fmt, "bytes": len(data),
        })  # fmt: skip
    name = f"{model_name}-v{version}-{first.isoformat()}-{last.isoformat()}.{fmt}"
    return Export(data, table.num_rows, fmt, name, table.column_names)
