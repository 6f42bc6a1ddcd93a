"""Monitoring page for one model version with 1,000,000 predictions in a SQLite database: the one-time
block build, then the page's server-side render times (AppTest, signed in as an analyst).

    .venv/bin/python bench/bench_monitoring.py                     # scale 5: 1,000,000 predictions
    .venv/bin/python bench/bench_monitoring.py --scale 1 --runs 5  # 200,000
    .venv/bin/python bench/bench_monitoring.py --db bench/out/monitoring.db --rebuild-db

The database is the demo story (data/scenario.py) at `--scale`, with every prediction served by v1, so
one model version holds all of them (features, cohorts, 78% with outcomes). It is built once and kept
(bench/out/, git-ignored; about 100 s at scale 5). Prints:

- the block build (services/monitoring_data.refresh from nothing): once per database, after which only
  the days an import touches are rebuilt;
- "first render": the Monitoring page in a server process that has imported its libraries and drawn a
  plotly figure before (as any running server has), with no monitoring caches: the Drift tab for the
  default windows (the reference's 14 days and the last 28 days, 420,000 rows here);
- "window change": the current window switched between presets (each a new window: nothing cached);
- "revisit": a window seen before (from the in-process cache);
- the first view of each other tab, and a cold process (library imports included) once;
- peak memory: the largest resident set of this process (ru_maxrss, the same as /proc/self/status
  VmHWM) after the block build and after the page runs, and of the cold process as the child itself
  reports it (its VmHWM: the parent's RUSAGE_CHILDREN and the child's ru_maxrss both repeat the
  parent's own peak).
Median and best of --runs (each run a new AppTest session with every cache cleared). Targets: first
render < 2 s, window change < 1 s. "First render" assumes the day blocks are built (they are built once
per database and then kept up to date by each import); the one-time build is printed beside it. The
drift statistics alone against Evidently: bench/bench_drift.py.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from services.core.db import make_engine, migrate  # noqa: E402
from services.monitoring import block_build

ANALYST = "analyst@loopdeck.demo"
PAGE = "pages/monitoring/page.py"


def build_database(url: str, scale: float) -> None:
    from data import scenario as sc
    from data.demo import load_demo

    started = time.perf_counter()
    s = sc.build_scenario(scale)
    s.requests["model_version"] = 1  # one version serves everything: all rows in one version's windows
    engine = make_engine(url)
    migrate(engine)
    load_demo(engine, echo=lambda *_: None, scenario=s)
    engine.dispose()
    print(f"database built in {time.perf_counter() - started:.0f} s ({len(s.requests):,} predictions)")


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size so far in MiB of this process (ru_maxrss is in KiB on Linux). Right for this
    process, which grows far beyond the python that exec'd it; a child reports bench.memory's
    own_peak_rss_mib instead (ru_maxrss carries the parent's peak across fork and exec)."""
    return resource.getrusage(who).ru_maxrss / 1024


def build_blocks(url: str) -> float:
    """Build every block from nothing; returns the build's seconds."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM monitoring_block"))
        conn.execute(sa.text("DELETE FROM monitoring_sync"))
    started = time.perf_counter()
    result = block_build.refresh(engine)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        n_blocks, size = conn.execute(sa.text("SELECT count(*), sum(length(data)) FROM monitoring_block")).one()
    print(
        f"blocks built once: {seconds:.1f} s for {result.rows:,} predictions "
        f"({n_blocks} day blocks, {size / 2**20:.0f} MiB of Arrow IPC; {result.rows / seconds:,.0f} rows/s)"
    )
    started = time.perf_counter()
    again = block_build.refresh(engine)
    print(f"refresh with nothing new: {(time.perf_counter() - started) * 1000:.1f} ms ({again.summary()})")
    engine.dispose()
    return seconds


def store_summaries(url: str) -> None:
    """Day summaries in the database for every block day without one (folded from the block's rows with
    their request ids), as the watermark refresh leaves them once it folds new rows into summaries. Without
    them the views build each day's summary from its block, once per process (summary_cache)."""
    import pandas as pd

    from services.monitoring import blocks as md
    from services.monitoring import summary_cache, summary_store
    from services.monitoring.views import Window

    engine = make_engine(url)
    started, cpu, days = time.perf_counter(), time.process_time(), 0
    for mv, data in md.version_data(engine).items():
        stored = {e.day for e in summary_store.day_index(engine, mv)}
        ids = pd.read_sql(sa.text("SELECT id, request_id FROM prediction WHERE model_version_id = :mv"),
                          engine.connect(), params={"mv": mv}).set_index("id")["request_id"]  # fmt: skip
        for ref in summary_cache.day_refs(engine, mv, Window(data.first_day, data.last_day)):
            if ref.day in stored or ref.block_id is None:
                continue
            frame, schema = summary_cache.block_rows(engine, mv, ref)
            frame["request_id"] = frame["request_id"].map(ids)
            summary_store.fold_rows(engine, mv, frame, schema)
            days += 1
    if days:
        print(f"day summaries stored: {days} days in {time.perf_counter() - started:.1f} s "
              f"({time.process_time() - cpu:.1f} s CPU), once per database")  # fmt: skip
    engine.dispose()


def _app(url: str):
    os.environ["LOOPDECK_DATABASE_URL"] = url
    from streamlit.testing.v1 import AppTest

    from app import state
    from services.core import users
    from services.core.roles import Actor

    engine = make_engine(url)
    uid = next(u.id for u in users.list_users(engine, Actor.system()) if u.email == ANALYST)
    engine.dispose()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.session_state[state.USER_ID] = uid
    return at


