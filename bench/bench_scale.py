"""Monitoring at scale on the summary path (docs/scale.md): N predictions of one model version, imported
from Parquet into a raw store (Parquet partitions by model/version/day) and its per-day summaries, then
Monitoring's views computed from the summaries in a fresh serving process.

    .venv/bin/python bench/bench_scale.py --rows 1000000
    .venv/bin/python bench/bench_scale.py --rows 10000000 --baseline 1000000   # both, same run: flatness
    .venv/bin/python bench/bench_scale.py --rows 100000000 --summary-only      # fold from the generator
    .venv/bin/python bench/bench_scale.py --rows 1000000 --database postgres   # import comparison on Postgres

Steps:
- the input: data/scale_gen.py's story at --rows, as Parquet files (bench/out/scale-<rows>/input, kept
  and reused; one day in memory while written);
- this bench's summary store: for each day, read the day's prediction and outcome files, write the
  predictions with their labels into a raw store (snappy Parquet, the Hive layout DuckDB, Spark, Trino
  and ClickHouse read), fold them into the day's summary (services/monitoring/day_summary.py) and save it
  as one blob file: what the serving step reads. Peak memory: one day's rows;
- the import comparison (`ingest_rows_s`; bench/scale_import.py; skipped by --summary-only and
  --import-rows 0): min(--rows, --import-rows) predictions as one Parquet import file into a scratch
  database (--database sqlite|postgres) three ways, each in a fresh process: (a) a bare insert into the
  prediction table (the floor), (b) a bare write to the raw store, (c) Loopdeck's import path
  (services.ingest.import_file, then refresh_monitoring); rows/s wall and CPU of each and the ratios;
  `ingest_rows_s` is (c)'s rows per wall second (with --summary-only: the fold's);
- serving, in a new process that reads only the summary blobs (its own peak memory, VmHWM, is
  `peak_rss_mib`; no figure of a parent): `first_render_s` (reference = first 14 days, current = last
  28: decode those days, merge both windows, drift of every feature, overall metrics), `window_change_s`
  (the slowest of the current window switched to last 14 days, last 7, everything after the reference),
  `performance_tab_s` (metrics per cohort of every cohort field, weekly metric over the whole period,
  reliability diagram), `estimated_tab_s` (calibrator on the reference's labelled sample rows, CBPE
  with the ROC AUC band for every week).

Every figure is from the summary path. Today's Monitoring page (day blocks of rows, bench_monitoring.py)
is not switched to it yet; its figures are that bench's. The last line reads
`scale: rows=N first_render_s=X window_change_s=X performance_tab_s=X estimated_tab_s=X peak_rss_mib=X
ingest_rows_s=X`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench import scale_import  # noqa: E402
from bench.memory import own_peak_rss_mib  # noqa: E402
from data import scale_gen as sg  # noqa: E402
from services.monitoring import day_summary as dsum  # noqa: E402
from services.monitoring import summary_merge as sm  # noqa: E402
from services.monitoring.day_summary_codec import from_bytes, to_bytes  # noqa: E402

SCHEMA = dsum.SummarySchema(sg.NUMERIC_FEATURES, sg.CATEGORICAL_FEATURES, sg.COHORT_FIELDS)
OUT = ROOT / "bench" / "out"
REFERENCE_DAYS, CURRENT_DAYS = 14, 28
VIEWS = ("first_render_s", "window_change_s", "performance_tab_s", "estimated_tab_s")


def ensure_input(spec: sg.ScaleSpec, folder: Path) -> Path:
    """The generator's Parquet files for this spec, written once and reused."""
    marker = folder / "spec.json"
    want = json.dumps({"rows": spec.rows, "days": spec.days, "seed": spec.seed})
    if marker.exists() and marker.read_text() == want:
        return folder
    started = time.perf_counter()
    rows, size = sg.write_dataset(folder, spec, echo=None)
    marker.write_text(want)
    seconds = time.perf_counter() - started
    print(f"input written: {rows:,} predictions, {size / 2**20:,.0f} MiB of Parquet in {seconds:.0f} s")
    return folder


