"""Server-side render time of the Overview on the full demo plus 1,000,000 more predictions (SQLite).

    .venv/bin/python bench/bench_overview.py                          # demo scale 1 + 1,000,000 predictions
    .venv/bin/python bench/bench_overview.py --extra 200000 --scale 0.1 --runs 5 --db bench/out/overview.db

Builds the database once (reused with --db): the demo at --scale, then --extra predictions for the
champion (v2) copied from the demo's own rows (same features and cohorts, new request ids, spread over
the demo's 90 days), then the monitoring blocks (as the Monitoring page would build them). Prints:
the first render in a fresh process (monitoring's in-process caches cold), then the median and worst of
--runs renders (warm), each one AppTest run of pages/overview/page.py signed in as the demo admin, plus the
time of each service the page calls. Target: < 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from services.core.db import make_engine, migrate  # noqa: E402

ADMIN = "admin@loopdeck.demo"


def build(url: str, scale: float, extra: int) -> None:
    from data import scenario as sc
    from data.demo import load_demo
    from services.monitoring import block_build

    engine = make_engine(url)
    migrate(engine)
    t = time.perf_counter()
    load_demo(engine, echo=lambda *_: None, scale=scale)
    print(f"  demo (scale {scale:g}) loaded in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    with engine.begin() as conn:
        query = "SELECT id FROM model_version WHERE model_name = 'churn' AND version = 2"
        v2 = conn.execute(sa.text(query)).scalar_one()
        source = conn.exec_driver_sql("SELECT score, predicted_label, features, cohorts FROM prediction").all()
        start = sc.START.replace(tzinfo=None)
        span = sc.DAYS * 86400
        rows = []
        for i in range(extra):
            score, label, features, cohorts = source[i % len(source)]
            ts = start + timedelta(seconds=(i * span) / extra)
            rows.append((f"bench-{i}", v2, ts.isoformat(" ", "microseconds"), score, label,
                         features if isinstance(features, str) else json.dumps(features),
                         cohorts if isinstance(cohorts, str) else json.dumps(cohorts)))  # fmt: skip
            if len(rows) == 100_000:
                conn.exec_driver_sql(
                    "INSERT INTO prediction (request_id, model_version_id, ts, score, predicted_label, features, "
                    "cohorts) VALUES (?, ?, ?, ?, ?, ?, ?)", rows,
                )  # fmt: skip
                rows = []
        if rows:
            conn.exec_driver_sql(
                "INSERT INTO prediction (request_id, model_version_id, ts, score, predicted_label, features, cohorts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows,
            )  # fmt: skip
    print(f"  {extra:,} extra predictions written in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    block_build.refresh(engine)
    print(f"  monitoring blocks built in {time.perf_counter() - t:.1f} s")
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale (1.0: 200,000 predictions)")
    parser.add_argument("--extra", type=int, default=1_000_000, help="predictions added to the demo")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", type=Path, help="reuse this SQLite file if it exists (else build it there)")
    args = parser.parse_args()

    path = args.db or Path(tempfile.mkdtemp(prefix="loopdeck-bench-overview-")) / "bench.db"
    url = f"sqlite:///{path.resolve()}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        print(f"building {path} ...")
        build(url, args.scale, args.extra)
        print(f"built in {time.perf_counter() - started:.1f} s")
    import os

    os.environ["LOOPDECK_DATABASE_URL"] = url

    from streamlit.testing.v1 import AppTest

    from app import state
    from services.core.roles import Actor, Role
    from services.overview import summary as overview

    engine = make_engine(url)
    counts = overview.loop_counts(engine)
    print(f"database: {counts.predictions:,} predictions, {counts.feedback:,} feedback, champion {counts.champion}")
    with engine.connect() as conn:
        admin_id = conn.execute(sa.text("SELECT id FROM user_account WHERE email = :e"), {"e": ADMIN}).scalar_one()

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    # As on a fresh server: the sign-in page is the first script run (it pays Streamlit's own one-time
    # set-up, such as scanning installed packages for components, ~0.45 s), then the user signs in and
    # the Overview renders with every monitoring cache cold.
    at.run()
    if not any(b.label == "Sign in" for b in at.button):
        raise RuntimeError("expected the sign-in page first")
    at.session_state[state.USER_ID] = admin_id

    def render() -> float:
        started = time.perf_counter()
        at.run()  # the Overview is the default page
        elapsed = time.perf_counter() - started
        if at.exception:
            raise RuntimeError(at.exception[0].value)
        return elapsed

    import pages.overview.screen  # noqa: F401  (imports are not what we time: a server has them loaded)
    import services.overview.report  # noqa: F401

    with engine.begin() as conn:  # the worst case: the first view after new data, nothing saved yet
        conn.execute(sa.text("DELETE FROM derived_summary"))
    started = time.perf_counter()
    at.run()  # signed in, the default page is the Overview: its first render, monitoring caches cold
    first = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    print(f"first render after new data (reads the blocks, computes drift and CBPE, saves them): {first:.3f} s")

    # A server restarted (or another replica) on the same data: in-process caches empty, summary saved.
    from services.monitoring import frames

    frames.clear_caches()
    fresh = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    fresh.run()  # the sign-in page
    fresh.session_state[state.USER_ID] = admin_id
    started = time.perf_counter()
    fresh.run()
    restarted = time.perf_counter() - started
    if fresh.exception:
        raise RuntimeError(fresh.exception[0].value)
    print(
        f"first render after a restart, same data (caches cleared; the saved summary, no block read): {restarted:.3f} s"
    )
    cold = render()
    seconds = [render() for _ in range(args.runs)]
    median, worst = statistics.median(seconds), max(seconds)
    flag = "" if worst < 1 else "   <-- over 1 s"
    print(f"page Overview: render after the first {cold:.3f} s; warm median {median:.3f} s, worst {worst:.3f} s{flag}")

    actor = Actor(ADMIN, Role.admin, admin_id)
    for name, call in (
        ("loop_counts", lambda: overview.loop_counts(engine)),
        ("champions", lambda: overview.champions(engine)),
        ("alert_counts", lambda: overview.alert_counts(engine)),
        ("monitoring_status", lambda: overview.monitoring_status(engine)),
        ("feedback_status", lambda: overview.feedback_status(engine)),
        ("running_experiments", lambda: overview.running_experiments(engine)),
        ("approval_status", lambda: overview.approval_status(engine, actor)),
        ("top_backlog", lambda: overview.top_backlog(engine)),
        ("decisions", lambda: overview.decisions(engine)),
    ):
        started = time.perf_counter()
        call()
        print(f"  services.overview.summary.{name:<22} {time.perf_counter() - started:7.3f} s (warm)")
    engine.dispose()
    return 0 if worst < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
