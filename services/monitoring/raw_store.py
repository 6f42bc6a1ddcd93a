"""Raw prediction rows at scale: Parquet files partitioned the Hive way by model, version and UTC day
(docs/scale.md), which DuckDB, Spark, Trino and ClickHouse read unchanged:

    <root>/model=<name>/version=<v>/day=<YYYY-MM-DD>/part-<n>-<random>.parquet  (or part-<name>.parquet)

The root is a local folder (the default) or S3-compatible object storage (`s3://bucket/prefix`), set by
LOOPDECK_RAW_STORE_DIR (services/core/config.py). `open_store(location)` is the one place that turns a
location into a `RawStore` (a pyarrow filesystem and the root inside it); every function here takes a store,
or a location (a folder or a URL) it opens the same way.

An import appends a new part file to each day it touches (a day is never rewritten for new rows; the random
suffix keeps two writers of one day from overwriting each other's part, and a named part is replaced whole
when its batch is written again); a late outcome lives in the day
summaries and, for raw queries, in the outcome table it came from. Retention drops whole day folders older
than a cutoff (summaries stay). Erasure rewrites only the part files that hold an erased request id: through
a temporary file and an atomic rename on a local disk; on object storage by one PUT of the whole object,
which replaces it atomically. Unknown labels are nulls, never NaN.

`root_for(engine)` is the store of a database: the configured location, else `raw` beside its SQLite file.

These are storage functions, not services: the monitoring refresh (services/monitoring/summary_fold.py)
appends and rebuilds days; the audited services that purge (retention.py, the erasure in
services/ingest/erasure.py) check the actor's role and write the audit event; nothing above services/
calls these directly.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from sqlalchemy.engine import Engine

from services.core import config

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")  # a partition value is a folder name: nothing else
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
COMPRESSION = "snappy"  # Parquet's default, read by every engine (zstd: 25% smaller, writes 2x slower)
PART = re.compile(r"^part-(\d*)([A-Za-z0-9_.-]*)\.parquet$")  # part-<n>-<random> or part-<name> (append's)


@dataclass(frozen=True)
class RawStore:
    """Where raw rows live: a pyarrow filesystem and the root inside it ("/abs/folder" or "bucket/prefix")."""

    filesystem: pafs.FileSystem
    root: str
    location: str  # as configured (a folder or s3://bucket/prefix), for messages; never credentials

    @property
    def local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)


Location = RawStore | Path | str


@dataclass(frozen=True)
class EraseResult:
    rows_removed: int
    files_rewritten: int


def _s3(location: str) -> RawStore:
    parts = urlsplit(location)
    root = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    if not parts.netloc or parts.query or parts.fragment:
        raise config.ConfigError(f"The raw store {location!r} is not s3://bucket or s3://bucket/prefix.")
    options: dict = {}
    endpoint = config.s3_endpoint_url()
    if endpoint:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if url.scheme not in ("http", "https") or not url.netloc:
            raise config.ConfigError(f"LOOPDECK_S3_ENDPOINT_URL must be http(s)://host[:port]; it is {endpoint!r}.")
        options.update(endpoint_override=url.netloc, scheme=url.scheme)
    if config.s3_region():
        options["region"] = config.s3_region()
    # credentials: the AWS SDK's own chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
    # AWS_PROFILE, instance roles); never read or stored by Loopdeck
    return RawStore(pafs.S3FileSystem(**options), root, location)


def root_for(engine: Engine) -> RawStore | None:
    """The raw store of this engine's database (services/core/config.raw_store_location; None: no raw store,
    for an in-memory SQLite database)."""
    location = config.raw_store_location(engine.url.render_as_string(hide_password=False))
    return open_store(location) if location is not None else None


def open_store(location: Location | None = None) -> RawStore:
    """The raw store at `location` (a RawStore is returned as it is); None: the default database's
    (LOOPDECK_RAW_STORE_DIR, else `raw` beside the default SQLite file)."""
    if isinstance(location, RawStore):
        return location
    text = str(location) if location is not None else config.raw_store_location()
    if not text:
        raise config.ConfigError("An in-memory database has no raw store.")
    if text.startswith("s3://"):
        return _s3(text)
    if "://" in text and not text.startswith("file://"):
        raise config.ConfigError(f"The raw store {text!r} must be a folder or s3://bucket/prefix.")
    folder = Path(text.removeprefix("file://")).expanduser().resolve()
    return RawStore(pafs.LocalFileSystem(), folder.as_posix(), str(folder))


def _check(model: str) -> str:
    if not NAME.match(model):
        raise ValueError("a model name in the raw store is letters, digits, '_', '.', '-' (at most 200)")
    return model


def version_dir(store: Location, model: str, version: int) -> str:
    return f"{open_store(store).root}/model={_check(model)}/version={int(version)}"


def day_dir(store: Location, model: str, version: int, day: date) -> str:
    return f"{version_dir(store, model, version)}/day={day.isoformat()}"


def _listing(store: RawStore, folder: str) -> list[pafs.FileInfo]:
    return store.filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True))


def _part_index(path: str) -> int:
    found = PART.match(path.rsplit("/", 1)[-1])
    return int(found.group(1)) if found and found.group(1) else -1


def parts(store: Location, model: str, version: int, day: date) -> list[str]:
    """The day's part files, in the order they were written."""
    store = open_store(store)
    files = [i.path for i in _listing(store, day_dir(store, model, version, day))
             if i.type == pafs.FileType.File and PART.match(i.base_name)]  # fmt: skip
    return sorted(files, key=lambda p: (_part_index(p), p))


