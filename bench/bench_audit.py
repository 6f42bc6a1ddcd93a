"""Audit verify over N events on SQLite (target: 1,000,000 in under 10 s).

.venv/bin/python bench/bench_audit.py [--events 1000000] [--url sqlite:///...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.core import audit  # noqa: E402
from services.core.db import make_engine, migrate, write_session  # noqa: E402
from services.core.roles import Actor, Role  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench_audit.db"
    engine = make_engine(url)
    migrate(engine)
    actor = Actor("bench@loopdeck.io", Role.admin)
    start = time.perf_counter()
    batch = 50_000
    for first in range(0, args.events, batch):
        items = [
            (i, {"row": i, "kind": "bench", "note": "a typical small payload"})
            for i in range(first, min(first + batch, args.events))
        ]
        with write_session(engine) as session:
            audit.record_many(session, actor, "bench.event", "bench", items)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    report = audit.verify(engine)
    verify_s = time.perf_counter() - start
    print(f"backend            {engine.dialect.name}")
    print(f"events written     {args.events:,} in {write_s:.1f} s ({args.events / write_s:,.0f} events/s, bulk)")
    print(f"verify             {verify_s:.2f} s ({args.events / verify_s:,.0f} events/s)  target < 10 s for 1,000,000")
    print(f"result             {report.message()}")


if __name__ == "__main__":
    main()
