"""Demo load time, step by step (target: the full demo in under a minute on SQLite).

.venv/bin/python bench/bench_demo.py [--scale 1.0] [--url sqlite:///... | postgresql+psycopg://.../empty_db]

Without --url: a fresh SQLite file in a temporary folder. A Postgres URL must point at an empty
database (the loader refuses to load the demo twice). Artifacts and routing files go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.demo import load_demo  # noqa: E402
from services.core.db import make_engine, migrate  # noqa: E402
from services.models.registry import ARTIFACT_DIR_ENV  # noqa: E402
from services.models.routing import ROUTING_DIR_ENV  # noqa: E402

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench_demo_")
    os.environ[ARTIFACT_DIR_ENV] = str(Path(folder) / "artifacts")
    os.environ[ROUTING_DIR_ENV] = str(Path(folder) / "routing")  # never the checkout's data/routing
    url = args.url or f"sqlite:///{folder}/bench_demo.db"
    engine = make_engine(url)
    start = time.perf_counter()
    migrate(engine)
    migrate_s = time.perf_counter() - start
    print(f"backend            {engine.dialect.name} ({url.split('@')[-1]})")
    print(f"  {'migrate':<22} {migrate_s:6.1f} s")
    summary = load_demo(engine, echo=print, scale=args.scale)
    total = time.perf_counter() - start
    cpu = time.process_time()
    print(
        f"total              {total:.1f} s wall ({cpu:.1f} s CPU in this process)  "
        f"target < {TARGET_SECONDS:.0f} s for scale 1 on SQLite"
    )
    print("rows imported      " + ", ".join(f"{k} {v:,}" for k, v in summary.counts.items()))


if __name__ == "__main__":
    main()
