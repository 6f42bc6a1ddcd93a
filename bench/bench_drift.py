"""Drift report on 1,000,000 reference + 1,000,000 current rows, 10 numeric + 5 categorical columns,
ours side by side with Evidently's DataDriftPreset on the same data (target: >= 10x faster, the same
verdict on every column, at most half the peak memory).

.venv/bin/python bench/bench_drift.py [--rows 1000000] [--evidently-python /tmp/evvenv/bin/python]

The data is written to Parquet in a temporary folder under /tmp; each contender runs in its own
process that reads it back, so each one's figures start from the same loaded DataFrames:
- time: the drift report only (data already loaded);
- peak memory: the process's peak resident set size during the report minus its size before
  (Linux VmHWM, reset through /proc/self/clear_refs just before the report).
Evidently is not a Loopdeck dependency. To compare, install it into a throwaway venv, e.g.
    python3 -m venv /tmp/evvenv && /tmp/evvenv/bin/pip install evidently "pandas<3" pyarrow
(evidently 0.7 does not import with pandas 3). Without it the bench prints our figures only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NUMERIC = [f"x{i}" for i in range(10)]
CATEGORICAL = [f"c{i}" for i in range(5)]
DEFAULT_EVIDENTLY_PYTHON = "/tmp/evvenv/bin/python"


def make_data(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current windows. Drifted on purpose: x0 (mean +0.3 sd), x1 (sd x1.5), x2 (lognormal
    shift), x7 (mean +0.12 sd, just over the 0.1 threshold), c0 (shares flatten), c3 (a new category).
    x3 moves by 0.05 sd: every p-value flags it at this size, the effect-size rule does not."""
    rng = np.random.default_rng(seed)

    def window(current: bool) -> pd.DataFrame:
        s = 1.0 if current else 0.0
        df = pd.DataFrame(
            {
                "x0": rng.normal(0.3 * s, 1, rows),
                "x1": rng.normal(0, 1 + 0.5 * s, rows),
                "x2": rng.lognormal(0.25 * s, 0.6, rows),
                "x3": rng.normal(0.05 * s, 1, rows),
                "x4": rng.exponential(1.0, rows),
                "x5": rng.integers(0, 101, rows),  # integers, 101 distinct values
                "x6": np.where(rng.random(rows) < 0.1, np.nan, rng.normal(5, 2, rows)),  # 10% missing
                "x7": rng.normal(0.12 * s, 1, rows),
                "x8": rng.gamma(2.0, 2.0, rows),
                "x9": rng.normal(100, 15, rows).round(1),
            }
        )
        shares0 = [0.25, 0.25, 0.25, 0.25] if current else [0.4, 0.3, 0.2, 0.1]
        df["c0"] = rng.choice(["alpha", "beta", "gamma", "delta"], rows, p=shares0)
        zipf = 1 / np.arange(1, 21)
        df["c1"] = rng.choice([f"city_{i:02d}" for i in range(20)], rows, p=zipf / zipf.sum())
        shares2 = [0.47, 0.32, 0.21] if current else [0.5, 0.3, 0.2]
        df["c2"] = rng.choice(["mobile", "desktop", "tablet"], rows, p=shares2)
        if current:
            df["c3"] = rng.choice(["basic", "plus", "pro", "trial"], rows, p=[0.55, 0.25, 0.12, 0.08])
        else:
            df["c3"] = rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.27, 0.13])
        df["c4"] = rng.choice(["yes", "no"], rows, p=[0.3, 0.7])
        for c in CATEGORICAL:
            df[c] = df[c].astype("category")
        return df

    return window(False), window(True)


# ---------------------------------------------------------------------------------------------
# Memory: peak RSS during a block, from Linux's high-water mark


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS")


def worker_ours(data: Path, all_tests: bool) -> dict:
    from services.stats.drift_select import dataset_drift

    ref = pd.read_parquet(data / "reference.parquet")
    cur = pd.read_parquet(data / "current.parquet")
    kinds = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}
    before = _reset_peak()
    start = time.perf_counter()
    report = dataset_drift(ref, cur, columns=kinds, all_tests=all_tests)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM") - before
    columns = {
        c.column: {"method": str(c.result.method), "score": c.result.score, "drifted": c.drifted}
        for c in report.columns
    }
    per_test: dict[str, float] = {}
    if all_tests:
        # Where the time goes, test by test (measured again, outside the timed report).
        from services.stats.drift import default_threshold
        from services.stats.drift_select import applicable_methods, prepare_column, run_test

        for name, kind in kinds.items():
            t = time.perf_counter()
            col = prepare_column(ref[name], cur[name], kind)
            per_test["prepare (sort / count)"] = per_test.get("prepare (sort / count)", 0.0) + time.perf_counter() - t
            for method in applicable_methods(kind, col.n_unique()):
                t = time.perf_counter()
                run_test(col, method, default_threshold(method))
                per_test[method] = per_test.get(method, 0.0) + time.perf_counter() - t
    return {
        "seconds": seconds,
        "peak_mib": peak / 1024,
        "columns": columns,
        "share": report.share_drifted,
        "dataset_drift": report.drifted,
        "tests_run": per_test,
    }


