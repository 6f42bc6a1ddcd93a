"""PII redaction: per-type precision/recall on the labelled set and throughput (texts/s) on it and on
the demo scenario's feedback texts.

.venv/bin/python bench/bench_pii.py [--no-demo] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import pii_eval  # noqa: E402
from services.feedback import pii  # noqa: E402


def throughput(texts: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        pii.redact_many(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-demo", action="store_true", help="skip the demo scenario (it trains two models)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rows = pii_eval.load()
    score = pii_eval.score(rows)
    print(f"labelled set: {len(rows)} texts, {sum(not r['spans'] for r in rows)} without PII")
    print(pii_eval.table(score))
    for row_id, what, detail in score.errors:
        print(f"  {what} {row_id}: {detail}")
    texts = [r["text"] for r in rows]
    print(f"\nthroughput, labelled set: {throughput(texts, args.repeat):,.0f} texts/s")
    if not args.no_demo:
        from data import scenario

        start = time.perf_counter()
        feedback = scenario.build_scenario().feedback_frame()
        demo = feedback["text"].fillna("").tolist()
        print(f"(demo scenario built in {time.perf_counter() - start:.1f} s)")
        _, counts = pii.redact_many(demo)
        print(
            f"throughput, demo feedback ({len(demo):,} texts, {sum(counts)} redactions): "
            f"{throughput(demo, args.repeat):,.0f} texts/s"
        )
    big = ("App crashed after 2.14.1 on 2024-05-01, order #12345; mail ana at example dot com. " * 12_000)[:1_000_000]
    start = time.perf_counter()
    pii.redact(big)
    print(f"one 1 MB text: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