CPU: dict[str, float] = {}  # the last _timed call's CPU seconds (process time, every thread of this process)


def _timed(at) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    at.run()
    seconds = time.perf_counter() - started
    CPU["last"] = time.process_time() - cpu
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return seconds


def one_run(url: str) -> tuple[dict[str, float], dict[str, float]]:
    """Wall-clock and CPU seconds of each step (CPU shows what the page costs when the box is shared)."""
    from services.monitoring import frames

    at = _app(url)
    at.run()  # the Overview: AppTest's own one-time set-up (it scans installed packages for components)
    frames.clear_caches()
    at.switch_page(PAGE)
    out = _Steps()
    out["first render"] = _timed(at)
    out["rerun, nothing changed"] = _timed(at)
    for preset in ("last14", "last7", "after_reference"):
        at.selectbox(key="mon_cur").set_value(preset)
        out[f"window change -> {preset}"] = _timed(at)
    at.selectbox(key="mon_cur").set_value("last28")
    out["revisit the first window"] = _timed(at)
    at.selectbox(key="mon_ref").set_value("first28")
    out["reference change -> first28"] = _timed(at)
    at.selectbox(key="mon_ref").set_value("first14")
    at.run()
    for tab in ("Drift over time", "Performance", "Calibration", "Estimated performance", "Alerts"):
        at.session_state["mon_tab"] = tab
        out[f"tab: {tab} (first view)"] = _timed(at)
    at.session_state["mon_tab"] = "Performance"
    out["tab: Performance (revisit)"] = _timed(at)
    return dict(out), out.cpu


class _Steps(dict):
    """Records each step's wall seconds (the value set) and the CPU seconds of the same _timed call."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: dict[str, float] = {}

    def __setitem__(self, key: str, value: float) -> None:
        super().__setitem__(key, value)
        self.cpu[key] = CPU["last"]


def cold_process(url: str) -> tuple[float, float]:
    """First render in a new Python process; returns (seconds, that process's own peak RSS in MiB).

    The child reports its own VmHWM (own_peak_rss_mib). Neither the parent's RUSAGE_CHILDREN nor the
    child's own ru_maxrss measure it: both carry the parent's peak across the fork and exec, so they
    repeated the parent's figure instead of measuring the child."""
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); from bench.bench_monitoring import _app, _timed, PAGE\n"
        f"from bench.memory import own_peak_rss_mib\n"
        f"at = _app({url!r}); at.run(); at.switch_page(PAGE); seconds = _timed(at)\n"
        f"print(seconds, own_peak_rss_mib())\n"
    )
    # Libraries the page needs are imported during this run (the Overview page does not load them all).
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return parse_child_report(result.stdout)


def parse_child_report(stdout: str) -> tuple[float, float]:
    """The child's last line: "<seconds> <peak RSS MiB>"."""
    seconds, rss = stdout.strip().splitlines()[-1].split()
    return float(seconds), float(rss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=5.0, help="demo scale (5: 1,000,000 predictions)")
    parser.add_argument("--db", default=None, help="SQLite file (default bench/out/monitoring-<scale>.db)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild-db", action="store_true", help="build the database again")
    parser.add_argument("--keep-blocks", action="store_true", help="do not time the block build again")
    parser.add_argument("--summaries", action="store_true",
                        help="store every day's summary first (else the views build them from the blocks)")  # fmt: skip
    args = parser.parse_args(argv)
    path = Path(args.db or ROOT / "bench" / "out" / f"monitoring-{args.scale:g}.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    if args.rebuild_db or not path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        build_database(url, args.scale)
    build_seconds: float | None = None
    if not args.keep_blocks:
        build_seconds = build_blocks(url)
    else:
        block_build.refresh(make_engine(url))
    if args.summaries:
        store_summaries(url)
    rss_after_build = peak_rss_mib()

    import plotly.graph_objects as go  # a running server has drawn figures before

    go.Figure(go.Bar(x=[1], y=[1])).to_json()
    both = [one_run(url) for _ in range(args.runs)]
    runs, cpus = [w for w, _ in both], [c for _, c in both]
    print(f"\nMonitoring page, server-side seconds over {args.runs} run(s): wall median / best, CPU median")
    for key in runs[0]:
        values = [r[key] for r in runs]
        cpu = statistics.median(c[key] for c in cpus)
        print(f"  {key:<42} {statistics.median(values):6.2f} / {min(values):5.2f}   cpu {cpu:5.2f}")
    first = statistics.median(r["first render"] for r in runs)
    change = max(statistics.median(r[k] for r in runs) for k in runs[0] if k.startswith("window change"))
    built = (f"one-time block build {build_seconds:.1f} s" if build_seconds is not None
             else "one-time block build not timed: --keep-blocks")  # fmt: skip
    print(f"\n  target first render < 2 s: {'met' if first < 2 else 'missed'} ({first:.2f} s, with the day blocks "
          f"built; {built})")  # fmt: skip
    print(f"  target window change < 1 s: {'met' if change < 1 else 'missed'} (slowest median {change:.2f} s)")
    rss_after_runs = peak_rss_mib()
    cold_seconds, cold_rss = cold_process(url)
    print(f"  cold process, first render incl. library imports: {cold_seconds:.2f} s")
    print(
        f"  peak memory (max RSS): {rss_after_build:,.0f} MiB after the block build "
        f"(the database build too when it ran in this process), {rss_after_runs:,.0f} MiB after the page runs; "
        f"cold process {cold_rss:,.0f} MiB (its own VmHWM, reported by the child)"
    )
    print(f"  load average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
