"""Import vs its floor, same rows, same run (issue 17's import target; bench/bench_scale.py calls `compare`).

One Parquet import file (the predictions of data/scale_gen.py's story in the Data page's columns:
request_id, model_name, model_version, ts, score, predicted_label, feature_<name>, cohort_<name>) goes
into a scratch database three ways, each in a fresh process (its own CPU seconds and peak memory):

- (a) `table`: a bare insert of the rows into the prediction table, the floor: the file read in batches
  of 100,000, each formatted with pyarrow as the table stores it (timestamps as text, features and
  cohorts as JSON text), then SQLite executemany in one transaction or Postgres COPY (psycopg's
  cursor.copy); no validation, no known-id check, no audit;
- (b) `raw`: a bare write of the same rows to the raw store (Parquet by model, version and UTC day,
  snappy; pyarrow only);
- (c) `real`: Loopdeck's import path: services.ingest.import_file (what the API and the Data page call)
  then the monitoring refresh every refresh goes through (services.monitoring.refresh.refresh_monitoring,
  what the worker's job runs: the day blocks, the day summaries and raw store once the fold has landed,
  the Overview's status), with the raw store's root in a scratch folder.

On Postgres, CPU is this process's plus the server backends' serving the scratch database (read from
/proc); the scratch database is named with the parent's pid and dropped at the end.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Everything a step uses is imported here, before any clock starts (importing services costs seconds).
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

import services.core.schema  # noqa: E402, F401 - registers every table
from bench.memory import own_peak_rss_mib  # noqa: E402
from data import scale_gen as sg  # noqa: E402
from services import ingest  # noqa: E402
from services.core.db import make_engine, write_session  # noqa: E402
from services.core.roles import Actor, Role  # noqa: E402
from services.core.schema_models import ModelVersion  # noqa: E402
from services.ingest.write import format_timestamps  # noqa: E402
from services.monitoring.refresh import refresh_monitoring  # noqa: E402

BATCH_ROWS = 100_000
STEPS = {
    "table": "(a) bare insert into the prediction table",
    "raw": "(b) bare write to the raw store",
    "real": "(c) Loopdeck's import + monitoring refresh",
}
FEATURES = (*sg.NUMERIC_FEATURES, *sg.CATEGORICAL_FEATURES)


# --- the import file ----------------------------------------------------------------------------


def write_import_file(source: Path, spec: sg.ScaleSpec, path: Path) -> Path:
    """The generator's per-day prediction files as one import file in the Data page's columns (kept and
    reused); one day in memory at a time."""
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    writer = None
    try:
        for day in range(spec.days):
            table = pq.read_table(sg.partition_dir(source, "predictions", spec, day) / "part-0.parquet")
            table = import_columns(table, spec)
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(path)
    return path


def import_columns(table: pa.Table, spec: sg.ScaleSpec) -> pa.Table:
    """Generator columns -> import columns: features and cohorts prefixed, categories as plain text."""
    n = table.num_rows
    cols = {"request_id": table["request_id"], "model_name": pa.array([spec.model] * n, pa.string()),
            "model_version": pa.array(np.full(n, spec.version, dtype=np.int64)),
            "ts": table["ts"].cast(pa.timestamp("us", tz="UTC")), "score": table["score"],
            "predicted_label": table["predicted_label"].cast(pa.int64())}  # fmt: skip
    for name in FEATURES:
        cols[f"feature_{name}"] = _plain(table[name])
    for name in sg.COHORT_FIELDS:
        cols[f"cohort_{name}"] = _plain(table[name])
    return pa.table(cols)


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col


# --- (a) the floor: a bare insert ---------------------------------------------------------------


def _escape_copy(arr: pa.Array) -> pa.Array:
    if len(arr) and pc.any(pc.match_substring_regex(arr, r"[\\\t\n\r]")).as_py():
        for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            arr = pc.replace_substring(arr, raw, escaped)
    return arr


def _json_text(values: pa.Array) -> pa.Array:
    """Text values as JSON string literals (json.dumps only when a value needs escaping)."""
    if len(values) and pc.any(pc.match_substring_regex(values, r'[\x00-\x1f"\\]')).as_py():
        return pa.array([None if v is None else json.dumps(v) for v in values.to_pylist()], pa.string())
    return pc.binary_join_element_wise('"', values, '"', "")


def json_objects(batch: pa.RecordBatch, prefix: str) -> pa.Array:
    """One JSON object per row from the `prefix`-named columns; nulls are left out (as the import does)."""
    pieces = []
    for name in batch.schema.names:
        if not name.startswith(prefix):
            continue
        col = batch[name]
        text = _json_text(col) if pa.types.is_string(col.type) else pc.cast(col, pa.string())
        key = json.dumps(name.removeprefix(prefix)) + ":"
        pieces.append(pc.binary_join_element_wise(key, text, ",", "").fill_null(""))
    if not pieces:
        return pa.array(["{}"] * batch.num_rows, pa.string())
    inner = pc.ascii_rtrim(pc.binary_join_element_wise(*pieces, ""), characters=",")
    return pc.binary_join_element_wise("{", inner, "}", "")


def table_columns(batch: pa.RecordBatch, version_id: int, postgres: bool) -> list[pa.Array]:
    """A batch as the prediction table's columns (request_id, model_version_id, ts, score,
    predicted_label, features, cohorts), as text for COPY on Postgres."""
    ts = format_timestamps(batch["ts"].cast(pa.timestamp("us", tz="UTC")), "+00" if postgres else "")
    version = pa.array(np.full(batch.num_rows, version_id, dtype=np.int64))
    cols = [batch["request_id"], version, ts, batch["score"], batch["predicted_label"],
            json_objects(batch, "feature_"), json_objects(batch, "cohort_")]  # fmt: skip
    if not postgres:
        return cols
    return [_escape_copy(c) if pa.types.is_string(c.type) else pc.cast(c, pa.string()) for c in cols]


def _copy_bytes(cols: list[pa.Array]) -> memoryview:
    """Rows joined by tabs, each ending in a newline, as one buffer (no Python loop over rows)."""
    line = pc.binary_join_element_wise(*[c.fill_null("\\N") for c in cols], "\t")
    line = pc.binary_join_element_wise(line, "\n", "")
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int32)[line.offset : line.offset + len(line) + 1]
    return memoryview(line.buffers()[2])[offsets[0] : offsets[-1]]


INSERT = ("INSERT INTO prediction (request_id, model_version_id, ts, score, predicted_label, features, cohorts) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)")  # fmt: skip
COPY = "COPY prediction (request_id, model_version_id, ts, score, predicted_label, features, cohorts) FROM STDIN"


def bare_insert(engine, path: Path, version_id: int) -> dict[str, float]:
    """(a): returns the CPU seconds spent formatting and in the database driver."""
    postgres = engine.dialect.name == "postgresql"
    spent = {"format_cpu": 0.0, "driver_wall": 0.0}
    with engine.begin() as conn:
        dbapi = conn.connection.driver_connection
        cur = dbapi.cursor()
        copy_cm = cur.copy(COPY) if postgres else contextlib.nullcontext()
        with copy_cm as copy:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
                cpu = time.process_time()
                cols = table_columns(batch, version_id, postgres)
                data = _copy_bytes(cols) if postgres else list(zip(*[c.to_pylist() for c in cols], strict=True))
                spent["format_cpu"] += time.process_time() - cpu
                wall = time.perf_counter()
                copy.write(data) if postgres else cur.executemany(INSERT, data)
                spent["driver_wall"] += time.perf_counter() - wall
        cur.close()
    return spent


# --- (b) the floor of the raw store --------------------------------------------------------------


def day_dir(root: Path, spec: sg.ScaleSpec, day) -> Path:
    """The raw store's Hive layout (docs/scale.md): <root>/model=<m>/version=<v>/day=<YYYY-MM-DD>."""
    return root / f"model={spec.model}" / f"version={spec.version}" / f"day={day.isoformat()}"


