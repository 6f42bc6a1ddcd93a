"""A SQLite database of data/scale_gen.py's story for the page bench (bench/bench_page_scale.py): one model
version with N predictions over 90 days, the outcomes known at the snapshot, one analyst account, and the
monitoring refresh run to the end (day blocks, day summaries folded, raw store), as the worker leaves it.

    .venv/bin/python bench/page_scale_db.py --rows 10000000 --out bench/out/page-scale

The rows go in as bench/scale_import.py's floor (a): formatted with pyarrow as the table stores them and
inserted with executemany, so a 10M database takes minutes, not the import service's hour; the refresh is
the real one (services.monitoring.refresh.refresh_monitoring, what the worker's job runs). Everything lives
in <out>/<rows>/ (the database, its raw store and audit key beside it, artifacts), never in data/. A folder
holding a finished database (its READY file) is reused; one whose rows are in (INSERTED) resumes the refresh,
which folds in steps under its own watermarks (at 10M on a loaded machine the build takes over an hour).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench import scale_import as si  # noqa: E402
from bench.bench_scale import ensure_input  # noqa: E402
from data import scale_gen as sg  # noqa: E402
from services.ingest.write import format_timestamps  # noqa: E402

ANALYST = ("analyst@loopdeck.bench", "bench-password-1234")
OUTCOME_INSERT = "INSERT INTO outcome (request_id, ts, actual_label) VALUES (?, ?, ?)"


def environment(folder: Path) -> dict[str, str]:
    """Where the app and the refresh keep their files for this database: all under `folder`."""
    return {"LOOPDECK_DATABASE_URL": f"sqlite:///{folder / 'loopdeck.db'}",
            "LOOPDECK_ARTIFACT_DIR": str(folder / "artifacts"), "LOOPDECK_ROUTING_DIR": str(folder / "routing"),
            "LOOPDECK_RAW_STORE_DIR": str(folder / "raw")}  # fmt: skip


def insert_outcomes(engine, source: Path, spec: sg.ScaleSpec) -> int:
    """The outcomes known at the snapshot, one generator day file at a time, in one transaction."""
    rows = 0
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        for day in range(spec.days):
            table = pq.read_table(sg.partition_dir(source, "outcomes", spec, day) / "part-0.parquet")
            ts = format_timestamps(table["ts"].cast(pa.timestamp("us", tz="UTC")).combine_chunks())
            labels = table["label"].to_numpy().astype(np.int64).tolist()
            cur.executemany(OUTCOME_INSERT, zip(table["request_id"].to_pylist(), ts.to_pylist(), labels, strict=True))
            rows += table.num_rows
        cur.close()
    return rows


def insert_rows(engine, rows: int, out: Path, folder: Path) -> None:
    """A fresh database with the version, the bench's account, the predictions and their known outcomes."""
    from services.core import users
    from services.core.db import migrate

    spec = sg.ScaleSpec(rows)
    source = ensure_input(spec, out / f"input-{rows}")
    path = si.write_import_file(source, spec, out / f"import-{rows}.parquet")
    engine.dispose()
    (folder / "loopdeck.db").unlink(missing_ok=True)
    migrate(engine)
    si.add_model_version(engine, spec)
    users.create_first_admin(engine, ANALYST[0], "Bench", ANALYST[1])
    started = time.perf_counter()
    with engine.connect() as conn:
        version_id = int(conn.exec_driver_sql("SELECT id FROM model_version").scalar_one())
    si.bare_insert(engine, path, version_id)
    outcomes = insert_outcomes(engine, source, spec)
    print(f"{rows:,} predictions and {outcomes:,} outcomes inserted in {time.perf_counter() - started:.0f} s")
    (folder / "INSERTED").write_text("ok\n")


def build(rows: int, out: Path) -> Path:
    """The database for `rows` predictions under out/<rows>/ (built once); returns its folder."""
    folder = out / str(rows)
    if (folder / "READY").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(environment(folder))
    from services.core.db import make_engine
    from services.monitoring.refresh import refresh_monitoring

    engine = make_engine(os.environ["LOOPDECK_DATABASE_URL"])
    if not (folder / "INSERTED").exists():  # else the rows are in: resume the refresh (it folds in steps)
        insert_rows(engine, rows, out, folder)
    started, cpu = time.perf_counter(), time.process_time()
    refreshed = refresh_monitoring(engine)
    print(f"refresh: {refreshed.summary()} in {time.perf_counter() - started:.0f} s wall, "
          f"{time.process_time() - cpu:.0f} s CPU")  # fmt: skip
    engine.dispose()
    (folder / "READY").write_text("ok\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", required=True)
    parser.add_argument("--out", type=Path, default=si.ROOT / "bench" / "out" / "page-scale")
    args = parser.parse_args(argv)
    for rows in args.rows:
        print(f"database: {build(rows, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
