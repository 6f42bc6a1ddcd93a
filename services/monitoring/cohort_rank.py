"""Which cohorts matter first: the order of the Performance tab's cohort table.

With a reference window, each cohort is compared with itself there (its metric now minus its metric in
the reference, with Newcomb's interval for proportions, MOVER otherwise: stats.cohort_metrics.metric_change).
The order is then

1. new regressions: the cohort's own metric got worse since the reference (the whole 95% interval of the
   change is on the worse side of zero) and it was not already flagged below the rest there; the largest
   drop first. In the demo: iOS, then Android, after the app 5.0 release.
2. long-standing gaps: flagged below the rest now and already in the reference (the demo's free tier,
   which has trailed the other tiers since the start); furthest below the rest first.
3. everything else, furthest below the rest first (the plain ranking by gap);

then the cohorts too small to rank. Without a reference window the order is the plain ranking by gap.
Each line carries the reason for its place (`CohortLine.reason`), shown in the table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from services.stats import cohort_metrics

NEW_REGRESSION = "new regression"
STANDING_GAP = "long-standing gap"
OTHER = ""
# Points (x100) read better than fractions for metrics on a 0..1 scale; log loss is not on one.
POINT_METRICS = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "positive_rate", "brier"})


@dataclass(frozen=True)
class CohortLine:
    fields: tuple[str, ...]
    row: cohort_metrics.CohortRow
    # The same cohort in the reference window (when one was given): its gap, and whether it was flagged.
    reference_gap: float | None = None
    reference_flagged: bool | None = None
    rank: int | None = None  # 1 = matters most, over every line of the report; None: not ranked
    # The ranking metric now minus in the reference, with its interval (None: no reference, or the cohort
    # had no labelled rows there).
    vs_reference: cohort_metrics.MetricChange | None = None
    kind: str = OTHER  # NEW_REGRESSION, STANDING_GAP or OTHER
    has_reference: bool = False  # the report was asked for with a reference window

    @property
    def label(self) -> str:
        return ", ".join(f"{f} = {v}" for f, v in zip(self.fields, self.row.cohort, strict=True))

    @property
    def gap_change(self) -> float | None:
        """How much the gap to the rest moved since the reference (negative: the cohort fell further behind)."""
        if self.reference_gap is None or not math.isfinite(self.reference_gap):
            return None
        return self.row.gap - self.reference_gap

    @property
    def new_since_reference(self) -> bool:
        """Flagged now, not flagged in the reference window: a problem that started in between."""
        return bool(self.row.flagged and self.reference_flagged is False)

    @property
    def reason(self) -> str:
        """Why the line is where it is, e.g. "new: -11.2 pts vs reference" or "long-standing gap"."""
        if self.row.too_small or self.row.rank is None or not self.has_reference:
            return ""
        change = self.vs_reference
        if change is None or not math.isfinite(change.change):
            return "not in the reference"
        if self.kind == NEW_REGRESSION:
            return f"new: {change_text(change)} vs reference"
        if self.kind == STANDING_GAP:
            return f"{STANDING_GAP} ({gap_text(self.reference_gap, change.metric)} in the reference)"
        return f"{change_text(change)} vs reference" + (" (within noise)" if change.regression > 0 else "")


def _points(metric: str, value: float) -> str:
    if metric in POINT_METRICS:
        return f"{value * 100:+.1f} pts"
    return f"{value:+.3f}"


def change_text(change: cohort_metrics.MetricChange) -> str:
    return _points(change.metric, change.change)


def gap_text(gap: float | None, metric: str) -> str:
    if gap is None or not math.isfinite(gap):
        return "—"
    return _points(metric, gap) + " to the rest"


def classify(line: CohortLine) -> str:
    if line.row.too_small or line.row.rank is None:
        return OTHER
    if line.vs_reference is not None and line.vs_reference.worse and not line.reference_flagged:
        return NEW_REGRESSION
    if line.row.flagged and line.reference_flagged:
        return STANDING_GAP
    return OTHER


def rank_lines(lines: Iterable[CohortLine], with_reference: bool) -> tuple[CohortLine, ...]:
    """Order the lines (see the module docstring) and number the rankable ones 1, 2, ..."""
    lines = [replace(ln, kind=classify(ln)) if with_reference else ln for ln in lines]
    rankable = [ln for ln in lines if ln.row.rank is not None]
    rest = sorted((ln for ln in lines if ln.row.rank is None), key=lambda ln: -ln.row.n)

    def key(ln: CohortLine) -> tuple:
        if ln.kind == NEW_REGRESSION and ln.vs_reference is not None:
            return (0, -ln.vs_reference.regression, ln.row.gap)
        return (1 if ln.kind == STANDING_GAP else 2, ln.row.gap, 0.0)

    ordered = sorted(rankable, key=key if with_reference else (lambda ln: ln.row.gap))
    return tuple([replace(ln, rank=i + 1) for i, ln in enumerate(ordered)] + rest)
