"""Experiment readout from the database: control + 5 treatment arms x 20 metrics x 20 segments (the 20
values of one cohort field, `segment`) = 2,000 segment comparisons (+ 100 overall), all four readings
(frequentist, sequential, Bayesian, CUPED), from 1,000,000 exposures with 20 metric observations each
(20,000,000 metric rows) in the DB.

Target: the readout in under 2 s server-side. What is timed:
  cold    the first aggregation of the raw rows into the rollups (SQL: exposures x metric
          observations grouped by variant x metric, overall and by the cohort field's value), once per
          experiment;
  warm    a readout when nothing new arrived: the freshness check (two max-id lookups), reading the
          rollups (SQL), and the statistics; this is what every page view costs;
  append  a readout after 10,000 new units arrived with their 20 metrics (200,000 rows): the
          incremental rollup update, reading the rollups, and the statistics.

.venv/bin/python bench/bench_experiment_readout.py [--exposures 1000000] [--db /tmp/loopdeck-bench-exp.db]
                                                   [--url postgresql+psycopg://...] [--fresh]
The SQLite file is kept and reused (loading 20M rows takes minutes); --fresh rebuilds it.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.core.db import make_engine, migrate  # noqa: E402
from services.core.roles import Actor  # noqa: E402
from services.experiments import analysis, rollups
from services.experiments import lifecycle as experiments  # noqa: E402
from services.experiments import readout as er  # noqa: E402

ARMS = ["control", "t1", "t2", "t3", "t4", "t5"]
METRICS = [f"m{i:02d}" for i in range(20)]
CONVERSIONS = 10  # m00-m09 are 0/1, m10-m19 means with a pre-period value (CUPED)
SEGMENTS = [f"seg-{i:02d}" for i in range(20)]  # values of the exposures' cohort field "segment"
KEY = "bench-readout"
TS = "2026-09-01 00:00:00.000000"
ACTOR = Actor.system("bench")
NULL = "\\N"  # COPY's NULL


def _register(engine) -> int:
    try:
        return experiments.get_experiment(engine, KEY).id
    except Exception:
        pass
    exp = experiments.register_experiment(
        engine, ACTOR, KEY, "Bench", "6 arms x 20 metrics x 20 segments",
        [{"key": a, "allocation": 1 / len(ARMS)} for a in ARMS], METRICS[0], METRICS[1:15],
        [{"metric": m, "bad_direction": "increase"} for m in METRICS[15:]], "conversion", 0.02, 0.05, 0.8, 170_000,
        "sequential",
    )  # fmt: skip
    experiments.start_experiment(engine, ACTOR, KEY, at=datetime(2026, 9, 1, tzinfo=UTC))
    return exp.id


def _rows(n: int, start: int, seed: int):
    """Exposure tuples and, per metric, the metric tuples of units start..start+n-1."""
    rng = np.random.default_rng(seed)
    units = [f"u{start + i:08d}" for i in range(n)]
    arm = rng.integers(0, len(ARMS), n)
    seg = rng.choice(len(SEGMENTS), n, p=(w := 1 / np.arange(1, len(SEGMENTS) + 1)) / w.sum())
    cohorts = [f'{{"segment": "{s}"}}' for s in np.asarray(SEGMENTS)[seg].tolist()]  # Exposure.cohorts (JSON)
    exposures = list(zip(units, np.asarray(ARMS)[arm].tolist(), cohorts, strict=True))
    lift = 1 + 0.01 * arm
    metrics = []
    for j, m in enumerate(METRICS):
        if j < CONVERSIONS:
            value = (rng.random(n) < 0.2 * lift).astype(float)
            pre = [None] * n
        else:
            x = rng.lognormal(3, 0.7, n)
            value = np.round(x * rng.lognormal(0, 0.4, n) * lift, 4)
            pre = np.round(x, 4).tolist()
        metrics.append((m, units, value.tolist(), pre))
    return exposures, metrics


def _load_sqlite(engine, exp_id: int, n: int, start: int, seed: int, chunk: int = 250_000) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA synchronous=OFF")
        for offset in range(0, n, chunk):
            exposures, metrics = _rows(min(chunk, n - offset), start + offset, seed + offset)
            cur.execute("BEGIN")
            cur.executemany(
                "INSERT INTO exposure (experiment_id, unit_id, variant, cohorts, ts) "
                f"VALUES ({exp_id}, ?, ?, ?, '{TS}')",
                exposures,
            )
            for m, units, values, pre in metrics:
                cur.executemany(
                    f"INSERT INTO metric_observation (experiment_id, unit_id, metric, value, pre_value) "
                    f"VALUES ({exp_id}, ?, '{m}', ?, ?)",
                    zip(units, values, pre, strict=True),
                )
            cur.execute("COMMIT")
            print(f"  loaded {offset + len(exposures):,} units", flush=True)
    finally:
        raw.close()


def _load_postgres(engine, exp_id: int, n: int, start: int, seed: int, chunk: int = 250_000) -> None:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        for offset in range(0, n, chunk):
            exposures, metrics = _rows(min(chunk, n - offset), start + offset, seed + offset)
            with conn.cursor() as cur:
                with cur.copy("COPY exposure (experiment_id, unit_id, variant, cohorts, ts) FROM STDIN") as copy:
                    buf = io.StringIO()
                    for u, v, s in exposures:
                        buf.write(f"{exp_id}\t{u}\t{v}\t{s}\t{TS}+00\n")
                    copy.write(buf.getvalue())
                with cur.copy(
                    "COPY metric_observation (experiment_id, unit_id, metric, value, pre_value) FROM STDIN"
                ) as copy:
                    for m, units, values, pre in metrics:
                        buf = io.StringIO()
                        for u, v, p in zip(units, values, pre, strict=True):
                            buf.write(f"{exp_id}\t{u}\t{m}\t{v}\t{NULL if p is None else p}\n")
                        copy.write(buf.getvalue())
            conn.commit()
            print(f"  loaded {offset + len(exposures):,} units", flush=True)
    finally:
        raw.close()


def _units(engine, exp_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM exposure WHERE experiment_id = {exp_id}")).scalar_one())


def _readout(engine, exp_id: int, label: str) -> er.Readout:
    t = time.perf_counter()
    status = rollups.refresh_rollup(engine, exp_id)
    t_refresh = time.perf_counter() - t
    t = time.perf_counter()
    agg = rollups.aggregate(engine, exp_id, refresh=False)
    t_read = time.perf_counter() - t
    exp = experiments.find_experiment(engine, exp_id)
    t = time.perf_counter()
    readout = analysis.compute(exp, agg)
    t_stats = time.perf_counter() - t
    total = t_refresh + t_read + t_stats
    verdict = "OK" if total < 2 else "over"
    print(
        f"{label:<7} {total:7.3f} s  = rollup {status.mode:<11} {t_refresh:7.3f} s (SQL) + read rollups "
        f"{t_read:6.3f} s (SQL) + statistics {t_stats:6.3f} s   [target < 2 s: {verdict}]"
    )
    return readout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exposures", type=int, default=1_000_000)
    parser.add_argument("--db", default="/tmp/loopdeck-bench-exp.db")
    parser.add_argument("--url", default=None, help="a database URL instead of the SQLite file (e.g. Postgres)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the database")
    args = parser.parse_args()

    url = args.url or f"sqlite:///{args.db}"
    if args.url is None and args.fresh and os.path.exists(args.db):
        os.remove(args.db)
    engine = make_engine(url)
    if args.url and args.fresh:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    migrate(engine)
    exp_id = _register(engine)
    load = _load_postgres if engine.dialect.name == "postgresql" else _load_sqlite
    have = _units(engine, exp_id)
    if have < args.exposures:
        print(f"loading {args.exposures - have:,} units x {len(METRICS)} metrics into {engine.dialect.name} ...")
        t = time.perf_counter()
        load(engine, exp_id, args.exposures - have, have, seed=have)
        print(f"  load took {time.perf_counter() - t:.0f} s (setup, not timed against the target)")
        with engine.begin() as conn:  # the next readout must rebuild from the raw rows
            for table in ("experiment_rollup", "experiment_exposure_rollup", "experiment_rollup_state"):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE experiment_id = {exp_id}"))
    n_units = _units(engine, exp_id)
    print(
        f"{n_units:,} exposures, {n_units * len(METRICS):,} metric observations; {len(ARMS)} arms x "
        f"{len(METRICS)} metrics x {len(SEGMENTS)} segments ({engine.dialect.name})"
    )
    readout = _readout(engine, exp_id, "cold")
    seg = readout.results[readout.results["segment"] != er.ALL]
    print(
        f"        {len(seg):,} segment comparisons + {len(readout.overall):,} overall, each read four ways "
        f"(frequentist, sequential, Bayesian, CUPED on {int(readout.metrics['cuped'].sum())} metrics)"
    )
    _readout(engine, exp_id, "warm")
    best = min((_readout(engine, exp_id, "warm") for _ in range(2)), key=lambda r: r.timings["statistics"])
    print("        statistics breakdown: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in best.timings.items()
                                                   if k not in ("sql", "statistics")))  # fmt: skip
    load(engine, exp_id, 10_000, n_units, seed=n_units)
    _readout(engine, exp_id, "append")
    _readout(engine, exp_id, "warm")


if __name__ == "__main__":
    main()
