"""The Drift tab's services on the row path and on the day-summary path, CPU seconds, same process, same
database (bench/bench_monitoring.py's, whose day summaries must be stored: a refresh folds them).

    .venv/bin/python bench/bench_drift_paths.py --db bench/out/monitoring-5.db --runs 3

For each path: the first render (default windows: the reference's 14 days, the last 28 days), a window
change to everything after the reference, the same change with the version's days decoded beforehand
(what the page's background prefetch leaves behind; blocks.prefetch for rows, summary_prefetch for
summaries), and the drift over time (daily). Every step starts with the monitoring caches cleared except
the prefetched one. Prints the median CPU seconds over --runs and the verdicts of both paths side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.core.db import make_engine  # noqa: E402
from services.monitoring import blocks as md  # noqa: E402
from services.monitoring import drift_time, drift_window, frames, summary_prefetch  # noqa: E402
from services.monitoring import views as mon  # noqa: E402


def _cpu(fn) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def one_run(engine, info: mon.VersionInfo, rows: bool) -> dict[str, float]:
    ref, cur = mon.default_windows(info)
    after = mon.preset_window(info, "after_reference", ref)
    out = {}
    frames.clear_caches()
    out["first render"] = _cpu(lambda: drift_window.drift_report(engine, info.id, ref, cur, rows=rows))
    out["window change -> after_reference"] = _cpu(
        lambda: drift_window.drift_report(engine, info.id, ref, after, rows=rows)
    )
    frames.clear_caches()
    thread = md.prefetch(engine, info.id) if rows else summary_prefetch.prefetch(engine, info.id)
    if thread is not None:
        thread.join()
    drift_window.drift_report(engine, info.id, ref, cur, rows=rows)
    out["window change, days prefetched"] = _cpu(
        lambda: drift_window.drift_report(engine, info.id, ref, after, rows=rows)
    )
    frames.clear_caches()
    out["drift over time (daily), cold"] = _cpu(
        lambda: drift_time.drift_over_time(engine, info.id, ref, "day", rows=rows)
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="SQLite file of bench_monitoring.py, with stored summaries")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    engine = make_engine(f"sqlite:///{args.db}")
    info = mon.default_version([v for v in mon.list_versions(engine) if v.has_data])
    assert info is not None
    print(f"{info.label}: {info.n_rows:,} predictions over {(info.last_day - info.first_day).days + 1} days")  # type: ignore[operator]
    results = {}
    for rows in (True, False):
        runs = [one_run(engine, info, rows) for _ in range(args.runs)]
        results[rows] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"\nCPU seconds, median of {args.runs}:            rows   summaries")
    for key in results[True]:
        print(f"  {key:<40} {results[True][key]:6.2f}   {results[False][key]:6.2f}")
    ref, cur = mon.default_windows(info)
    frames.clear_caches()
    a = drift_window.drift_report(engine, info.id, ref, cur, rows=True)
    b = drift_window.drift_report(engine, info.id, ref, cur)
    print(f"\nsource of the summary run: {b.source} {b.source_note}")
    for ra in a.rows:
        rb = b.column(ra.column)
        bound = "exact" if rb.exact else (f"±{rb.bound:.3f}" if rb.bound is not None else "no bound")
        print(f"  {ra.column:<24} rows {ra.score:9.4f} {'drift' if ra.drifted else '-':5}  summaries {rb.score:9.4f} "
              f"{'drift' if rb.drifted else '-':5} ({bound})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