def _summary_path(store: Path, spec: sg.ScaleSpec, day: date) -> Path:
    return store / "summaries" / f"model={spec.model}" / f"version={spec.version}" / f"day={day.isoformat()}.npz"


def ingest_day(source: Path, store: Path, spec: sg.ScaleSpec, day: int, fold: bool = True) -> int:
    """One day's import: predictions joined with their known outcomes, written to the raw store, folded
    (fold=False: the bare copy, the same rows written to the raw store and nothing else)."""
    pred = pq.read_table(sg.partition_dir(source, "predictions", spec, day) / "part-0.parquet")
    out_file = sg.partition_dir(source, "outcomes", spec, day) / "part-0.parquet"
    frame = pred.to_pandas()
    if out_file.exists():
        outcomes = pq.read_table(out_file, columns=["request_id", "label"]).to_pandas()
        label = frame["request_id"].map(outcomes.set_index("request_id")["label"].astype(np.float64))
    else:
        label = pd.Series(np.nan, index=frame.index)
    frame["label"] = label.to_numpy(dtype=np.float64)
    raw = sg.partition_dir(store, "raw", spec, day)
    raw.mkdir(parents=True, exist_ok=True)
    # snappy: Parquet's default, read by every engine; zstd is 25% smaller and writes 2x slower (0.16 s vs
    # 0.07 s CPU for a day of 111,000 rows)
    label = pa.array(frame["label"].to_numpy(), from_pandas=True)  # NaN -> null: what SQL engines call missing
    pq.write_table(pred.append_column("label", label), raw / "part-0.parquet", compression="snappy",
                   row_group_size=256 * 1024)  # fmt: skip
    if not fold:
        return len(frame)
    summary = dsum.fold_day(frame, spec.day_date(day), SCHEMA)
    path = _summary_path(store, spec, summary.day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_bytes(summary))
    return len(frame)


def ingest(source: Path, store: Path, spec: sg.ScaleSpec, fold: bool = True) -> tuple[int, float]:
    started, cpu = time.perf_counter(), time.process_time()
    rows = sum(ingest_day(source, store, spec, d, fold) for d in range(spec.days))
    cpu = time.process_time() - cpu
    what = "import (raw store + summaries)" if fold else "bare copy (raw store only)"
    print(f"  {what}: CPU {cpu:.1f} s ({rows / cpu:,.0f} rows per CPU second)")
    return rows, time.perf_counter() - started


def fold_only(store: Path, spec: sg.ScaleSpec) -> tuple[int, float]:
    """The summary path alone (e.g. 100M rows): generate each day and fold it, no Parquet at all; the
    seconds are the fold's and the blob's, not the generator's (both are printed, wall and CPU, with this
    process's peak memory: one day's rows plus one day's summary, whatever the row count)."""
    rows, seconds, cpu, gen_wall, gen_cpu = 0, 0.0, 0.0, 0.0, 0.0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for day, frame in sg.iter_days(spec):
        started, cpu_started = time.perf_counter(), time.process_time()
        gen_wall, gen_cpu = gen_wall + started - wall0, gen_cpu + cpu_started - cpu0
        summary = dsum.fold_day(frame, spec.day_date(day), SCHEMA)
        path = _summary_path(store, spec, summary.day)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(to_bytes(summary))
        rows += len(frame)
        del frame, summary
        wall0, cpu0 = time.perf_counter(), time.process_time()
        seconds, cpu = seconds + wall0 - started, cpu + cpu0 - cpu_started
        if day % 10 == 9 or day == spec.days - 1:
            print(f"  day {day + 1}/{spec.days}: {rows:,} rows folded; fold wall {seconds:,.1f} s, CPU {cpu:,.1f} s; "
                  f"generator wall {gen_wall:,.1f} s, CPU {gen_cpu:,.1f} s; peak RSS {own_peak_rss_mib():,.0f} MiB",
                  flush=True)  # fmt: skip
    print(f"  fold (summaries + blobs): {rows / cpu:,.0f} rows per CPU second, {rows / seconds:,.0f} per wall second; "
          f"generator {rows / gen_cpu:,.0f} rows per CPU second; "
          f"fold process peak {own_peak_rss_mib():,.0f} MiB")  # fmt: skip
    return rows, seconds