EVIDENTLY_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import pandas as pd
    from evidently import Dataset, DataDefinition, Report
    from evidently.presets import DataDriftPreset

    def status_kib(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
        return 0

    data = Path(sys.argv[1])
    numeric, categorical = json.loads(sys.argv[2]), json.loads(sys.argv[3])
    ref = pd.read_parquet(data / "reference.parquet")
    cur = pd.read_parquet(data / "current.parquet")
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kib("VmRSS")
    start = time.perf_counter()
    reference = Dataset.from_pandas(ref, data_definition=definition)
    current = Dataset.from_pandas(cur, data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    peak = status_kib("VmHWM") - before
    columns, share = {}, None
    for m in result["metrics"]:
        config = m["config"]
        if config["type"].endswith("ValueDrift"):
            method, threshold, value = config["method"], config["threshold"], m["value"]
            is_p = "p_value" in method.lower() or "p-value" in method.lower()
            drifted = bool(value < threshold if is_p else value >= threshold)
            columns[config["column"]] = {"method": method, "score": float(value), "drifted": drifted}
        elif config["type"].endswith("DriftedColumnsCount"):
            share = m["value"]["share"]
    import evidently
    print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "columns": columns, "share": share,
                      "version": evidently.__version__}))
    """
)


def run_worker(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--evidently-python", default=DEFAULT_EVIDENTLY_PYTHON)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--keep-data", action="store_true", help="leave the Parquet files in /tmp")
    parser.add_argument("--worker", choices=["ours", "ours-all"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker_ours(args.data, all_tests=args.worker == "ours-all")))
        return

    data = Path(tempfile.mkdtemp(prefix="loopdeck_bench_drift_", dir="/tmp"))
    try:
        compare(args, data)
    finally:
        if not args.keep_data:
            shutil.rmtree(data, ignore_errors=True)


def compare(args: argparse.Namespace, data: Path) -> None:
    start = time.perf_counter()
    ref, cur = make_data(args.rows)
    ref.to_parquet(data / "reference.parquet")
    cur.to_parquet(data / "current.parquet")
    del ref, cur
    print(
        f"data               {args.rows:,} + {args.rows:,} rows, {len(NUMERIC)} numeric + {len(CATEGORICAL)} "
        f"categorical columns, written to {data} in {time.perf_counter() - start:.1f} s"
    )

    me = [sys.executable, str(Path(__file__).resolve())]
    ours = run_worker([*me, "--worker", "ours", "--data", str(data)])
    ours_all = run_worker([*me, "--worker", "ours-all", "--data", str(data)])
    evidently = None
    if not args.skip_evidently and Path(args.evidently_python).exists():
        script = data / "run_evidently.py"
        script.write_text(EVIDENTLY_SCRIPT)
        try:
            evidently = run_worker(
                [args.evidently_python, str(script), str(data), json.dumps(NUMERIC), json.dumps(CATEGORICAL)]
            )
        except RuntimeError as exc:
            print(f"evidently          failed: {exc}")
    elif not args.skip_evidently:
        print(f"evidently          not found at {args.evidently_python}: our figures only")

    print()
    print(f"{'':28s}{'time':>10s}{'peak memory':>14s}")
    print(f"{'ours, default rule':28s}{ours['seconds']:>9.2f}s{ours['peak_mib']:>10.0f} MiB")
    print(f"{'ours, every test':28s}{ours_all['seconds']:>9.2f}s{ours_all['peak_mib']:>10.0f} MiB")
    for method, seconds in sorted(ours_all["tests_run"].items(), key=lambda kv: -kv[1]):
        print(f"{'    ' + method:28s}{seconds:>9.2f}s")
    if evidently:
        print(
            f"{'evidently ' + evidently['version']:28s}{evidently['seconds']:>9.2f}s"
            f"{evidently['peak_mib']:>10.0f} MiB   DataDriftPreset"
        )
        print(
            f"{'ratio (evidently / ours)':28s}{evidently['seconds'] / ours['seconds']:>9.1f}x"
            f"{evidently['peak_mib'] / max(ours['peak_mib'], 1):>10.1f}x"
        )
    print()
    header = f"{'column':8s}{'our test':16s}{'score':>11s}{'drift':>7s}"
    if evidently:
        header += f"   {'evidently test':34s}{'score':>11s}{'drift':>7s}  agree"
    print(header)
    agree = 0
    for name in NUMERIC + CATEGORICAL:
        o = ours["columns"][name]
        line = f"{name:8s}{o['method']:16s}{o['score']:>11.4g}{'yes' if o['drifted'] else 'no':>7s}"
        if evidently:
            e = evidently["columns"].get(name)
            if e is None:
                line += "   (missing)"
            else:
                same = e["drifted"] == o["drifted"]
                agree += same
                line += (
                    f"   {e['method']:34s}{e['score']:>11.4g}{'yes' if e['drifted'] else 'no':>7s}"
                    f"  {'yes' if same else 'NO'}"
                )
        print(line)
    print()
    print(f"dataset drift      ours: share {ours['share']:.3f} -> {'drift' if ours['dataset_drift'] else 'no drift'}")
    if evidently:
        print(f"                   evidently: share {evidently['share']:.3f}")
        print(f"verdict agreement  {agree} / {len(NUMERIC) + len(CATEGORICAL)} columns")


if __name__ == "__main__":
    main()
