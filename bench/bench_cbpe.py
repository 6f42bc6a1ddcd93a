"""CBPE side by side with NannyML's on the same data: estimated accuracy and ROC AUC per daily window.

.venv/bin/python bench/bench_cbpe.py [--nannyml-python /tmp/nmlvenv/bin/python] [--rows-per-day 5000]

A binary model whose raw score is over-confident (true probability = sigmoid(0.7 * logit(score)), so
both tools calibrate on the reference), 10 reference days with labels, then 20 analysis days whose
score distribution shifts (more high-risk rows from day 10 on). Prints, per analysis day, the realized
value and both estimates, and the largest difference between the two estimates, plus each tool's time.
NannyML is not a Loopdeck dependency. To compare, install it into a throwaway venv, e.g.
    python3 -m venv /tmp/nmlvenv && /tmp/nmlvenv/bin/pip install nannyml statsmodels
Without it the bench prints our figures only.
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

DEFAULT_NANNYML_PYTHON = "/tmp/nmlvenv/bin/python"
REFERENCE_DAYS, ANALYSIS_DAYS = 10, 20


def make_data(rows_per_day: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(REFERENCE_DAYS + ANALYSIS_DAYS):
        shift = 0.0 if day < REFERENCE_DAYS + 10 else 0.8  # covariate shift in the second half of the analysis
        logit = rng.normal(-0.8 + shift, 1.6, rows_per_day)
        score = 1 / (1 + np.exp(-logit))
        truth = 1 / (1 + np.exp(-0.7 * logit))  # the raw score is over-confident
        y = (rng.random(rows_per_day) < truth).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "timestamp": pd.Timestamp("2026-01-01")
                    + pd.Timedelta(days=day)
                    + pd.to_timedelta(rng.integers(0, 86_400, rows_per_day), unit="s"),
                    "score": score.round(6),
                    "pred": (score >= 0.5).astype(int),
                    "y": y,
                    "day": day,
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values("timestamp", ignore_index=True)


def ours(data: pd.DataFrame) -> dict:
    from services.stats.cbpe import estimate_by_window, fit_calibrator

    reference = data[data["day"] < REFERENCE_DAYS]
    analysis = data[data["day"] >= REFERENCE_DAYS]
    start = time.perf_counter()
    calibrator = fit_calibrator(reference["y"], reference["score"])
    windows = estimate_by_window(
        analysis["day"].to_numpy(), calibrator.calibrate(analysis["score"]), analysis["pred"].to_numpy(),
        raw_score=analysis["score"].to_numpy(),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "calibration": calibrator.method,
        "accuracy": [w.estimate.accuracy.value for w in windows],
        "roc_auc": [w.estimate.roc_auc.value for w in windows],
    }


NANNYML_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    import nannyml as nml

    data = pd.read_parquet(sys.argv[1])
    reference = data[data["day"] < int(sys.argv[2])]
    analysis = data[data["day"] >= int(sys.argv[2])].drop(columns=["y"])
    start = time.perf_counter()
    est = nml.CBPE(
        y_pred_proba="score", y_pred="pred", y_true="y", timestamp_column_name="timestamp",
        metrics=["accuracy", "roc_auc"], chunk_period="D", problem_type="classification_binary",
    )
    est.fit(reference)
    result = est.estimate(analysis).filter(period="analysis").to_df()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "seconds": seconds, "version": nml.__version__,
        "accuracy": [float(v) for v in result[("accuracy", "value")]],
        "roc_auc": [float(v) for v in result[("roc_auc", "value")]],
    }))
    """
)


def realized(data: pd.DataFrame) -> dict:
    from sklearn.metrics import accuracy_score, roc_auc_score

    analysis = data[data["day"] >= REFERENCE_DAYS]
    out: dict[str, list[float]] = {"accuracy": [], "roc_auc": []}
    for _, part in analysis.groupby("day"):
        out["accuracy"].append(accuracy_score(part["y"], part["pred"]))
        out["roc_auc"].append(roc_auc_score(part["y"], part["score"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-per-day", type=int, default=5_000)
    parser.add_argument("--nannyml-python", default=DEFAULT_NANNYML_PYTHON)
    args = parser.parse_args()
    data = make_data(args.rows_per_day)
    mine, truth = ours(data), realized(data)
    theirs = None
    folder = Path(tempfile.mkdtemp(prefix="loopdeck_bench_cbpe_", dir="/tmp"))
    try:
        if Path(args.nannyml_python).exists():
            data.to_parquet(folder / "data.parquet")
            script = folder / "run_nannyml.py"
            script.write_text(NANNYML_SCRIPT)
            out = subprocess.run(
                [args.nannyml_python, str(script), str(folder / "data.parquet"), str(REFERENCE_DAYS)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode == 0:
                theirs = json.loads(out.stdout.strip().splitlines()[-1])
            else:
                print(f"nannyml failed: {out.stderr[-2000:]}")
        else:
            print(f"nannyml not found at {args.nannyml_python}: our figures only")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"{args.rows_per_day:,} rows a day; reference {REFERENCE_DAYS} days, analysis {ANALYSIS_DAYS} days "
          f"(score shift from analysis day 10); our calibration: {mine['calibration']}")  # fmt: skip
    timing = f"ours {mine['seconds']:.2f} s"
    if theirs:
        timing += f"; nannyml {theirs['version']} {theirs['seconds']:.2f} s"
    print(timing)
    for metric in ("accuracy", "roc_auc"):
        print(f"\n{metric}: day, realized, ours, nannyml, ours - nannyml")
        diffs = []
        for i in range(ANALYSIS_DAYS):
            line = f"  {i:>3} {truth[metric][i]:8.4f} {mine[metric][i]:8.4f}"
            if theirs:
                diff = mine[metric][i] - theirs[metric][i]
                diffs.append(abs(diff))
                line += f" {theirs[metric][i]:8.4f} {diff:+9.5f}"
            print(line)
        err = np.abs(np.array(mine[metric]) - np.array(truth[metric]))
        print(f"  ours vs realized: mean |error| {err.mean():.4f}, max {err.max():.4f}")
        if diffs:
            print(f"  ours vs nannyml: max |difference| {max(diffs):.2e}")


if __name__ == "__main__":
    main()
