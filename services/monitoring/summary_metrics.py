"""Realized and estimated performance from merged day summaries instead of rows (docs/scale.md): the
cost is O(windows x cohorts x bins), whatever the row count.

What is exact and what is bounded (each bound computed from the summaries and reported with the result):
- counts, accuracy, precision, recall, F1, positive rate, their Wilson intervals, a cohort's gap to the
  rest and its Newcombe interval: exact (they read confusion counts only);
- ROC AUC: ties within a fine score bin count 1/2: within (1/2) sum_b pos_b neg_b / (P N) of the row value;
- log loss and Brier score: from each cell's mean score, within the per-cell bounds of
  services/stats/score_histogram.labelled_cells (Brier: no bound when scores fall outside [0, 1]);
- bootstrap intervals (F1, ROC AUC, log loss, Brier): each cohort resampled as a multinomial over its
  histogram cells (services/stats/performance.Weighted): the row bootstrap's distribution for F1, a draw
  of the same kind for the others (Monte Carlo error as the row bootstrap's);
- CBPE: services/stats/score_histogram.cbpe_from_histograms (exact with scores used as they are; within
  its reported bound with an isotonic calibrator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.monitoring.day_summary import ALL
from services.monitoring.summary_merge import WindowSummary
from services.monitoring.views import BOOTSTRAP_ROW_BUDGET, MIN_RESAMPLES
from services.stats import cohort_metrics
from services.stats import performance as perf
from services.stats import score_histogram as sh

SOURCE = "day summaries"
BOUNDED = ("roc_auc", "log_loss", "brier")


def resamples_for_cells(n_cells: int) -> int:
    """Bootstrap resamples within the row budget, counting a histogram cell as a row (a replicate costs
    one pass over the cells): 200 for every realistic window."""
    if n_cells <= 0:
        return perf.DEFAULT_RESAMPLES
    return int(max(MIN_RESAMPLES, min(perf.DEFAULT_RESAMPLES, BOOTSTRAP_ROW_BUDGET // n_cells)))


@dataclass(frozen=True)
class Groups:
    """Histograms of disjoint groups of rows (cohorts, windows x cohorts), with one label per field."""

    labels: dict[str, list[object]]  # field -> one value per group
    counts: np.ndarray  # (G, 3, 2, N_BINS)
    sums: np.ndarray

    @property
    def n_labelled(self) -> int:
        return int(self.counts[:, sh.NEGATIVE :].sum())


def field_groups(window: WindowSummary, field: str) -> tuple[list[object], np.ndarray, np.ndarray]:
    """One group per value of `field` (its strata), plus the rows without a value (label None) when
    there are any: together they are every row of the window, as the row path's cohorts are."""
    idx = [i for i, (f, _) in enumerate(window.strata) if f == field]
    labels: list[object] = [window.strata[i][1] for i in idx]
    counts, sums = window.counts[idx], window.sums[idx]
    rest = window.counts[window.stratum(ALL)] - counts.sum(axis=0)
    if rest.any():
        labels.append(None)
        rest_sums = window.sums[window.stratum(ALL)] - sums.sum(axis=0)
        counts = np.concatenate([counts, rest[None]])
        sums = np.concatenate([sums, rest_sums[None]])
    return labels, counts, sums


def cohort_fields(window: WindowSummary) -> list[str]:
    seen: dict[str, None] = {}
    for f, _ in window.strata[1:]:
        seen.setdefault(f)
    return list(seen)


def _group_bounds(cells: sh.CellRows, counts: np.ndarray, metrics: Sequence[str], out_of_range: int) -> dict:
    """metric -> the largest bound over every group and over all groups together."""
    out: dict[str, float] = {}
    for m in metrics:
        if m not in BOUNDED:
            out[m] = 0.0
            continue
        if m == "roc_auc":
            per = [sh.auc_from_histograms(c[sh.POSITIVE].sum(axis=0), c[sh.NEGATIVE].sum(axis=0)).bound for c in counts]
            total = counts.sum(axis=0)
            per.append(sh.auc_from_histograms(total[sh.POSITIVE].sum(axis=0), total[sh.NEGATIVE].sum(axis=0)).bound)
            per = [b for b in per if np.isfinite(b)] or [0.0]  # NaN: no AUC (one class only), nothing to bound
        elif m == "brier" and out_of_range:
            per = [float("nan")]
        else:
            per = [cells.bound(m, np.flatnonzero(cells.group == g)) for g in range(len(counts))] + [cells.bound(m)]
        finite = [b for b in per if np.isfinite(b)]
        out[m] = float(max(finite)) if len(finite) == len(per) and finite else float("nan")
    return out


def cohort_table(
    groups: Groups, rank_by: str, min_size: int, metrics: Sequence[str], n_resamples: int, seed: int,
    out_of_range: int = 0,
) -> tuple[cohort_metrics.CohortTable, dict[str, float]]:  # fmt: skip
    """services.stats.cohort_metrics.cohort_table of the groups' labelled rows, from their histogram cells,
    and the bound of each metric (largest over the cohorts and all rows; 0.0: exact)."""
    cells = sh.labelled_cells(groups.counts, groups.sums)
    cohorts = pd.DataFrame({f: np.asarray(v, dtype=object)[cells.group] for f, v in groups.labels.items()})
    table = cohort_metrics.cohort_table(
        cells.y, cells.score, cohorts, y_pred=cells.pred,
        rank_by=rank_by, min_size=min_size, metrics=metrics, n_resamples=n_resamples, seed=seed,
        weighted=cells.weighted,
    )  # fmt: skip
    return table, _group_bounds(cells, groups.counts, table.overall.as_dict().keys(), out_of_range)


def n_cells(counts: np.ndarray) -> int:
    """Labelled non-empty cells: the rows of a table from these histograms."""
    return int(np.count_nonzero(np.asarray(counts)[:, sh.NEGATIVE :]))


def metric_set(
    counts: np.ndarray, sums: np.ndarray, metrics: Sequence[str], n_resamples: int, seed: int = 0,
    out_of_range: int = 0,
) -> tuple[perf.MetricSet, dict[str, float]]:  # fmt: skip
    """services.stats.performance.classification_metrics of one histogram's labelled rows, with bounds."""
    c, s = np.asarray(counts)[None], np.asarray(sums)[None]
    cells = sh.labelled_cells(c, s)
    ms = perf.classification_metrics(cells.y, cells.score, cells.pred, metrics=metrics, n_resamples=n_resamples,
                                     seed=seed, weighted=cells.weighted)  # fmt: skip
    return ms, _group_bounds(cells, c, metrics, out_of_range)


def merge_bounds(parts: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The largest bound of each metric over several tables (NaN wins: no bound)."""
    out: dict[str, float] = {}
    for p in parts:
        for m, b in p.items():
            old = out.get(m, 0.0)
            out[m] = float("nan") if not (np.isfinite(b) and np.isfinite(old)) else max(old, b)
    return out