def bare_raw(root: Path, path: Path, spec: sg.ScaleSpec) -> dict[str, float]:
    """(b): the file's rows, partitioned by UTC day, one snappy Parquet file per day (pyarrow only; snappy
    is the raw store's compression)."""
    table = pq.read_table(path).drop_columns(["model_name", "model_version"])
    day = pc.cast(table["ts"], pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    order = np.argsort(day, kind="stable")
    table, day = table.take(order), day[order]
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    for a, b in zip(starts, [*starts[1:], len(day)], strict=True):
        folder = day_dir(root, spec, day[a].astype(object))
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(a, b - a), folder / "part-0.parquet", compression="snappy")
    return {"days": float(len(starts))}


# --- (c) Loopdeck's import path -------------------------------------------------------------------


def real_import(engine, path: Path) -> dict[str, float]:
    """(c): import_file then refresh_monitoring; the wall seconds of each."""
    actor = Actor("bench@loopdeck.io", Role.analyst)
    wall = time.perf_counter()
    result = ingest.import_file(engine, actor, "predictions", path)
    middle = time.perf_counter()
    refreshed = refresh_monitoring(engine)
    if result.new != result.rows:
        raise RuntimeError(f"the import found {result.rows - result.new:,} known rows in a scratch database")
    return {"import_wall": middle - wall, "refresh_wall": time.perf_counter() - middle,
            "refresh_rows": float(refreshed.rows)}  # fmt: skip


