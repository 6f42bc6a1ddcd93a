"""The HTTP API through the client, against a real server (uvicorn subprocess, `python -m services api`).

Prints: sustained ingest rows/s in batches of 1,000 (SQLite, and Postgres with --postgres-url), the p99
latency of a 1,000-row request, the background sender's added cost per logged prediction, and the cost
of one small batch (300 rows) as a day fills up, with and without an enabled alert rule (issue 15,
point 6: small batches rebuild the day's monitoring block when a rule watches).
Targets: >= 20,000 rows/s, p99 < 500 ms, < 1 ms per prediction.

.venv/bin/python bench/bench_api.py [--batches 40] [--postgres-url postgresql+psycopg://postgres@127.0.0.1/bench]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "client"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from loopdeck_client import Loopdeck  # noqa: E402

from services.core import tokens  # noqa: E402
from services.core.db import make_engine, migrate, write_session  # noqa: E402
from services.core.roles import Actor, Role  # noqa: E402
from services.core.schema_models import ModelVersion

ADMIN = Actor("bench@loopdeck.io", Role.admin)


def rows(start: int, n: int, day: str = "2026-12-01") -> list[dict]:
    return [{"request_id": f"b-{start + i}", "model_name": "churn", "model_version": 1,
             "ts": f"{day}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z", "score": (i % 97) / 97,
             "predicted_label": i % 2, "feature_tenure": float(i % 50), "feature_spend": (i % 13) * 1.5,
             "feature_plan": ("basic", "pro", "team")[i % 3], "cohort_region": ("EU", "US")[i % 2]}
            for i in range(n)]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(url: str) -> tuple[str, sa.Engine]:
    if url.startswith("postgresql"):
        base = sa.engine.make_url(url)
        admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{base.database}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{base.database}"')
        admin.dispose()
    engine = make_engine(url)
    migrate(engine)
    with write_session(engine) as session:
        schema = {"tenure": "numeric", "spend": "numeric", "plan": "categorical"}
        session.add(ModelVersion(model_name="churn", version=1, created_by="bench", feature_schema=schema))
    secret = tokens.create_token(engine, ADMIN, "bench", ["ingest", "routing:read"], rate_per_minute=1_000_000).secret
    return secret, engine


def serve(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "LOOPDECK_DATABASE_URL": url}
    p = subprocess.Popen([sys.executable, "-m", "services", "api", "--port", str(port)], cwd=ROOT, env=env)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return p
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("the API did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (Linux /proc), to tell the server's work from the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sustained(base: str, secret: str, batches: int, pid: int) -> None:
    with Loopdeck(base, secret, batch_size=1000) as ld:
        ld.log_predictions(rows(10_000_000, 1000))  # warm-up (imports, caches)
        latencies = []
        cpu = cpu_seconds(pid)
        start = time.perf_counter()
        for b in range(batches):
            t = time.perf_counter()
            answer = ld.log_predictions(rows(b * 1000, 1000))
            latencies.append(time.perf_counter() - t)
            assert answer["new"] == 1000, answer
        seconds = time.perf_counter() - start
        server_cpu = (cpu_seconds(pid) - cpu) / batches
    ms = np.array(latencies) * 1000
    print(f"  sustained ingest: {batches * 1000 / seconds:,.0f} rows/s ({batches} x 1,000 rows in {seconds:.1f} s)")
    print(f"  1,000-row request: p50 {np.percentile(ms, 50):.0f} ms, p99 {np.percentile(ms, 99):.0f} ms, "
          f"max {ms.max():.0f} ms")  # fmt: skip
    per_second = 1000 / server_cpu
    print(f"  server CPU per 1,000-row request: {server_cpu * 1000:.0f} ms ({per_second:,.0f} rows per CPU-second)")


def background_cost(base: str, secret: str, n: int) -> None:
    with tempfile.TemporaryDirectory() as spool:
        ld = Loopdeck(base, secret, background=True, spool_dir=spool, flush_interval=0.2)
        one = rows(50_000_000, n)
        start = time.perf_counter()
        for row in one:
            ld.log_predictions([row])
        per_call = (time.perf_counter() - start) / n
        flushed = ld.flush(timeout=120)
        ld.close()
    print(f"  background sender: {per_call * 1e6:.1f} us added per logged prediction ({n:,} calls; "
          f"all delivered: {flushed})")  # fmt: skip


def small_batches(base: str, secret: str, engine: sa.Engine) -> None:
    """300-row batches into one day that already holds `filled` rows, without and with an alert rule."""
    from services.monitoring import alerts

    with Loopdeck(base, secret, batch_size=1000) as ld:
        for label in ("no alert rule", "an enabled alert rule"):
            if label != "no alert rule":
                alerts.create_rule(engine, ADMIN, name="auc", model_name="churn", metric="accuracy", threshold=0.1,
                                   window="1d")  # fmt: skip
            offset = 100_000_000 if label == "no alert rule" else 200_000_000
            day = "2026-12-03" if label == "no alert rule" else "2026-12-04"
            done = 0
            for filled in (0, 5_000, 20_000):
                while done < filled:
                    ld.log_predictions(rows(offset + done, 1000, day))
                    done += 1000
                t = time.perf_counter()
                for _ in range(3):
                    ld.log_predictions(rows(offset + done, 300, day))
                    done += 300
                print(f"  300-row batch, {label}, day holding {filled:>6,} rows: "
                      f"{(time.perf_counter() - t) / 3 * 1000:.0f} ms")  # fmt: skip


def run(label: str, url: str, batches: int, extras: bool) -> None:
    print(f"{label}:")
    secret, engine = prepare(url)
    port = free_port()
    server = serve(url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        sustained(base, secret, batches, server.pid)
        if extras:
            background_cost(base, secret, 20_000)
            small_batches(base, secret, engine)
    finally:
        server.terminate()
        server.wait(20)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--postgres-url", default=os.environ.get("LOOPDECK_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"bench_api: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench_api.db", args.batches, extras=True)
    if args.postgres_url:
        run("Postgres", args.postgres_url, args.batches, extras=False)


if __name__ == "__main__":
    main()