class Server:
    """What a serving process holds: decoded day summaries (read on first use), nothing else."""

    def __init__(self, store: Path, spec: sg.ScaleSpec):
        self.store, self.spec, self.cache = store, spec, {}

    def days(self, first: int, last: int) -> list[dsum.DaySummary]:
        out = []
        for d in range(first, last + 1):
            if d not in self.cache:
                blob = _summary_path(self.store, self.spec, self.spec.day_date(d)).read_bytes()
                self.cache[d] = from_bytes(blob, serving=True)
            out.append(self.cache[d])
        return out

    def drift_view(self, reference: sm.WindowSummary, first: int, last: int) -> None:
        current = sm.merge_window(self.days(first, last))
        sm.drift(reference, current)
        sm.performance(current)


class _Clock:
    """Wall and CPU seconds of each step (CPU shows what a view costs when the machine is shared)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def __call__(self, name: str, fn) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        self.wall[name] = max(self.wall.get(name, 0.0), time.perf_counter() - wall)
        self.cpu[name] = max(self.cpu.get(name, 0.0), time.process_time() - cpu)


def serve(store: Path, spec: sg.ScaleSpec) -> dict[str, float]:
    """The views' wall seconds (max over the window changes), in this (fresh) process; cpu_<name>: CPU."""
    last = spec.days - 1
    srv = Server(store, spec)
    clock = _Clock()
    state: dict[str, object] = {}
    weeks = [(w, min(w + 6, last)) for w in range(0, spec.days, 7)]

    def first_render() -> None:
        state["reference"] = sm.merge_window(srv.days(0, REFERENCE_DAYS - 1))
        srv.drift_view(state["reference"], last - CURRENT_DAYS + 1, last)

    def performance_tab() -> None:
        current = sm.merge_window(srv.days(last - CURRENT_DAYS + 1, last))
        for f in SCHEMA.cohorts:
            sm.cohort_performance(current, f)
        for a, b in weeks:
            sm.performance(sm.merge_window(srv.days(a, b), sample=False))
        sm.reliability(current)

    def estimated_tab() -> None:
        calibrator, _ = sm.fit_calibrator(state["reference"])
        for i, (a, b) in enumerate(weeks):
            sm.estimated(sm.merge_window(srv.days(a, b), sample=False), calibrator, seed=i)

    clock("first_render_s", first_render)
    for first in (last - 13, last - 6, REFERENCE_DAYS):
        clock("window_change_s", lambda first=first: srv.drift_view(state["reference"], first, last))
    clock("performance_tab_s", performance_tab)
    clock("estimated_tab_s", estimated_tab)
    out = dict(clock.wall)
    out.update({f"cpu_{k}": v for k, v in clock.cpu.items()})
    out["peak_rss_mib"] = own_peak_rss_mib()
    return out