# --- running one step in a fresh process ------------------------------------------------------------


def server_cpu(dbname: str) -> float:
    """CPU seconds used so far by the local Postgres processes serving `dbname` (0 if not visible)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not cmd.startswith("postgres:") or f" {dbname} " not in f"{cmd} ":
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def run_step(step: str, url: str, path: Path, raw_root: Path, spec: sg.ScaleSpec,
             profile: Path | None = None) -> dict[str, float]:  # fmt: skip
    """One step, timed in this process: rows, wall, cpu (this process), server_cpu, peak_rss_mib, details."""
    engine = make_engine(url)
    dbname = sa.engine.make_url(url).database if engine.dialect.name == "postgresql" else ""
    with engine.connect() as conn:  # the pool's first connection, opened before the clock starts
        version_id = int(conn.exec_driver_sql("SELECT id FROM model_version").scalar_one())
    # thread_time: the main thread's CPU, not wall (a shared machine's wall is mostly waiting for a core)
    profiler = cProfile.Profile(time.thread_time) if profile else None
    server0, wall, cpu = server_cpu(dbname) if dbname else 0.0, time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    if step == "table":
        details = bare_insert(engine, path, version_id)
    elif step == "raw":
        details = bare_raw(raw_root, path, spec)
    else:
        details = real_import(engine, path)
    if profiler:
        profiler.disable()
    out = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
           "server_cpu": server_cpu(dbname) - server0 if dbname else 0.0, "peak_rss_mib": own_peak_rss_mib(),
           "rows": float(pq.ParquetFile(path).metadata.num_rows), **details}  # fmt: skip
    if profiler:
        profiler.dump_stats(profile)
    engine.dispose()
    return out


# --- the scratch database -----------------------------------------------------------------------


def postgres_base_url(explicit: str | None) -> str | None:
    return explicit or os.environ.get("LOOPDECK_BENCH_POSTGRES_URL") or os.environ.get("LOOPDECK_TEST_POSTGRES_URL")


@contextlib.contextmanager
def scratch_database(database: str, folder: Path, postgres_url: str | None) -> Iterator[str]:
    """A URL to an empty scratch database: a SQLite file in `folder`, or a Postgres database named with
    this process's pid (dropped at the end, whatever happens)."""
    if database == "sqlite":
        yield f"sqlite:///{folder / f'bench-import-{os.getpid()}.db'}"
        return
    base = postgres_base_url(postgres_url)
    if not base:
        raise SystemExit("--database postgres needs --postgres-url, LOOPDECK_BENCH_POSTGRES_URL or "
                         "LOOPDECK_TEST_POSTGRES_URL")  # fmt: skip
    name = f"loopdeck_bench_{os.getpid()}"
    admin = sa.create_engine(sa.engine.make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def fresh_schema(url: str, spec: sg.ScaleSpec) -> None:
    """Empty tables (the current models' schema) and the model version the file names."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    else:
        Path(engine.url.database).unlink(missing_ok=True)
    SQLModel.metadata.create_all(engine)
    add_model_version(engine, spec)
    engine.dispose()


def add_model_version(engine, spec: sg.ScaleSpec) -> None:
    """The model version the import file names, with its features typed (numeric or categorical)."""
    schema = {**{f: "numeric" for f in sg.NUMERIC_FEATURES}, **{f: "categorical" for f in sg.CATEGORICAL_FEATURES}}
    with write_session(engine) as session:
        session.add(ModelVersion(model_name=spec.model, version=spec.version, feature_schema=schema))


@dataclass(frozen=True)
class Args:
    database: str
    postgres_url: str | None = None
    profile: Path | None = None  # also profile (c) in an extra run (cProfile) and print its top costs


def _child(step: str, url: str, path: Path, raw_root: Path, spec: sg.ScaleSpec, profile: Path | None) -> dict:
    # The raw store's root in a scratch folder, so (c) never writes into the checkout's data folder.
    env = {**os.environ, "LOOPDECK_RAW_STORE_DIR": str(raw_root), "LOOPDECK_DATABASE_URL": url}
    spec_args = f"ScaleSpec({spec.rows}, {spec.days}, {spec.seed})"
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path\n"
            f"from bench.scale_import import run_step; from data.scale_gen import ScaleSpec\n"
            f"print(json.dumps(run_step({step!r}, {url!r}, Path({str(path)!r}), Path({str(raw_root)!r}), "
            f"{spec_args}, {None if profile is None else f'Path({str(profile)!r})'})))\n")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
    if result.returncode:
        raise RuntimeError(f"step {step} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _rate(rows: float, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "n/a"


def compare(spec: sg.ScaleSpec, source: Path, folder: Path, args: Args) -> dict[str, dict]:
    """(a), (b), (c) on the same import file, each in a fresh process; prints rows/s (wall and CPU) and the
    ratios; returns the figures per step."""
    path = write_import_file(source, spec, folder / f"import-{spec.rows}-{spec.days}.parquet")
    size = path.stat().st_size / 2**20
    print(f"import of {spec.rows:,} predictions from one Parquet file ({size:,.0f} MiB), {args.database}:")
    out: dict[str, dict] = {}
    with scratch_database(args.database, folder, args.postgres_url) as url:
        for step in STEPS:
            raw_root = folder / f"raw-{step}-{os.getpid()}"
            _clear(raw_root)
            fresh_schema(url, spec)
            out[step] = fig = _child(step, url, path, raw_root, spec, None)
            _clear(raw_root)
            total_cpu = fig["cpu"] + fig["server_cpu"]
            server = f" + Postgres {fig['server_cpu']:.1f} s" if fig["server_cpu"] else ""
            print(f"  {STEPS[step]:<45} wall {fig['wall']:6.1f} s = {_rate(fig['rows'], fig['wall']):>9} rows/s; "
                  f"CPU {fig['cpu']:.1f} s{server} = {_rate(fig['rows'], total_cpu):>9} rows/CPU s; "
                  f"peak {fig['peak_rss_mib']:,.0f} MiB")  # fmt: skip
            if step == "table":
                print(f"      of which formatting {fig['format_cpu']:.1f} s CPU, in the driver "
                      f"(executemany / COPY) {fig['driver_wall']:.1f} s wall")  # fmt: skip
            elif step == "real":
                print(f"      of which import_file {fig['import_wall']:.1f} s wall, refresh_monitoring "
                      f"{fig['refresh_wall']:.1f} s wall ({fig['refresh_rows']:,.0f} rows refreshed)")  # fmt: skip
        if args.profile:
            fresh_schema(url, spec)
            raw_root = folder / f"raw-profile-{os.getpid()}"
            _child("real", url, path, raw_root, spec, args.profile)
            _clear(raw_root)
            print_profile(args.profile)
    _ratios(out)
    return out


def _clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _ratios(out: dict[str, dict]) -> None:
    a, b, c = out["table"], out["raw"], out["real"]

    def cpu(f: dict) -> float:
        return f["cpu"] + f["server_cpu"]

    rate = c["rows"] / c["wall"]
    for name, wall, cpu_s in (("(a)", a["wall"], cpu(a)), ("(b)", b["wall"], cpu(b)),
                              ("(a)+(b)", a["wall"] + b["wall"], cpu(a) + cpu(b))):  # fmt: skip
        print(f"  (c) / {name:<8} wall x{c['wall'] / wall:5.2f}, CPU x{cpu(c) / cpu_s:5.2f}")
    cpu_rate = c["rows"] / cpu(c)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    # Both clocks: on a shared machine the wall seconds mostly measure the wait for a core.
    print(f"  target >= 150,000 rows/s: {verdict(rate >= 150_000)} on wall ({rate:,.0f}), "
          f"{verdict(cpu_rate >= 150_000)} per CPU second ({cpu_rate:,.0f}); (c) within x2 of (a): "
          f"{verdict(c['wall'] <= 2 * a['wall'])} on wall (x{c['wall'] / a['wall']:.2f}), "
          f"{verdict(cpu(c) <= 2 * cpu(a))} on CPU (x{cpu(c) / cpu(a):.2f})")  # fmt: skip


def print_profile(path: Path, top: int = 25) -> None:
    """The profiled run's top costs: own time (tottime) and cumulative, the bench's own frames left out."""
    stats = pstats.Stats(str(path))
    total = stats.total_tt
    rows = []
    for (file, line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():
        rows.append((tt, ct, f"{Path(file).name}:{line}({func})" if line else func))
    print(f"  profile of (c) under cProfile, main thread CPU ({total:.1f} s; helper threads not profiled; {path}):")
    print("    own time (tottime):")
    for tt, ct, name in sorted(rows, reverse=True)[:top]:
        print(f"      {tt:7.2f} s own {ct:7.2f} s cum  {name}")
    print("    cumulative:")
    services = [r for r in rows if "scale_import" not in r[2]]
    for tt, ct, name in sorted(services, key=lambda r: -r[1])[:top]:
        print(f"      {ct:7.2f} s cum {tt:7.2f} s own  {name}")
