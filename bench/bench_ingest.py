"""Import speed: N prediction rows from Parquet (10 numeric + 5 categorical features, 3 cohort fields)
into SQLite and Postgres. Targets: >= 100,000 rows/s (SQLite), >= 150,000 rows/s (Postgres), peak
memory under 1.5 GB. Each backend runs in its own process so that its peak RSS is its own.

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--backend both|sqlite|postgres]
        [--postgres-url postgresql+psycopg://...]   (default: LOOPDECK_BENCH_POSTGRES_URL, or a
                                                     "<db>_bench_ingest" database next to
                                                     LOOPDECK_TEST_POSTGRES_URL)

Also timed: re-importing the same file (every row already known); with --csv, the same rows as CSV.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

MODEL = ("bench-model", 1)


def make_file(rows: int, folder: Path, shuffled: bool = False) -> Path:
    """Like a prediction log export: random (UUID-like) request ids, in time order (--shuffled-ts:
    random order, the worst case for the timestamp indexes)."""
    rng = np.random.default_rng(42)
    offsets = rng.integers(0, 30 * 86400 * 10**6, rows)
    if not shuffled:
        offsets.sort()
    ids = rng.integers(0, 2**63, (rows, 2))
    frame = pd.DataFrame(
        {
            "request_id": [f"{a:016x}-{b:016x}" for a, b in ids.tolist()],
            "model_name": MODEL[0],
            "model_version": np.int64(MODEL[1]),
            "ts": pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(offsets, "us"),
            "score": rng.random(rows),
            "predicted_label": rng.integers(0, 2, rows),
        }
    )
    for i in range(10):
        frame[f"feature_num_{i}"] = rng.normal(i, 1 + i, rows)
    for i in range(5):
        frame[f"feature_cat_{i}"] = rng.choice([f"c{i}_{k}" for k in range(3 + 2 * i)], rows)
    frame["cohort_region"] = rng.choice(["EU", "US", "APAC", "LATAM"], rows)
    frame["cohort_platform"] = rng.choice(["ios", "android", "web"], rows)
    frame["cohort_tier"] = rng.choice(["free", "plus", "pro"], rows)
    path = folder / f"predictions_{rows}.parquet"
    frame.to_parquet(path, index=False)
    return path


def _postgres_url(explicit: str | None) -> str | None:
    if explicit or os.environ.get("LOOPDECK_BENCH_POSTGRES_URL"):
        return explicit or os.environ["LOOPDECK_BENCH_POSTGRES_URL"]
    base = os.environ.get("LOOPDECK_TEST_POSTGRES_URL")
    if not base:
        return None
    import sqlalchemy as sa

    url = sa.engine.make_url(base)
    name = f"{url.database}_bench_ingest"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _server_cpu(dbname: str) -> float:
    """CPU seconds used so far by the local Postgres backends serving `dbname` (0 if not visible)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if not cmd.startswith("postgres:") or f" {dbname} " not in cmd:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def worker(backend: str, url: str, path: Path) -> None:
    """One backend, fresh schema, one file (Parquet or CSV): import it, then import it again."""
    import sqlalchemy as sa
    from sqlmodel import SQLModel

    from services import ingest
    from services.core.db import make_engine, write_session
    from services.core.roles import Actor, Role
    from services.core.schema_models import ModelVersion
    from services.ingest import write

    engine = make_engine(url)
    if backend == "postgres":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    SQLModel.metadata.create_all(engine)
    with write_session(engine) as session:
        session.add(ModelVersion(model_name=MODEL[0], version=MODEL[1]))
    actor = Actor("bench@loopdeck.io", Role.analyst)
    marks: list[tuple[float, str]] = []
    start = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        marks.append((time.perf_counter() - start, message))

    fmt = "parquet" if path.suffix == ".parquet" else "csv"
    dbname = sa.engine.make_url(url).database if backend == "postgres" else ""
    server0, cpu0 = _server_cpu(dbname) if dbname else 0.0, time.process_time()
    result = ingest.import_file(engine, actor, "predictions", path, progress=progress)
    cpu = time.process_time() - cpu0
    server = _server_cpu(dbname) - server0 if dbname else 0.0
    timings = dict(write.LAST_TIMINGS)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    checked = max((t for t, m in marks if m.startswith("checked")), default=0.0)
    written_from = next((t for t, m in marks if m.startswith("writing")), 0.0)
    print(
        f"{backend:<9} {fmt:<8} {result.rows:,} rows in {result.seconds:.2f} s = "
        f"{result.rows / result.seconds:,.0f} rows/s   peak RSS {peak_mb:,.0f} MB   "
        f"(read+validate {checked:.2f} s, write {result.seconds - written_from:.2f} s)"
    )
    db_s = server if dbname else timings.get("database", 0.0)
    print(
        f"{'':<18} in the write: {timings.get('database', 0):.2f} s in the database driver, "
        f"{timings.get('format_wait', 0):.2f} s waiting for formatting; CPU: this process {cpu:.2f} s"
        + (f", Postgres backend {server:.2f} s" if dbname else "")
        + (
            f"; the database alone: {result.rows / db_s:,.0f} rows per second of "
            f"{'backend CPU' if dbname else 'executemany'}"
            if db_s
            else ""
        ),
        flush=True,
    )
    again = ingest.import_file(engine, actor, "predictions", path)
    print(
        f"{backend:<9} {fmt:<8} re-import (all rows known): {again.seconds:.2f} s = "
        f"{again.rows / again.seconds:,.0f} rows/s  [{again.summary()}]",
        flush=True,
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["both", "sqlite", "postgres"], default="both")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--csv", action="store_true", help="also time the same rows as CSV")
    parser.add_argument("--shuffled-ts", action="store_true", help="rows in random time order (worst case)")
    parser.add_argument("--worker", nargs=3, metavar=("BACKEND", "URL", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        backend, url, file = args.worker
        worker(backend, url, Path(file))
        return

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        run_all(args, Path(tmp))


def run_all(args: argparse.Namespace, folder: Path) -> None:
    t0 = time.perf_counter()
    path = make_file(args.rows, folder, args.shuffled_ts)
    csv_path = None
    if args.csv:
        csv_path = folder / "predictions.csv"
        pd.read_parquet(path).to_csv(csv_path, index=False)
    order = "random time order" if args.shuffled_ts else "time order"
    print(
        f"file      {path.name}: {args.rows:,} rows in {order}, {path.stat().st_size / 2**20:,.0f} MiB "
        f"(made in {time.perf_counter() - t0:.1f} s); targets: SQLite >= 100,000 rows/s, "
        f"Postgres >= 150,000 rows/s, peak < 1,536 MB"
    )
    runs = []
    if args.backend in ("both", "sqlite"):
        runs.append(("sqlite", f"sqlite:///{folder / 'bench_ingest.db'}"))
    if args.backend in ("both", "postgres"):
        url = _postgres_url(args.postgres_url)
        if url:
            runs.append(("postgres", url))
        else:
            print("postgres  skipped: set LOOPDECK_TEST_POSTGRES_URL or --postgres-url")
    for file in [path] + ([csv_path] if csv_path else []):
        for backend, url in runs:
            if backend == "sqlite":
                url = f"sqlite:///{folder / f'bench_{file.suffix[1:]}.db'}"
            subprocess.run([sys.executable, __file__, "--worker", backend, url, str(file)], check=True)


if __name__ == "__main__":
    main()
