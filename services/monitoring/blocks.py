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

Incremental build (services/monitoring/block_build.py; blocks encoded by block_codec.py; this
module reads them). `monitoring_sync` keeps the highest prediction and outcome ids already folded
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
the full-data distance lies within about 0.018 of 0.1 (tests/services/monitoring/test_monitoring.py checks both).
Jensen-Shannon on categorical columns reads exact counts, no sample. p-value tests chosen by override
(KS, Anderson-Darling) lose power on a sample: their p-values are those of the sample, which the page
says.
"""

from __future__ import annotations

import io
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as pa_ipc
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core import config
from services.core.schema_monitoring import MonitoringBlock

Progress = Callable[[float, str], None]

BLOCK_FORMAT = 2  # 1: Parquet (zstd), 2: Arrow IPC file (lz4)
SAMPLE_SIZE = 50_000
BATCH_DAYS = 7  # days read per SQL query while building
CACHE_BYTES = config.monitoring_cache_bytes()  # read once: the cache is sized when the process starts
FEATURE_PREFIX, COHORT_PREFIX = "f:", "c:"
BASE_COLUMNS = ("id", "ts", "score", "predicted_label", "label")
NUMERIC, CATEGORICAL = "numeric", "categorical"
logger = logging.getLogger(__name__)


def engine_key(engine: Engine) -> str:
    """Identifies the database in cache keys (the password is never part of it)."""
    return engine.url.render_as_string(hide_password=True)


def is_postgres(engine_or_conn) -> bool:
    return engine_or_conn.dialect.name == "postgresql"


def as_text(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
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


def as_number(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_null(t):
        return arr.cast(pa.float64())
    values = pd.to_numeric(pd.Series(arr.to_pylist(), dtype=object), errors="coerce")
    return pa.array(values.to_numpy(dtype=np.float64, na_value=np.nan), pa.float64(), from_pandas=True)


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


class LRU:
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


_decoded = LRU(CACHE_BYTES)
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
                    arr = as_number(arr) if kinds[name] == NUMERIC else _dict_text(arr)
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
    return as_text(arr).dictionary_encode().cast(pa.dictionary(pa.int32(), pa.string()))


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
