"""The Drift tab's windows read from day summaries (services/monitoring/day_summary.py) instead of rows, so
a first render, a window change, drift over time and the drift report cost O(days x cohort strata)
whatever the row count (docs/scale.md, "Drift on summaries").

A window comes merged from services/monitoring/summary_cache.py (decoded days in its byte-bounded LRU,
a one-field cohort filter applied as the sum of that field's strata), and is prepared for drift here as
drift_window.Prepared, the object the row path builds, so the tests, the overrides, the report and the
page are shared:
- categorical features: the merged exact category counts; a feature's missing values are the window's
  rows minus its counted values (exact);
- predicted label and outcome label: the score histograms' counts per predicted label and per label
  state (exact);
- numeric features and the score: the window's uniform priority sample (every row of the window, or of
  the chosen cohort, whose priority is at most the lowest day threshold; at most WINDOW_SAMPLE rows),
  with the summaries' exact non-missing counts picking the test. Each such score carries its bound
  (drift_window.exactness).

A filter on two cohort fields at once is not in the strata, and the samples carry no categorical
features, so such a view keeps the row path (day blocks; O(rows), exact as before) and says so. A day
without a current stored summary (data imported before summaries were folded) is summarised from its
block once per block generation by summary_cache and named in `from_blocks`: the page says so, and no
day is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.monitoring import summary_cache
from services.monitoring.day_summary import ALL, DaySummary, SummarySchema
from services.monitoring.summary_merge import WINDOW_SAMPLE, WindowSummary
from services.monitoring.views import (
    OUTCOME_LABEL,
    OUTPUT_COLUMNS,
    PREDICTION_LABEL,
    PREDICTION_SCORE,
    CohortFilter,
    Window,
)
from services.stats import priority_sample as ps
from services.stats.drift_columns import SortedColumn
from services.stats.score_histogram import NEGATIVE, POSITIVE

SUMMARIES, ROWS = "day summaries", "rows"
__all__ = ["ROWS", "SUMMARIES", "WINDOW_SAMPLE", "days_inputs", "drift_inputs", "empty_inputs", "kinds_of", "rows_note"]


WindowDays = tuple[list[DaySummary], tuple, tuple[date, ...], str]


def window_days(engine: Engine, model_version_id: int, window: Window, cohort_filter: CohortFilter | None,
                filt: Sequence[tuple[str, tuple[str, ...]]]) -> WindowDays:  # fmt: skip
    """A window's day summaries for drift (with their samples, restricted to the filter's cohort), the token
    of its days, the days built from blocks, and why the view must read rows instead ("" when it need not;
    then no days means no data)."""
    note = rows_note(filt)
    if note:
        return [], (), (), note
    try:
        indexed = summary_cache.days(engine, model_version_id, window)
        days, from_blocks = indexed.load(cohort_filter, sample=True)
    except summary_cache.NotSummarisable as exc:
        return [], (), (), str(exc)
    return days, indexed.token, from_blocks, ""


def rows_note(filt: Sequence[tuple[str, tuple[str, ...]]]) -> str:
    """Why a view with this (normalised) cohort filter reads rows, or "" when the summaries hold it."""
    if len(filt) < 2:
        return ""
    fields = " and ".join(f for f, _ in filt)
    return (f"a filter on two cohort fields at once ({fields}) is not in the day summaries, "
            "which hold one field at a time")  # fmt: skip


def from_blocks_note(days: Sequence[date]) -> str:
    if not days:
        return ""
    return (f"{len(days)} day(s) had no current stored summary (first {min(days):%Y-%m-%d}) and were summarised "
            "from their day blocks in this process; a refresh stores them")  # fmt: skip


def kinds_of(schema: SummarySchema) -> dict[str, str]:
    kinds = {f: "numeric" for f in schema.numeric}
    kinds.update({f: "categorical" for f in schema.categorical})
    kinds.update(OUTPUT_COLUMNS)
    return kinds


def drift_inputs(w: WindowSummary) -> tuple[int, dict, dict, dict, dict]:
    """(rows, numeric sorted samples, non-missing counts, category counts, missing counts) of the window's
    every-row stratum (the cohort's, after summary_cache's filter), as drift_window.Prepared holds them."""
    i = w.stratum(ALL)
    label_counts = w.counts[i].sum(axis=-1)  # (3 label states, 2 predicted labels)
    n = int(label_counts.sum())
    numeric, numeric_n, counts, missing = {}, {}, {}, {}
    for j, f in enumerate(w.schema.numeric):
        numeric[f] = SortedColumn.of(w.sample[f].to_numpy(dtype=np.float64, na_value=np.nan))
        numeric_n[f] = int(w.present[i, j])
        missing[f] = n - numeric_n[f]
    numeric[PREDICTION_SCORE] = SortedColumn.of(w.sample["score"].to_numpy(dtype=np.float64))
    numeric_n[PREDICTION_SCORE], missing[PREDICTION_SCORE] = n, 0
    cats = w.categories[w.categories["stratum"].to_numpy() == i]
    by_feature = {str(f): part for f, part in cats.groupby("feature", sort=False)}
    for f in w.schema.categorical:
        part = by_feature.get(f)
        c = pd.Series(dtype=np.int64) if part is None else part.groupby("category", sort=False)["count"].sum()
        c = c[c > 0].astype(np.int64)
        c.index = [str(v) for v in c.index]
        counts[f], missing[f] = c, n - int(c.sum())
    _label_counts(label_counts, counts, missing)
    return n, numeric, numeric_n, counts, missing


def days_inputs(days: Sequence[DaySummary], cap: int) -> tuple[tuple[int, dict, dict, dict, dict], bool]:
    """drift_inputs of the window made of these days (already restricted to the cohort, one schema), and
    whether its sample is complete, without merging whole summaries: only the every-row stratum's counts
    and the sample's numeric columns are added up (drift over time does this for every rolling window)."""
    schema = days[0].schema
    label_counts = np.zeros((3, 2), dtype=np.int64)
    present = np.zeros(len(schema.numeric), dtype=np.int64)
    cats: dict[tuple[str, str], int] = {}
    for d in days:
        label_counts += d.counts[0].sum(axis=-1)
        present += d.present[0]
        c = d.categories
        part = c[c["stratum"].to_numpy() == 0]
        for f, v, k in zip(part["feature"].tolist(), part["category"].tolist(), part["count"].tolist(), strict=True):
            cats[(str(f), str(v))] = cats.get((str(f), str(v)), 0) + int(k)
    sample, complete = ps.window_sample([d.sample for d in days], [d.threshold for d in days], cap,
                                        [*schema.numeric, "score"])  # fmt: skip
    n = int(label_counts.sum())
    numeric = {f: SortedColumn.of(sample[f].to_numpy(dtype=np.float64, na_value=np.nan)) for f in schema.numeric}
    numeric[PREDICTION_SCORE] = SortedColumn.of(sample["score"].to_numpy(dtype=np.float64))
    numeric_n = {f: int(present[j]) for j, f in enumerate(schema.numeric)} | {PREDICTION_SCORE: n}
    missing = {f: n - numeric_n[f] for f in numeric}
    counts = {}
    for f in schema.categorical:
        items = [(v, k) for (g, v), k in cats.items() if g == f and k > 0]
        counts[f] = pd.Series([k for _, k in items], index=[v for v, _ in items], dtype=np.int64)
        missing[f] = n - int(counts[f].sum())
    _label_counts(label_counts, counts, missing)
    return (n, numeric, numeric_n, counts, missing), complete


def _label_counts(label_counts: np.ndarray, counts: dict, missing: dict) -> None:
    predicted = label_counts.sum(axis=0)
    outcome = np.array([label_counts[NEGATIVE].sum(), label_counts[POSITIVE].sum()])
    for name, values in ((PREDICTION_LABEL, predicted), (OUTCOME_LABEL, outcome)):
        keep = values > 0
        counts[name] = pd.Series(values[keep].astype(np.int64), index=[str(k) for k in np.flatnonzero(keep)])
        missing[name] = 0


def empty_inputs(schema: SummarySchema) -> tuple[int, dict, dict, dict, dict]:
    """drift_inputs of a window without rows (a rolling window with no data)."""
    numeric = {f: SortedColumn.of(np.zeros(0)) for f in (*schema.numeric, PREDICTION_SCORE)}
    categorical = (*schema.categorical, PREDICTION_LABEL, OUTCOME_LABEL)
    counts = {f: pd.Series(dtype=np.int64) for f in categorical}
    return 0, numeric, dict.fromkeys(numeric, 0), counts, dict.fromkeys([*numeric, *categorical], 0)