def _table(frame: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if "label" in table.column_names:  # NaN -> null: what SQL engines call missing
        label = pa.array(frame["label"].to_numpy(dtype=np.float64), from_pandas=True)
        table = table.set_column(table.column_names.index("label"), "label", label)
    return table


def append(store: Location, model: str, version: int, frame: pd.DataFrame, name: str | None = None) -> dict[date, int]:
    """Appends rows (a `ts` column in UTC) as one new part file per day they fall on; returns rows per day.
    `name` (e.g. the batch's first prediction id) names the part files `part-<name>.parquet`, so writing the
    same batch again replaces its files instead of adding copies; without it, `part-<next n>-<random>`."""
    return append_table(store, model, version, _table(frame), name)


def _write(store: RawStore, table: pa.Table, path: str) -> None:
    """Readers never see half a file: a temporary file and a rename on disk; one PUT on object storage."""
    if store.local:
        pq.write_table(table, path + ".tmp", filesystem=store.filesystem, compression=COMPRESSION)
        store.filesystem.move(path + ".tmp", path)
    else:
        pq.write_table(table, path, filesystem=store.filesystem, compression=COMPRESSION)


def append_table(
    store: Location, model: str, version: int, table: pa.Table, name: str | None = None
) -> dict[date, int]:
    """`append` for an Arrow table (a `ts` timestamp column in UTC; unknown labels as nulls)."""
    store = open_store(store)
    if name is not None and not NAME.match(name):
        raise ValueError("a part name is letters, digits, '_', '.', '-' (at most 200)")
    micros = table["ts"].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    day_numbers = micros // 86_400_000_000
    out: dict[date, int] = {}
    for number in np.unique(day_numbers):
        day = date.fromordinal(EPOCH_ORDINAL + int(number))
        part = table.filter(pa.array(day_numbers == number))
        folder = day_dir(store, model, version, day)
        store.filesystem.create_dir(folder, recursive=True)
        if name is None:
            n = max((_part_index(p) for p in parts(store, model, version, day)), default=-1) + 1
            label = f"{n}-{secrets.token_hex(4)}"
        else:
            label = name
        _write(store, part, f"{folder}/part-{label}.parquet")
        out[day] = part.num_rows
    return out


def days(store: Location, model: str, version: int) -> list[date]:
    store = open_store(store)
    found = [i.base_name.removeprefix("day=") for i in _listing(store, version_dir(store, model, version))
             if i.type == pafs.FileType.Directory and i.base_name.startswith("day=")]  # fmt: skip
    return sorted(date.fromisoformat(d) for d in found)


def versions(store: Location) -> list[tuple[str, int]]:
    """Every (model, version) the store holds folders for."""
    store = open_store(store)
    out = []
    for model in _listing(store, store.root):
        if model.type != pafs.FileType.Directory or not model.base_name.startswith("model="):
            continue
        for version in _listing(store, model.path):
            number = version.base_name.removeprefix("version=")
            if version.type == pafs.FileType.Directory and number.isdigit():
                out.append((model.base_name.removeprefix("model="), int(number)))
    return sorted(out)


def window_files(store: Location, model: str, version: int, first: date, last: date) -> list[str]:
    store = open_store(store)
    return [f for d in days(store, model, version) if first <= d <= last for f in parts(store, model, version, d)]


def day_row_count(store: Location, model: str, version: int, day: date) -> int:
    """Rows in the day's part files (from their Parquet footers: no row is read)."""
    store = open_store(store)
    return sum(pq.ParquetFile(path, filesystem=store.filesystem).metadata.num_rows
               for path in parts(store, model, version, day))  # fmt: skip


def window_dataset(store: Location, model: str, version: int, first: date, last: date) -> ds.Dataset | None:
    """The days from `first` to `last` as one pyarrow dataset (None when they hold no file). Its schema unites
    the parts' (a column one import lacks reads as nulls there); only those day folders are opened."""
    store = open_store(store)
    files = window_files(store, model, version, first, last)
    if not files:
        return None
    schemas = [pq.read_schema(f, filesystem=store.filesystem) for f in files]
    schema = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    return ds.dataset(files, schema=schema, format="parquet", filesystem=store.filesystem)


def read_window(store: Location, model: str, version: int, first: date, last: date,
                columns: list[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """The rows of the days from `first` to `last`."""
    dataset = window_dataset(store, model, version, first, last)
    if dataset is None:
        return pd.DataFrame(columns=columns or [])
    return dataset.to_table(columns=columns).to_pandas()


def drop_days(store: Location, model: str, version: int, wanted: list[date]) -> None:
    """Removes these day folders (a rebuild writes them again from the tables)."""
    store = open_store(store)
    for d in wanted:
        folder = day_dir(store, model, version, d)
        if store.filesystem.get_file_info(folder).type == pafs.FileType.Directory:
            store.filesystem.delete_dir(folder)


def drop_before(store: Location, model: str, version: int, cutoff: date) -> list[date]:
    """Retention: removes every day folder before `cutoff` (the day summaries stay); returns the days dropped."""
    store = open_store(store)
    dropped = [d for d in days(store, model, version) if d < cutoff]
    for d in dropped:
        store.filesystem.delete_dir(day_dir(store, model, version, d))
    return dropped


def _rewrite(store: RawStore, path: str, keep: pa.Table) -> None:
    if keep.num_rows == 0:
        store.filesystem.delete_file(path)
    else:  # a rename on disk; on object storage the object is replaced whole when the upload completes
        _write(store, keep, path)


def erase(store: Location, model: str, version: int, request_ids: list[str]) -> EraseResult:
    """Removes every row of these request ids from the raw files (a data subject's erasure): only part
    files holding one of them are rewritten (a file left empty is deleted)."""
    store = open_store(store)
    wanted = pa.array(sorted(set(request_ids)), pa.string())
    removed = rewritten = 0
    for d in days(store, model, version):
        for f in parts(store, model, version, d):
            ids = pq.read_table(f, columns=["request_id"], filesystem=store.filesystem).column("request_id")
            hit = pc.is_in(ids, value_set=wanted)
            n_hit = pc.sum(hit).as_py() or 0
            if not n_hit:
                continue
            table = pq.read_table(f, filesystem=store.filesystem)
            _rewrite(store, f, table.filter(pc.invert(hit)))
            removed += n_hit
            rewritten += 1
    return EraseResult(removed, rewritten)