def serve_in_child(store: Path, spec: sg.ScaleSpec) -> dict[str, float]:
    args = f"Path({str(store)!r}), ScaleSpec({spec.rows}, {spec.days}, {spec.seed})"
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path\n"
            f"from bench.bench_scale import serve; from data.scale_gen import ScaleSpec\n"
            f"print(json.dumps(serve({args})))\n")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(rows: int, days: int, summary_only: bool, out: Path = OUT) -> dict[str, float]:
    spec = sg.ScaleSpec(rows, days)
    base = out / f"scale-{rows}-{days}"
    store = base / ("store-summary-only" if summary_only else "store")
    if summary_only:
        n, seconds = fold_only(store, spec)
        print(f"rows={rows:,}: folded {n:,} generated rows into summaries in {seconds:.1f} s "
              f"({n / seconds:,.0f} rows/s)")  # fmt: skip
    else:
        source = ensure_input(spec, base / "input")
        n, seconds = ingest(source, store, spec)
        print(f"rows={rows:,}: this bench's summary store (raw store + summary files, not Loopdeck's import "
              f"path) from {n:,} rows in {seconds:.1f} s ({n / seconds:,.0f} rows/s; "
              f"peak {own_peak_rss_mib():,.0f} MiB)")  # fmt: skip
    figures = serve_in_child(store, spec)
    figures["ingest_rows_s"] = n / seconds
    sizes = [p.stat().st_size for p in (store / "summaries").rglob("*.npz")]
    print(
        f"  summaries: {len(sizes)} day blobs, {sum(sizes) / 2**20:,.1f} MiB (per day: min {min(sizes) / 2**20:.2f}, "
        f"mean {np.mean(sizes) / 2**20:.2f}, max {max(sizes) / 2**20:.2f} MiB; {rows / spec.days:,.0f} rows a day); "
        f"serving process peak {figures['peak_rss_mib']:,.0f} MiB"
    )
    for k in VIEWS:
        print(f"  {k:<18} wall {figures[k]:6.2f}  cpu {figures['cpu_' + k]:6.2f}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--days", type=int, default=sg.DAYS)
    parser.add_argument("--baseline", type=int, default=None, help="also run this many rows first (flatness check)")
    parser.add_argument("--summary-only", action="store_true", help="fold generated rows, no Parquet (e.g. 100M)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the input, raw store and summaries")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="where the import comparison runs (Postgres: a scratch database, dropped at the end)",
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="server for --database postgres (default: LOOPDECK_BENCH_POSTGRES_URL, else LOOPDECK_TEST_POSTGRES_URL)",
    )
    parser.add_argument(
        "--import-rows", type=int, default=1_000_000, help="rows of the import comparison (at most --rows; 0: skip it)"
    )
    parser.add_argument("--profile", type=Path, default=None,
                        help="also profile Loopdeck's import path in an extra run (cProfile stats here)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.days < REFERENCE_DAYS + CURRENT_DAYS:
        parser.error(f"--days must be at least {REFERENCE_DAYS + CURRENT_DAYS} (reference and current windows)")
    base = run(args.baseline, args.days, args.summary_only, args.out) if args.baseline else None
    fig = run(args.rows, args.days, args.summary_only, args.out)
    if base is not None:
        for k in (*VIEWS, *(f"cpu_{v}" for v in VIEWS), "peak_rss_mib"):
            ratio = fig[k] / base[k] if base[k] else float("nan")
            print(f"  flat in rows: {k} {fig[k]:.2f} at {args.rows:,} vs {base[k]:.2f} at {args.baseline:,}: "
                  f"x{ratio:.2f} ({'within' if ratio <= 1.25 else 'over'} +25%)")  # fmt: skip
    n_import = min(args.import_rows, args.rows)
    if n_import > 0 and not args.summary_only:
        spec = sg.ScaleSpec(n_import, args.days)
        folder = args.out / f"scale-{n_import}-{args.days}"
        steps = scale_import.compare(spec, ensure_input(spec, folder / "input"), folder,
                                     scale_import.Args(args.database, args.postgres_url, args.profile))  # fmt: skip
        real = steps["real"]
        fig["ingest_rows_s"] = real["rows"] / real["wall"]
        print(f"  ingest_rows_s: (c), Loopdeck's import path, {n_import:,} rows on {args.database}, wall")
    print(f"  load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"scale: rows={args.rows} first_render_s={fig['first_render_s']:.3f} "
          f"window_change_s={fig['window_change_s']:.3f} performance_tab_s={fig['performance_tab_s']:.3f} "
          f"estimated_tab_s={fig['estimated_tab_s']:.3f} "
          f"peak_rss_mib={fig['peak_rss_mib']:.0f} ingest_rows_s={fig['ingest_rows_s']:.0f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
