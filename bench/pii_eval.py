"""Span-level precision and recall of `pii.find_pii` on the labelled set (used by the test and the bench).

A finding counts as a true positive when it has the expected type and overlaps an expected span
with intersection-over-union >= 0.5 (one finding per expected span); an "exact" count also asks for
the same offsets. A finding of the wrong type is a false positive of its type and leaves the
expected span a false negative of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from services.feedback import pii

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "services" / "data" / "pii_labelled.jsonl"
MIN_IOU = 0.5


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    exact: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Score:
    by_type: dict[str, Counts] = field(default_factory=dict)
    by_variant: dict[str, Counts] = field(default_factory=dict)  # recall of labelled variants only
    overall: Counts = field(default_factory=Counts)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (id, "FP"/"FN", "TYPE 'text'")


def load(path: Path = LABELLED) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return inter / (max(a[1], b[1]) - min(a[0], b[0])) if inter > 0 else 0.0


def score(rows: list[dict]) -> Score:
    s = Score()
    for row in rows:
        text, expected = row["text"], row["spans"]
        found = pii.find_pii(text)
        used: set[int] = set()
        for e in expected:
            counts = s.by_type.setdefault(e["type"], Counts())
            variant = s.by_variant.setdefault(f"{e['type']}/{e['variant']}", Counts()) if "variant" in e else None
            best = max(
                (i for i, f in enumerate(found) if i not in used and f.kind == e["type"]),
                key=lambda i: _iou((found[i].start, found[i].end), (e["start"], e["end"])),
                default=None,
            )
            hit = best is not None and _iou((found[best].start, found[best].end), (e["start"], e["end"])) >= MIN_IOU
            exact = hit and (found[best].start, found[best].end) == (e["start"], e["end"])
            for c in (counts, s.overall, variant):
                if c is not None:
                    c.tp += hit
                    c.fn += not hit
                    c.exact += exact
            if hit:
                used.add(best)
            else:
                s.errors.append((row["id"], "FN", f"{e['type']} {text[e['start'] : e['end']]!r}"))
        for i, f in enumerate(found):
            if i not in used:
                s.by_type.setdefault(f.kind, Counts()).fp += 1
                s.overall.fp += 1
                s.errors.append((row["id"], "FP", f"{f.kind} {text[f.start : f.end]!r}"))
    return s


def table(s: Score) -> str:
    lines = [f"{'type':<20} {'n':>4} {'TP':>4} {'FP':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'exact':>6}"]
    rows = [*sorted(s.by_type.items()), *sorted(s.by_variant.items()), ("overall", s.overall)]
    for name, c in rows:
        lines.append(
            f"{name:<20} {c.tp + c.fn:>4} {c.tp:>4} {c.fp:>4} {c.fn:>4} {c.precision:>9.3f} {c.recall:>7.3f} "
            f"{c.exact:>6}"
        )
    return "\n".join(lines)
