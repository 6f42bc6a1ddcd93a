"""1,000 small jobs drained by two worker processes: none run twice; throughput and per-job overhead.

.venv/bin/python bench/bench_worker.py [--jobs 1000] [--workers 2] [--url postgresql+psycopg://...]

Default: a fresh SQLite file (huey). With --url of an empty Postgres database: procrastinate. The
clock starts when the jobs are queued and the workers have started (their imports excluded) and stops
when the last job is done. Per-job overhead = worker-seconds / jobs (the task itself does nothing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from services.core.db import make_engine, migrate  # noqa: E402
from services.core.roles import Actor, Role  # noqa: E402
from services.jobs import queue  # noqa: E402


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT status, count(*) FROM job GROUP BY status")).all())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench_worker.db"
    engine = make_engine(url)
    migrate(engine)
    actor = Actor("bench@loopdeck.io", Role.admin)
    env = {**os.environ, "LOOPDECK_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "worker", "--id", f"bench{i}"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(args.workers)]  # fmt: skip
    time.sleep(0.5)
    warm = queue.enqueue(engine, "debug.noop", {"n": -1}, actor)
    while queue.get(engine, warm).status != "succeeded":  # both workers imported and consuming
        time.sleep(0.05)
    t0 = time.perf_counter()
    for i in range(args.jobs):
        queue.enqueue(engine, "debug.noop", {"n": i}, actor)
    queued = time.perf_counter() - t0
    while _counts(engine).get("succeeded", 0) < args.jobs + 1:
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=30)
    with engine.connect() as conn:
        twice = conn.execute(sa.text("SELECT count(*) FROM job WHERE attempts <> 1")).scalar()
        by_worker = dict(conn.execute(sa.text("SELECT worker_id, count(*) FROM job GROUP BY worker_id")).all())
    print(f"database: {engine.dialect.name}; jobs: {args.jobs}; workers: {args.workers}")
    print(f"enqueue: {queued:.2f} s ({queued / args.jobs * 1000:.2f} ms a job, each audited)")
    print(f"drained in {elapsed:.2f} s: {args.jobs / elapsed:.0f} jobs/s")
    print(f"per-job overhead: {elapsed * args.workers / args.jobs * 1000:.1f} worker-ms")
    print(f"ran more than once: {twice}; by worker: {by_worker}")


if __name__ == "__main__":
    main()
