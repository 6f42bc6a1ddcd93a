"""Bulk writing inside the import's one transaction, bypassing the ORM for speed.

- Postgres: COPY ... FROM STDIN (psycopg 3) on the SQLAlchemy connection's driver connection, with
  the text built column-wise by pyarrow (no per-row Python formatting).
- SQLite: executemany on the raw sqlite3 cursor with pre-formatted values.
Values are formatted exactly as the ORM stores them, so rows read back through SQLModel are
identical on both databases: timestamps as UTC ('YYYY-MM-DD HH:MM:SS.ffffff' text on SQLite,
timestamptz on Postgres), JSON as JSON text / jsonb.

Known natural ids are found in bulk: the keys go into a temp table (executemany on SQLite, COPY on
Postgres) that is joined with the target. An empty target skips the lookup.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from services.ingest.validate import Prepared

CHUNK_ROWS = 50_000

# kind -> [(column, type)] in insert order; types: text, int, float, ts, json
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "predictions": [
        ("request_id", "text"),
        ("model_version_id", "int"),
        ("ts", "ts"),
        ("score", "float"),
        ("predicted_label", "int"),
        ("features", "json"),
        ("cohorts", "json"),
    ],
    "outcomes": [("request_id", "text"), ("ts", "ts"), ("actual_label", "int"), ("actual_value", "float")],
    "feedback": [
        ("feedback_id", "text"),
        ("request_id", "text"),
        ("ts", "ts"),
        ("source", "text"),
        ("rating", "int"),
        ("text", "text"),
        ("redactions", "int"),
        ("category", "text"),
        ("status", "text"),
        ("corrected_label", "int"),
        ("priority", "text"),
        ("version", "int"),
        ("updated_at", "ts"),
        ("updated_by", "text"),
    ],
    "exposures": [
        ("experiment_id", "int"),
        ("unit_id", "text"),
        ("variant", "text"),
        ("ts", "ts"),
        ("cohorts", "json"),
    ],
    "metrics": [
        ("experiment_id", "int"),
        ("unit_id", "text"),
        ("metric", "text"),
        ("value", "float"),
        ("pre_value", "float"),
        ("ts", "ts"),
    ],
}

TABLES = {
    "predictions": "prediction",
    "outcomes": "outcome",
    "feedback": "feedback",
    "exposures": "exposure",
    "metrics": "metric_observation",
}


def is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def driver(conn: sa.Connection):
    """The DBAPI connection under the SQLAlchemy connection (same transaction)."""
    return conn.connection.driver_connection


# --- known keys --------------------------------------------------------------------------------


def table_is_empty(conn: sa.Connection, table: str) -> bool:
    return conn.exec_driver_sql(f"SELECT 1 FROM {table} LIMIT 1").first() is None


def existing(conn: sa.Connection, table: str, columns: tuple[str, ...], keys: pd.DataFrame) -> np.ndarray:
    """Bool per row of `keys`: is this key already in `table`?"""
    n = len(keys)
    found = np.zeros(n, dtype=bool)
    if n == 0 or table_is_empty(conn, table):
        return found
    on = " AND ".join(f"t.{c} = k.k{i}" for i, c in enumerate(columns))
    if is_postgres(conn):
        # COPY the keys into a temp table and join: about twice as fast as unnest() of big arrays
        cols = ", ".join(f"k{i} {'bigint' if c == 'experiment_id' else 'text'}" for i, c in enumerate(columns))
        texts = [pa.array(np.arange(n), pa.int64()).cast(pa.string())]
        for c in columns:
            arr = _to_arrow(keys[c], "int" if c == "experiment_id" else "text")
            texts.append(arr.cast(pa.string()) if c == "experiment_id" else _copy_escape(arr))
        with driver(conn).cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS pg_temp._ingest_keys")
            cur.execute(f"CREATE TEMP TABLE _ingest_keys (pos integer, {cols}) ON COMMIT DROP")
            with cur.copy("COPY _ingest_keys FROM STDIN") as copy:
                for start in range(0, n, CHUNK_ROWS * 4):
                    copy.write(_join_copy_rows([t.slice(start, CHUNK_ROWS * 4).fill_null("\\N") for t in texts]))
            cur.execute("ANALYZE _ingest_keys")
            cur.execute(f"SELECT k.pos FROM _ingest_keys k JOIN {table} t ON {on}")
            positions = [r[0] for r in cur.fetchall()]
            cur.execute("DROP TABLE _ingest_keys")
    else:
        # Keys go in sorted, so the join probes the target's index in order (cache-friendly: random
        # probes into a big index cost several times more).
        arrow_keys = pa.table({c: _to_arrow(keys[c], "int" if c == "experiment_id" else "text") for c in columns})
        order = pc.sort_indices(arrow_keys, sort_keys=[(c, "ascending") for c in columns]).to_numpy()
        values = [arrow_keys[c].take(order).to_pylist() for c in columns]
        cur = driver(conn).cursor()
        previous = cur.execute("PRAGMA cache_size").fetchone()[0]
        cur.execute(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")
        try:
            cols = ", ".join(f"k{i} {'INTEGER' if c == 'experiment_id' else 'TEXT'}" for i, c in enumerate(columns))
            cur.execute("DROP TABLE IF EXISTS temp._ingest_keys")
            cur.execute(f"CREATE TEMP TABLE _ingest_keys (seq INTEGER PRIMARY KEY, pos INTEGER, {cols})")
            marks = ", ".join("?" * (len(columns) + 1))
            names = ", ".join(["pos"] + [f"k{i}" for i in range(len(columns))])
            cur.executemany(
                f"INSERT INTO temp._ingest_keys ({names}) VALUES ({marks})", zip(order.tolist(), *values, strict=True)
            )
            cur.execute(f"SELECT k.pos FROM temp._ingest_keys k JOIN {table} t ON {on} ORDER BY k.seq")
            positions = [r[0] for r in cur.fetchall()]
            cur.execute("DROP TABLE temp._ingest_keys")
        finally:
            cur.execute(f"PRAGMA cache_size={previous}")
            cur.close()
    if positions:
        found[np.asarray(positions, dtype=np.int64)] = True
    return found


# --- rows as arrow columns ---------------------------------------------------------------------


def _to_arrow(s: pd.Series, kind: str) -> pa.Array:
    if kind == "text":
        arr = pa.array(s.astype("str"), type=pa.string(), from_pandas=True)
    elif kind == "int":
        arr = pa.array(s.astype("Int64"), type=pa.int64(), from_pandas=True)
    elif kind == "float":
        arr = pa.array(s.to_numpy(dtype="float64", na_value=np.nan), type=pa.float64(), from_pandas=True)
    elif kind == "ts":
        arr = pa.array(s.astype("datetime64[us, UTC]"), type=pa.timestamp("us", tz="UTC"), from_pandas=True)
    else:
        raise ValueError(kind)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _has(arr: pa.Array, text: str) -> bool:
    return len(arr) > 0 and bool(pc.any(pc.match_substring(arr, text)).as_py())


def _json_escape(arr: pa.Array) -> pa.Array:
    """Text -> the inside of a JSON string literal."""
    if len(arr) and pc.any(pc.match_substring_regex(arr, r"[\x00-\x1f]")).as_py():
        return pa.array(
            [None if v is None else json.dumps(v, ensure_ascii=False)[1:-1] for v in arr.to_pylist()], pa.string()
        )
    if _has(arr, "\\"):
        arr = pc.replace_substring(arr, "\\", "\\\\")
    if _has(arr, '"'):
        arr = pc.replace_substring(arr, '"', '\\"')
    return arr


def _copy_escape(arr: pa.Array) -> pa.Array:
    """Text format of COPY: backslash, tab, newline and carriage return are escaped."""
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        if _has(arr, raw):
            arr = pc.replace_substring(arr, raw, escaped)
    return arr


def _json_number(values: pa.Array) -> pa.Array:
    """Shortest round-trip text; integral floats keep a fraction ("29.0") so they read back as floats."""
    text = pc.cast(values, pa.string())
    if pa.types.is_floating(values.type) and len(text):
        v = values.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(v) & (np.floor(v) == v)
        if integral.any():
            plain = pc.and_(pa.array(integral), pc.invert(pc.match_substring(text, "e")))
            text = pc.if_else(plain, pc.binary_join_element_wise(text, ".0", ""), text)
    return text


def _json_objects(n: int, members: list[tuple[str, pa.Array, bool]]) -> pa.Array:
    """One JSON object per row from (key, values, is_text) columns; missing values are left out.
    Text values must already be JSON-escaped."""
    if not members:
        return pa.array(["{}"] * n, pa.string())
    pieces = []
    for key, values, is_text in members:
        prefix = json.dumps(key, ensure_ascii=False) + ":"
        if is_text:
            piece = pc.binary_join_element_wise(prefix + '"', values, '",', "")
        else:
            piece = pc.binary_join_element_wise(prefix, _json_number(values), ",", "")
        pieces.append(piece.fill_null(""))
    inner = pc.binary_join_element_wise(*pieces, "") if len(pieces) > 1 else pieces[0]
    inner = pc.ascii_rtrim(inner, characters=",")
    return pc.binary_join_element_wise("{", inner, "}", "")


# Timestamps as text, exactly as SQLAlchemy stores them on SQLite ("2024-05-01 12:00:00.000000");
# built from lookup tables with numpy (pyarrow's strftime costs about 2 s per million values).
_DIGITS3 = np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8)
_CLOCK: np.ndarray | None = None
_EPOCH = date(1970, 1, 1)


def _clock() -> np.ndarray:
    global _CLOCK
    if _CLOCK is None:
        seconds = np.arange(86_400)
        hours, rest = np.divmod(seconds, 3600)
        minutes, secs = np.divmod(rest, 60)
        table = np.empty((86_400, 8), dtype=np.uint8)
        for col, v in ((0, hours), (3, minutes), (6, secs)):
            table[:, col] = v // 10 + 48
            table[:, col + 1] = v % 10 + 48
        table[:, 2] = table[:, 5] = ord(":")
        _CLOCK = table
    return _CLOCK


def format_timestamps(arr: pa.Array, suffix: str = "") -> pa.Array:
    """timestamp[us, UTC] -> 'YYYY-MM-DD HH:MM:SS.ffffff' + suffix (years 1000..9999); nulls stay null."""
    n = len(arr)
    if n == 0:
        return pa.array([], pa.string())
    us = pc.fill_null(arr.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    days, rest = np.divmod(us, 86_400_000_000)
    secs, frac = np.divmod(rest, 1_000_000)
    low, high = int(days.min()), int(days.max())
    dense = high - low < 400_000
    uniq = np.arange(low, high + 1) if dense else np.unique(days)
    dates = "".join((_EPOCH + timedelta(days=int(d))).isoformat() for d in uniq).encode("ascii")
    table = np.frombuffer(dates, dtype=np.uint8).reshape(-1, 10)
    width = 26 + len(suffix)
    out = np.empty((n, width), dtype=np.uint8)
    out[:, 0:10] = table[days - low if dense else np.searchsorted(uniq, days)]
    out[:, 10] = ord(" ")
    out[:, 11:19] = _clock()[secs]
    out[:, 19] = ord(".")
    hi, lo = np.divmod(frac, 1000)
    out[:, 20:23] = _DIGITS3[hi]
    out[:, 23:26] = _DIGITS3[lo]
    if suffix:
        out[:, 26:] = np.frombuffer(suffix.encode("ascii"), dtype=np.uint8)
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    text = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out))
    if arr.null_count:
        text = pc.if_else(pc.is_valid(arr), text, pa.scalar(None, pa.string()))
    return text


class Columns:
    """The rows of one import as whole arrow columns, formatted chunk by chunk for one database:
    SQLite gets lists of Python values for executemany, Postgres the bytes of a COPY text block."""

    def __init__(self, prep: Prepared, constants: dict[str, object], postgres: bool):
        self.kind = prep.spec.name
        self.spec = COLUMNS[self.kind]
        self.postgres = postgres
        self.arrays: dict[str, pa.Array] = {}
        for name, typ in self.spec:
            if typ == "json":
                continue
            if name in prep.columns:
                arr = _to_arrow(prep.columns[name], typ)
            else:
                arr = _constant(constants[name], typ, prep.n)
            if typ == "ts":
                arr = format_timestamps(arr, "+00" if postgres else "")
            elif typ == "text" and postgres:
                arr = _copy_escape(arr)
            self.arrays[name] = arr
        self.members: dict[str, list[tuple[str, pa.Array, bool]]] = {"features": [], "cohorts": []}
        escaped_json = False
        for name, f in prep.features:
            arr = _to_arrow(f.values, "int" if f.integer else "float" if f.numeric else "text")
            if not f.numeric:
                arr = _json_escape(arr)
                escaped_json = escaped_json or _has(arr, "\\")
            self.members["features"].append((name, arr, not f.numeric))
        for name, v in prep.cohorts:
            arr = _json_escape(_to_arrow(v, "text"))
            escaped_json = escaped_json or _has(arr, "\\")
            self.members["cohorts"].append((name, arr, True))
        # JSON text needs COPY escaping only if a value brought a backslash (JSON escapes); keys are checked too
        keys = [k for ms in self.members.values() for k, _, _ in ms]
        self.copy_escape_json = escaped_json or "\\" in json.dumps(keys, ensure_ascii=False)

    def arrow_chunk(self, rows: slice | np.ndarray) -> dict[str, pa.Array]:
        def part(a: pa.Array) -> pa.Array:
            return a.slice(rows.start, rows.stop - rows.start) if isinstance(rows, slice) else a.take(rows)

        n = (rows.stop - rows.start) if isinstance(rows, slice) else len(rows)
        out: dict[str, pa.Array] = {}
        for name, typ in self.spec:
            if typ == "json":
                out[name] = _json_objects(n, [(k, part(a), t) for k, a, t in self.members[name]])
            else:
                out[name] = part(self.arrays[name])
        return out

    def sqlite_rows(self, rows: slice | np.ndarray) -> list[tuple]:
        block = self.arrow_chunk(rows)
        return list(zip(*[block[name].to_pylist() for name, _ in self.spec], strict=True))

    def copy_block(self, rows: slice | np.ndarray) -> memoryview:
        block = self.arrow_chunk(rows)
        texts = []
        for name, typ in self.spec:
            arr = block[name]
            if typ in ("int", "float"):
                arr = pc.cast(arr, pa.string())
            elif typ == "json" and self.copy_escape_json:
                arr = _copy_escape(arr)
            texts.append(arr.fill_null("\\N"))
        return _join_copy_rows(texts)


def _constant(value: object, typ: str, n: int) -> pa.Array:
    if typ == "ts":
        return pa.array([value] * n, pa.timestamp("us", tz="UTC"))
    return pa.array([value] * n, {"text": pa.string(), "int": pa.int64(), "float": pa.float64()}[typ])


# --- writing -----------------------------------------------------------------------------------


def _join_copy_rows(columns: list[pa.Array]) -> memoryview:
    """Rows joined by tabs, each ending in a newline: the bytes COPY reads, without a Python loop."""
    line = pc.binary_join_element_wise(*columns, "\t")
    line = pc.binary_join_element_wise(line, "\n", "")
    line = line.combine_chunks() if isinstance(line, pa.ChunkedArray) else line
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)[line.offset : line.offset + len(line) + 1]
    return memoryview(line.buffers()[2])[offsets[0] : offsets[-1]]


SQLITE_IMPORT_CACHE_KIB = 262_144  # page cache while importing: fewer spills, much less system time


# Where the last insert() spent its time (seconds), for bench/bench_ingest.py.
LAST_TIMINGS: dict[str, float] = {}


def insert(
    conn: sa.Connection,
    kind: str,
    cols: Columns,
    rows: np.ndarray | None,
    total: int,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert the rows at positions `rows` (None: all `total` rows) in chunks; returns the count.
    A helper thread formats the next chunk (pyarrow releases the GIL) while this one writes."""
    spec = COLUMNS[kind]
    table = TABLES[kind]
    names = ", ".join(name for name, _ in spec)
    count = total if rows is None else len(rows)
    parts = list(_chunks(count, rows))
    written = 0
    timings = {"format_wait": 0.0, "database": 0.0}
    LAST_TIMINGS.clear()
    if is_postgres(conn):
        with driver(conn).cursor() as cur:
            start = time.perf_counter()
            with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for part, block in _prefetched(cols.copy_block, parts, timings):
                    t = time.perf_counter()
                    copy.write(block)
                    timings["database"] += time.perf_counter() - t
                    written += _size(part)
                    if progress:
                        progress(written)
                t = time.perf_counter()
            timings["database"] += time.perf_counter() - t  # the server finishing the COPY
            timings["total"] = time.perf_counter() - start
    else:
        marks = ", ".join("?" * len(spec))
        cur = driver(conn).cursor()
        previous = cur.execute("PRAGMA cache_size").fetchone()[0]
        cur.execute(f"PRAGMA cache_size=-{SQLITE_IMPORT_CACHE_KIB}")
        start = time.perf_counter()
        try:
            for part, values in _prefetched(cols.sqlite_rows, parts, timings):
                t = time.perf_counter()
                cur.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)
                timings["database"] += time.perf_counter() - t
                written += _size(part)
                if progress:
                    progress(written)
        finally:
            t = time.perf_counter()
            cur.execute(f"PRAGMA cache_size={previous}")
            timings["database"] += time.perf_counter() - t
            timings["total"] = time.perf_counter() - start
            cur.close()
    LAST_TIMINGS.update(timings)
    return written


def _size(part: slice | np.ndarray) -> int:
    return part.stop - part.start if isinstance(part, slice) else len(part)


def _prefetched(make, parts: list, timings: dict[str, float]) -> Iterator[tuple[object, object]]:
    """(part, make(part)) in order, with make() for the next part running in a helper thread."""
    if len(parts) <= 1:
        for part in parts:
            t = time.perf_counter()
            result = make(part)
            timings["format_wait"] += time.perf_counter() - t
            yield part, result
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-format") as pool:
        pending = pool.submit(make, parts[0])
        for i, part in enumerate(parts):
            t = time.perf_counter()
            result = pending.result()
            timings["format_wait"] += time.perf_counter() - t
            if i + 1 < len(parts):
                pending = pool.submit(make, parts[i + 1])
            yield part, result


def _chunks(count: int, rows: np.ndarray | None) -> Iterator[slice | np.ndarray]:
    for start in range(0, count, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, count)
        yield slice(start, stop) if rows is None else rows[start:stop]
