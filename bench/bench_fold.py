"""What the monitoring refresh's fold costs (services/monitoring/summary_fold.py): N predictions of
data/scale_gen.py's story imported through the import service in chunks of about --chunk rows, the
outcomes known by each chunk's end imported after it (so most arrive late, as in production), and the
day summaries + raw store folded after every chunk. Only summary_fold.refresh is timed (not the import,
not the day blocks).

    .venv/bin/python bench/bench_fold.py --rows 1000000
    .venv/bin/python bench/bench_fold.py --rows 1000000 --database postgresql+psycopg://postgres@127.0.0.1:5432/x

CPU is this process's (on Postgres the server's own CPU is not in it; wall is). The last line reads
`fold: rows=N chunks=C fold_cpu_s=X cpu_s_per_million=X wall_s=X outcomes=N rebuild_cpu_s_per_million=X`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

from data import scale_gen as sg  # noqa: E402
from services.core.db import make_engine, write_session  # noqa: E402
from services.core.roles import Actor  # noqa: E402
from services.core.schema_models import ModelVersion  # noqa: E402
from services.ingest.service import import_frame  # noqa: E402
from services.monitoring import summary_admin, summary_fold  # noqa: E402

PROFILE = None  # a cProfile.Profile when --profile


def _prediction_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"request_id": frame["request_id"], "model_name": sg.MODEL_NAME, "model_version": sg.VERSION,
                        "ts": frame["ts"], "score": frame["score"],
                        "predicted_label": frame["predicted_label"]})  # fmt: skip
    for f in (*sg.NUMERIC_FEATURES, *sg.CATEGORICAL_FEATURES):
        out[f"feature_{f}"] = frame[f].astype(str) if f in sg.CATEGORICAL_FEATURES else frame[f]
    for f in sg.COHORT_FIELDS:
        out[f"cohort_{f}"] = frame[f].astype(str)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000, help="predictions per import (days are kept whole)")
    parser.add_argument("--database", default=None, help="a database URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--profile", action="store_true", help="print the fold's top functions by own time")
    args = parser.parse_args(argv)
    global PROFILE
    if args.profile:
        import cProfile

        PROFILE = cProfile.Profile()
    folder = Path(tempfile.mkdtemp(prefix="bench-fold-"))
    engine = make_engine(args.database or f"sqlite:///{folder / 'fold.db'}")
    SQLModel.metadata.drop_all(engine) if args.database else None
    SQLModel.metadata.create_all(engine)
    actor = Actor.cli()
    with write_session(engine) as session:
        schema = {
            **dict.fromkeys(sg.NUMERIC_FEATURES, "numeric"),
            **dict.fromkeys(sg.CATEGORICAL_FEATURES, "categorical"),
        }
        session.add(
            ModelVersion(model_name=sg.MODEL_NAME, version=sg.VERSION, created_by="bench", feature_schema=schema)
        )
    spec = sg.ScaleSpec(args.rows)
    pending: list[pd.DataFrame] = []  # outcomes not imported yet: request_id, ts, actual_label
    chunk: list[pd.DataFrame] = []
    cpu = wall = 0.0
    chunks = outcomes = 0

    def flush(until: pd.Timestamp) -> None:
        nonlocal cpu, wall, chunks, outcomes, pending
        frame = pd.concat(chunk, ignore_index=True)
        chunk.clear()
        import_frame(engine, actor, "predictions", _prediction_frame(frame), f"chunk-{chunks}")
        known = frame[frame["label"].notna()]
        pending.append(pd.DataFrame({"request_id": known["request_id"], "ts": known["outcome_ts"],
                                     "actual_label": known["label"].astype(int)}))  # fmt: skip
        waiting = pd.concat(pending, ignore_index=True)
        due = (waiting["ts"] <= until).to_numpy()
        if due.any():
            import_frame(engine, actor, "outcomes", waiting[due], f"outcomes-{chunks}")
            outcomes += int(due.sum())
        pending = [waiting[~due]]
        c, w = time.process_time(), time.perf_counter()
        if PROFILE is not None:
            PROFILE.enable()
        result = summary_fold.refresh(engine)
        if PROFILE is not None:
            PROFILE.disable()
        cpu += time.process_time() - c
        wall += time.perf_counter() - w
        chunks += 1
        print(
            f"  chunk {chunks}: {len(frame):,} predictions, {int(due.sum()):,} outcomes; fold "
            f"{result.predictions:,} + {result.outcomes:,} late in {time.perf_counter() - w:.1f} s",
            flush=True,
        )

    rows = 0
    for day, frame in sg.iter_days(spec):
        chunk.append(frame)
        rows += len(frame)
        if sum(len(f) for f in chunk) >= args.chunk or day == spec.days - 1:
            flush(pd.Timestamp(spec.day_date(day) + pd.Timedelta(days=1), tz="UTC"))
    mv = summary_admin.version_id(engine, sg.MODEL_NAME, sg.VERSION)
    checked = summary_admin.check_version(engine, mv)
    print(f"  check: {checked.summary()}")
    c = time.process_time()
    summary_fold.rebuild_version(engine, mv)
    rebuild = time.process_time() - c
    print(f"  rebuild of the version from its rows: CPU {rebuild:.1f} s")
    if PROFILE is not None:
        import pstats

        pstats.Stats(PROFILE).sort_stats("tottime").print_stats(30)
        pstats.Stats(PROFILE).sort_stats("cumulative").print_stats(40)
    per_million = cpu / rows * 1e6
    print(
        f"fold: rows={rows} chunks={chunks} fold_cpu_s={cpu:.2f} cpu_s_per_million={per_million:.2f} "
        f"wall_s={wall:.2f} outcomes={outcomes} rebuild_cpu_s_per_million={rebuild / rows * 1e6:.2f}"
    )
    return 0 if checked.ok else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
