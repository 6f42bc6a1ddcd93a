"""Server-side render time of each page (AppTest, signed in as admin) on a big SQLite database.

    .venv/bin/python bench/bench_pages.py                       # 1,000,000 predictions, 100,000 audit events
    .venv/bin/python bench/bench_pages.py --predictions 200000 --runs 5 --db bench/out/pages.db

Rows are minimal (no features or cohorts) and written with raw executemany, so building the
database takes seconds. The audit events form a valid hash chain. Prints one line per page:
median and worst of --runs timed runs after one warm-up run. Target: < 1 s per page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from services.core import (  # noqa: E402
    audit,  # noqa: E402
    audit_anchor,
    users,
)
from services.core.db import make_engine, migrate  # noqa: E402
from services.overview import summary as overview

ADMIN, PASSWORD = "bench@loopdeck.test", "bench password"


def build(url: str, predictions: int, events: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    admin = users.create_first_admin(engine, ADMIN, "Bench", PASSWORD)  # audit event 1
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO model_version (id, model_name, version, created_by, created_at, status) "
                "VALUES (:id, 'churn', :v, 'bench', :ts, :status)"
            ),
            [{"id": v, "v": v, "ts": start, "status": "champion" if v == 3 else "archived"} for v in (1, 2, 3)],
        )
        # Plain DB-API executemany of tuples: the fastest way in (timestamps in SQLAlchemy's SQLite format).
        t0 = start.replace(tzinfo=None)
        rows = (
            (
                f"req-{i}",
                1 + i % 3,
                (t0 + timedelta(seconds=2 * i)).isoformat(" ", "microseconds"),
                (i * 7919 % 1000) / 1000,
                int(i * 7919 % 1000 >= 500),
            )
            for i in range(predictions)
        )
        conn.exec_driver_sql(
            "INSERT INTO prediction (request_id, model_version_id, ts, score, predicted_label) VALUES (?, ?, ?, ?, ?)",
            list(rows),
        )
        # A hash-chained audit trail after the admin's first event (same hashing as services.core.audit).
        prev = conn.execute(sa.text("SELECT hash FROM audit_event WHERE id = 1")).scalar_one()
        rows, ts, key = [], datetime.now(UTC), audit_anchor.load_key(engine)
        for event_id in range(2, events + 1):
            payload = audit.canonical_json({"email": ADMIN, "n": event_id})
            digest = audit.event_hash(event_id, ts, ADMIN, "user.unlock", "user", str(admin.id), payload, prev, key)
            rows.append(
                {
                    "id": event_id,
                    "ts": ts,
                    "actor": ADMIN,
                    "action": "user.unlock",
                    "subject_type": "user",
                    "subject_id": str(admin.id),
                    "payload": payload,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        if rows:
            conn.execute(sa.insert(audit.AuditEvent.__table__), rows)
            conn.execute(
                sa.text("UPDATE audit_head SET last_event_id = :i, last_hash = :h WHERE id = 1"),
                {"i": events, "h": prev},
            )
    engine.dispose()


def timed(call, runs: int) -> tuple[float, float]:
    call()  # warm-up: imports, caches, SQLite page cache
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), max(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=100_000, help="audit events")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", type=Path, help="reuse this SQLite file if it exists (else build it there)")
    args = parser.parse_args()

    path = args.db or Path(tempfile.mkdtemp(prefix="loopdeck-bench-")) / "bench.db"
    url = f"sqlite:///{path.resolve()}"
    if not path.exists():
        started = time.perf_counter()
        build(url, args.predictions, args.events)
        print(
            f"built {path} ({args.predictions:,} predictions, {args.events:,} audit events) "
            f"in {time.perf_counter() - started:.1f} s"
        )
    os.environ["LOOPDECK_DATABASE_URL"] = url

    from streamlit.testing.v1 import AppTest

    from app import nav, state
    from services.core.roles import Role

    engine = make_engine(url)
    counts = overview.loop_counts(engine)
    print(f"database: {counts.predictions:,} predictions, {audit.count_events(engine):,} audit events")
    median, worst = timed(lambda: overview.loop_counts(engine), args.runs)
    print(f"{'services.overview.summary.loop_counts':<32} median {median:6.3f} s   worst {worst:6.3f} s")

    admin = users.authenticate(engine, ADMIN, PASSWORD)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.session_state[state.USER_ID] = admin.user_id
    at.run()
    slow = []
    for spec in nav.visible_pages(Role.admin):

        def render(spec=spec):
            at.switch_page(spec.path).run()
            if at.exception:
                raise RuntimeError(f"{spec.path}: {at.exception[0].value}")

        try:
            median, worst = timed(render, args.runs)
        except RuntimeError as exc:
            slow.append(spec.title)
            print(f"page {spec.title:<27} FAILED: {str(exc).splitlines()[0]}")
            continue
        flag = "" if worst < 1 else "   <-- over 1 s"
        if worst >= 1:
            slow.append(spec.title)
        print(f"page {spec.title:<27} median {median:6.3f} s   worst {worst:6.3f} s{flag}")
    engine.dispose()
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
