"""Models benchmarks (targets from issue 7), printed as figures:

1. Retraining on 200,000 rows in under 60 s, with progress: the demo at scale 1.3 (260,000
   predictions, about 200,000 with an outcome) is loaded into a fresh SQLite file (not timed against
   the target), then a candidate is retrained from the champion (v2, gradient boosting) over the whole
   period: read + fit + evaluate + register, every progress message printed with its time.
2. The judge panel for 200,000 holdout rows, 10 cohorts (platform 3, region 4, tier 3) and 1,000
   bootstrap resamples in under 10 s: services.models.judge.evaluate_panel on 200,000 fresh requests of the
   scenario scored by the demo's v1 and v2 (the statistics: metrics with CIs, paired tests, gates,
   calibration). Then judge() end to end on the loaded database (read holdout, load both artifacts,
   score, panel) for a candidate trained up to 2026-09-15, for reference.

    .venv/bin/python bench/bench_models.py [--scale 1.3] [--resamples 1000] [--skip-retrain]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data import scenario as sc  # noqa: E402
from services.models import judge  # noqa: E402
from services.models.registry import ARTIFACT_DIR_ENV  # noqa: E402

RETRAIN_TARGET_S = 60.0
JUDGE_TARGET_S = 10.0


def bench_judge_panel(resamples: int, n: int = 200_000) -> float:
    s = sc.build_scenario(0.02)  # the models only (v1 and v2 fitted as in the demo)
    rng = np.random.default_rng(7)
    rows = sc.generate_requests(rng, n, 0, sc.DAYS)
    columns = list(sc.NUMERIC_FEATURES + sc.CATEGORICAL_FEATURES)
    champion = s.models[1].estimator.predict_proba(rows[columns])[:, 1]
    candidate = s.models[0].estimator.predict_proba(rows[columns])[:, 1]
    cohorts = rows[list(sc.COHORT_FIELDS)].astype(object)
    y = rows["actual_label"].to_numpy()
    n_cohorts = sum(cohorts[c].nunique() for c in cohorts)
    holdout = judge.Holdout(pd.Timestamp(sc.START).to_pydatetime(), None, len(y), int(y.sum()), None, None)
    config = judge.JudgeConfig(n_resamples=resamples)
    side = judge.Side(1, "churn", 1, "candidate", "")
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    panel = judge.evaluate_panel(y, candidate, champion, cohorts, config, side, judge.Side(2, "churn", 2, "champion",
                                                                                           ""), holdout)  # fmt: skip
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    auc = panel.comparison.overall["roc_auc"]
    print(f"judge panel         {len(y):,} holdout rows, {n_cohorts} cohorts, {resamples:,} resamples: {seconds:.2f} s "
          f"wall, {cpu:.2f} s CPU (load average {load:.1f} before) "
          f"(target < {JUDGE_TARGET_S:.0f} s) {'OK' if seconds < JUDGE_TARGET_S else 'MISSED'}")  # fmt: skip
    print(f"                    AUC v1 - v2 = {auc.difference:+.4f} [{auc.diff_low:+.4f}, {auc.diff_high:+.4f}], "
          f"{len(panel.gates)} gates, verdict {panel.verdict}; blocks {panel.comparison.blocks:,}, "
          f"bins {panel.comparison.bins}")  # fmt: skip
    return seconds


def bench_retrain(scale: float, resamples: int) -> None:
    from data.demo import load_demo
    from services.core.db import make_engine, migrate
    from services.core.roles import Actor
    from services.models import registry, retraining

    folder = tempfile.mkdtemp(prefix="bench_models_")
    os.environ[ARTIFACT_DIR_ENV] = str(Path(folder) / "artifacts")
    engine = make_engine(f"sqlite:///{folder}/bench.db")
    migrate(engine)
    t0 = time.perf_counter()
    load_demo(engine, echo=lambda _: None, scale=scale)
    print(f"demo load           scale {scale:g}: {time.perf_counter() - t0:.1f} s (setup, not timed against a target)")
    actor = Actor.system("bench")
    champion = registry.aliases(engine, sc.MODEL_NAME).champion
    load = os.getloadavg()[0]
    t_start, cpu = time.perf_counter(), time.process_time()

    def progress(fraction: float, message: str) -> None:
        print(f"  {time.perf_counter() - t_start:6.2f} s  {fraction:5.0%}  {message}")

    result = retraining.retrain(engine, actor, champion.id, sc.START, sc.NOW, seed=0, progress=progress)
    total, cpu = time.perf_counter() - t_start, time.process_time() - cpu
    rows = result.training.rows
    print(f"retrain             {rows:,} rows ({result.version.training_data['rows']:,} fitted, "
          f"{result.version.training_data['validation_rows']:,} validation): {total:.1f} s wall, {cpu:.1f} s CPU "
          f"(load average {load:.1f} before) "
          f"(target < {RETRAIN_TARGET_S:.0f} s) {'OK' if total < RETRAIN_TARGET_S else 'MISSED'}; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))  # fmt: skip

    early = retraining.retrain(engine, actor, champion.id, sc.START, datetime(2026, 9, 15, tzinfo=UTC), seed=0)
    t1 = time.perf_counter()
    panel = judge.judge(engine, early.version.id, champion.id, config=judge.JudgeConfig(n_resamples=resamples))
    print(f"judge end to end    {panel.holdout.rows:,} holdout rows from the database, both artifacts loaded and "
          f"scored, {resamples:,} resamples: {time.perf_counter() - t1:.1f} s; verdict {panel.verdict}")  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.3, help="demo scale for the retraining bench")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--skip-retrain", action="store_true")
    args = parser.parse_args()
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    bench_judge_panel(args.resamples)
    if not args.skip_retrain:
        bench_retrain(args.scale, args.resamples)


if __name__ == "__main__":
    main()
