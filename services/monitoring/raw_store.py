"""Raw prediction rows at scale: Parquet files partitioned the Hive way by model, version and UTC day
(docs/scale.md), which DuckDB, Spark, Trino and ClickHouse read unchanged:

    <root>/model=<name>/version=<v>/day=<YYYY-MM-DD>/part-<n>.parquet

An import appends a new part file to each day it touches (a day is never rewritten for new rows); a late
outcome lives in the day summaries and, for raw queries, in the outcome table it came from. Retention
drops whole day folders older than a cutoff (summaries stay). Erasure rewrites only the part files that
hold an erased request id. The root is services/core/config.raw_store_root's (`root_for(engine)`): a
local folder today; an S3-compatible store goes behind that one function (pyarrow's S3 filesystem).
Unknown labels are nulls, never NaN.

These are storage functions, not services: the monitoring refresh (services/monitoring/summary_fold.py)
appends and rebuilds days, the audited retention and erasure services purge; nothing above services/
calls these directly.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from sqlalchemy.engine import Engine

from services.core import config

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")  # a partition value is a folder name: nothing else
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
COMPRESSION = "snappy"  # Parquet's default, read by every engine (zstd: 25% smaller, writes 2x slower)


@dataclass(frozen=True)
class EraseResult:
    rows_removed: int
    files_rewritten: int


def root_for(engine: Engine) -> Path | None:
    """The raw store of this engine's database (services/core/config.raw_store_root; None: no raw store)."""
    return config.raw_store_root(engine.url.render_as_string(hide_password=False))


def _check(model: str) -> str:
    if not NAME.match(model):
        raise ValueError("a model name in the raw store is letters, digits, '_', '.', '-' (at most 200)")
    return model


def version_dir(root: Path, model: str, version: int) -> Path:
    return Path(root) / f"model={_check(model)}" / f"version={int(version)}"


def day_dir(root: Path, model: str, version: int, day: date) -> Path:
    return version_dir(root, model, version) / f"day={day.isoformat()}"


def append(root: Path, model: str, version: int, frame: pd.DataFrame, name: str | None = None) -> dict[date, int]:
    """Appends rows (a `ts` column in UTC) as one new part file per day they fall on; returns rows per day.
    `name` (e.g. the batch's first prediction id) names the part files, so writing the same batch again
    after a crash replaces its files instead of adding copies; without it the next free number."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if "label" in table.column_names:  # NaN -> null: what SQL engines call missing
        label = pa.array(frame["label"].to_numpy(dtype=np.float64), from_pandas=True)
        table = table.set_column(table.column_names.index("label"), "label", label)
    return append_table(root, model, version, table, name)


def append_table(root: Path, model: str, version: int, table: pa.Table, name: str | None = None) -> dict[date, int]:
    """`append` for an Arrow table (a `ts` timestamp column in UTC; unknown labels as nulls)."""
    if name is not None and not NAME.match(name):
        raise ValueError("a part name is letters, digits, '_', '.', '-'")
    micros = table["ts"].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    day_numbers = micros // 86_400_000_000
    out: dict[date, int] = {}
    for number in np.unique(day_numbers):
        day = date.fromordinal(_EPOCH_ORDINAL + int(number))
        part = table.filter(pa.array(day_numbers == number))
        folder = day_dir(root, model, version, day)
        folder.mkdir(parents=True, exist_ok=True)
        n = name if name is not None else len(list(folder.glob("part-*.parquet")))
        tmp = folder / f"part-{n}.parquet.tmp"
        pq.write_table(part, tmp, compression=COMPRESSION)
        tmp.replace(folder / f"part-{n}.parquet")  # readers never see half a file
        out[day] = part.num_rows
    return out


def days(root: Path, model: str, version: int) -> list[date]:
    folder = version_dir(root, model, version)
    if not folder.exists():
        return []
    return sorted(date.fromisoformat(p.name.removeprefix("day=")) for p in folder.glob("day=*") if p.is_dir())


def read_window(root: Path, model: str, version: int, first: date, last: date,
                columns: list[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """The rows of the days from `first` to `last` (only those day folders are opened)."""
    files = [str(f) for d in days(root, model, version) if first <= d <= last
             for f in sorted(day_dir(root, model, version, d).glob("part-*.parquet"))]  # fmt: skip
    if not files:
        return pd.DataFrame(columns=columns or [])
    return ds.dataset(files, format="parquet").to_table(columns=columns).to_pandas()


def drop_days(root: Path, model: str, version: int, wanted: list[date]) -> None:
    """Removes these day folders (a rebuild writes them again from the tables)."""
    for d in wanted:
        folder = day_dir(root, model, version, d)
        if folder.exists():
            shutil.rmtree(folder)


def drop_before(root: Path, model: str, version: int, cutoff: date) -> list[date]:
    """Retention: removes every day folder before `cutoff` (the day summaries stay); returns the days dropped."""
    dropped = [d for d in days(root, model, version) if d < cutoff]
    for d in dropped:
        shutil.rmtree(day_dir(root, model, version, d))
    return dropped


def erase(root: Path, model: str, version: int, request_ids: list[str]) -> EraseResult:
    """Removes every row of these request ids from the raw files (a data subject's erasure): only part
    files holding one of them are rewritten, each through a temporary file and an atomic rename."""
    wanted = pa.array(sorted(set(request_ids)), pa.string())
    removed = rewritten = 0
    for d in days(root, model, version):
        for f in sorted(day_dir(root, model, version, d).glob("part-*.parquet")):
            ids = pq.read_table(f, columns=["request_id"]).column("request_id")
            hit = pc.is_in(ids, value_set=wanted)
            n_hit = pc.sum(hit).as_py() or 0
            if not n_hit:
                continue
            table = pq.read_table(f)
            keep = table.filter(pc.invert(hit))
            tmp = f.with_suffix(".parquet.tmp")
            pq.write_table(keep, tmp, compression=COMPRESSION)
            tmp.replace(f)
            removed += n_hit
            rewritten += 1
    return EraseResult(removed, rewritten)
