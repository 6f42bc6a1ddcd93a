"""The Drift tab's windows read from day summaries (services/monitoring/day_summary.py) instead of rows, so
a first render, a window change, drift over time and the drift report cost O(days x cohort strata)
whatever the row count (docs/scale.md, "Drift on summaries").

A window is prepared for drift (drift_window.Prepared, the same object the row path builds, so the tests,
the overrides, the report and the page are shared) from its days' summaries:
- categorical features: the days' exact category counts of the selected strata, added up; a feature's
  missing values are the strata's rows minus its counted values (exact);
- predicted label and outcome label: the score histograms' counts per predicted label and per label state
  (exact);
- numeric features and the score: the window's uniform sample (summary priority samples: every row of the
  window whose priority is at most the lowest day threshold, capped at WINDOW_SAMPLE), restricted to the
  selected cohort before the cap, so a cohort gets a sample of up to WINDOW_SAMPLE of its own rows; the
  non-missing counts that pick the test are the summaries' exact `present` counts.

Cohort filters: none (every row) or one field with one or several values (the sum of those strata: exact
counts). A filter on two fields at once is not in the strata and the samples carry no categorical
features, so such a view keeps the row path (day blocks; cost O(rows), exact as before) and says so.

Coverage: a window is read from summaries only when every day that has a day block also has a summary
holding the same number of rows. A day without one (data imported before summaries existed, or a
summary behind its block) sends the whole window to the row path, with a note naming how many days,
so a view never silently reads fewer rows. Days whose block was purged by retention keep their summary
and are read from it.

Decoded days stay in a byte-bounded LRU keyed by (database, version, day, generation); prepared windows
are cached by their callers in frames.result_cache, keyed by the (day, generation) token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core.db import read_session
from services.core.schema_monitoring import MonitoringDaySummary
from services.monitoring import blocks as md
from services.monitoring import summary_store
from services.monitoring.day_summary import ALL, DaySummary, SummarySchema
from services.monitoring.day_summary_codec import from_bytes
from services.monitoring.summary_merge import WINDOW_SAMPLE
from services.monitoring.views import OUTCOME_LABEL, OUTPUT_COLUMNS, PREDICTION_LABEL, PREDICTION_SCORE, Window
from services.stats import priority_sample as ps
from services.stats.drift_columns import SortedColumn
from services.stats.score_histogram import NEGATIVE, POSITIVE

SUMMARIES, ROWS = "summaries", "rows"
NormFilter = tuple[tuple[str, tuple[str, ...]], ...]


class SchemaChanged(ValueError):
    """The days of a window were summarised with different features or cohort fields."""


@dataclass(frozen=True)
class Source:
    """Where a window's drift numbers come from: `kind` summaries or rows, `note` why rows (empty when
    summaries), and for summaries the (day, generation) of every day read (the cache token)."""

    kind: str
    note: str = ""
    days: tuple[summary_store.DayEntry, ...] = ()

    @property
    def token(self) -> tuple:
        return (self.kind, *((e.day, e.generation) for e in self.days))


@dataclass(frozen=True, eq=False)
class SummaryWindow:
    """What drift reads of a window: the selected strata's exact counts and its numeric sample."""

    schema: SummarySchema
    n: int
    label_counts: np.ndarray  # (3 label states, 2 predicted labels)
    present: np.ndarray  # non-missing values per numeric feature
    categories: dict[str, pd.Series]  # feature -> count per category (text), non-zero only
    sample: pd.DataFrame  # numeric features and score of a uniform sample of the selected rows
    complete: bool  # the sample holds every selected row


def cohort_selection(filt: NormFilter) -> tuple[str, tuple[str, ...]] | None:
    """The filter as one cohort field and its values (None: every row). Raises ValueError for a filter the
    strata do not hold (two fields at once)."""
    if not filt:
        return None
    if len(filt) > 1:
        raise ValueError("two cohort fields at once")
    return filt[0]


def source(engine: Engine, model_version_id: int, window: Window, filt: NormFilter) -> Source:
    """Summaries when every day of the window with a block has a current summary, else rows (and why)."""
    if len(filt) > 1:
        fields = " and ".join(f for f, _ in filt)
        return Source(ROWS, f"read from rows: a filter on two cohort fields at once ({fields}) is not in the day "
                            "summaries, which hold one field at a time")  # fmt: skip
    blocks = [b for b in md.block_index(engine, model_version_id) if window.contains(b.day)]
    entries = {e.day: e for e in summary_store.day_index(engine, model_version_id) if window.contains(e.day)}
    if not entries:
        return Source(ROWS, "read from rows: no day of the window has a summary yet" if blocks else "")
    behind = [b.day for b in blocks if b.day not in entries or entries[b.day].n_rows != b.n_rows]
    if behind:
        return Source(ROWS, f"read from rows: {len(behind)} of {len(blocks)} days of the window have no current "
                            f"summary (first {behind[0]:%Y-%m-%d}; an admin rebuilds them)")  # fmt: skip
    return Source(SUMMARIES, "", tuple(entries[d] for d in sorted(entries)))


# --- decoded days ----------------------------------------------------------------------------------

_decoded = md.LRU(md.CACHE_BYTES // 2)  # shares the monitoring cache budget with the day blocks


def clear_cache() -> None:
    _decoded.clear()


def _nbytes(s: DaySummary) -> int:
    return int(s.counts.nbytes + s.sums.nbytes + s.present.nbytes + s.categories.memory_usage(deep=True).sum()
               + s.sample.memory_usage(deep=False).sum())  # fmt: skip


def load(engine: Engine, model_version_id: int, entries: Sequence[summary_store.DayEntry]) -> list[DaySummary]:
    """The decoded summaries of these days (serving form: no request ids): from the LRU, else one query."""
    db = md.engine_key(engine)
    found: dict[date, DaySummary] = {}
    missing = []
    for e in entries:
        hit = _decoded.get((db, model_version_id, e.day, e.generation))
        if hit is None:
            missing.append(e)
        else:
            found[e.day] = hit
    for start in range(0, len(missing), 100):
        chunk = {e.day: e for e in missing[start : start + 100]}
        with read_session(engine) as session:
            query = select(MonitoringDaySummary.generation, MonitoringDaySummary.data).where(
                MonitoringDaySummary.model_version_id == model_version_id,
                MonitoringDaySummary.day.in_(list(chunk)),  # type: ignore[attr-defined]
            )  # fmt: skip
            rows = session.exec(query).all()
        for generation, data in rows:
            summary = from_bytes(bytes(data), serving=True)
            found[summary.day] = summary
            if int(generation) == chunk[summary.day].generation:
                _decoded.put((db, model_version_id, summary.day, int(generation)), summary, _nbytes(summary))
    return [found[e.day] for e in entries if e.day in found]


# --- a window from its days ------------------------------------------------------------------------


def same_schema(days: Sequence[DaySummary]) -> bool:
    return all(s.schema == days[0].schema for s in days[1:])


def window_of(days: Sequence[DaySummary], cohort: tuple[str, tuple[str, ...]] | None,
              cap: int = WINDOW_SAMPLE, schema: SummarySchema | None = None) -> SummaryWindow:  # fmt: skip
    """The selected strata of these days (one field's values, or every row) added up, and their sample
    (`schema`: that of a window without days, which is empty)."""
    if not days:
        if schema is None:
            raise ValueError("a window without days needs its schema")
        empty = pd.DataFrame({c: np.zeros(0) for c in [*schema.numeric, "score"]})
        return SummaryWindow(schema, 0, np.zeros((3, 2), dtype=np.int64), np.zeros(len(schema.numeric), dtype=np.int64),
                             {}, empty, True)  # fmt: skip
    if not same_schema(days):
        raise SchemaChanged("the features or cohort fields changed within the window")
    schema = days[0].schema
    keys = [ALL] if cohort is None else [(cohort[0], v) for v in cohort[1]]
    label_counts = np.zeros((3, 2), dtype=np.int64)
    present = np.zeros(len(schema.numeric), dtype=np.int64)
    parts, samples = [], []
    for s in days:
        where = s.index()
        idx = [where[k] for k in keys if k in where]
        if idx:
            label_counts += s.counts[idx].sum(axis=(0, 3))
            present += s.present[idx].sum(axis=0)
            cats = s.categories
            parts.append(cats[cats["stratum"].isin(idx)])
        samples.append(_cohort_rows(s.sample, cohort))
    columns = [*schema.numeric, "score"]
    sample, complete = ps.window_sample(samples, [s.threshold for s in days], cap, columns)
    return SummaryWindow(schema, int(label_counts.sum()), label_counts, present, _category_counts(parts), sample,
                         complete)  # fmt: skip


def _cohort_rows(sample: pd.DataFrame, cohort: tuple[str, tuple[str, ...]] | None) -> pd.DataFrame:
    if cohort is None:
        return sample
    field, values = cohort
    if field not in sample.columns:
        return sample.iloc[:0]
    return sample[sample[field].isin(values).to_numpy()]


def _category_counts(parts: list[pd.DataFrame]) -> dict[str, pd.Series]:
    parts = [p for p in parts if len(p)]
    if not parts:
        return {}
    total = pd.concat(parts, ignore_index=True).groupby(["feature", "category"], sort=False)["count"].sum()
    out = {}
    for feature, counts in total.groupby(level=0, sort=False):
        counts = counts.droplevel(0)
        counts = counts[counts > 0]
        counts.index = [str(c) for c in counts.index]
        out[str(feature)] = counts.astype(np.int64)
    return out


def kinds_of(schema: SummarySchema) -> dict[str, str]:
    kinds = {f: "numeric" for f in schema.numeric}
    kinds.update({f: "categorical" for f in schema.categorical})
    kinds.update(OUTPUT_COLUMNS)
    return kinds


def drift_inputs(w: SummaryWindow) -> tuple[dict, dict, dict, dict]:
    """(numeric sorted samples, non-missing counts, category counts, missing counts) per column, as
    drift_window.Prepared holds them."""
    numeric, numeric_n, counts, missing = {}, {}, {}, {}
    for j, f in enumerate(w.schema.numeric):
        numeric[f] = SortedColumn.of(w.sample[f].to_numpy(dtype=np.float64, na_value=np.nan))
        numeric_n[f] = int(w.present[j])
        missing[f] = w.n - int(w.present[j])
    numeric[PREDICTION_SCORE] = SortedColumn.of(w.sample["score"].to_numpy(dtype=np.float64))
    numeric_n[PREDICTION_SCORE], missing[PREDICTION_SCORE] = w.n, 0
    for f in w.schema.categorical:
        c = w.categories.get(f, pd.Series(dtype=np.int64))
        counts[f] = c
        missing[f] = w.n - int(c.sum())
    predicted = w.label_counts.sum(axis=0)
    outcome = np.array([w.label_counts[NEGATIVE].sum(), w.label_counts[POSITIVE].sum()])
    for name, values in ((PREDICTION_LABEL, predicted), (OUTCOME_LABEL, outcome)):
        keep = values > 0
        counts[name] = pd.Series(values[keep].astype(np.int64), index=[str(i) for i in np.flatnonzero(keep)])
        missing[name] = 0
    return numeric, numeric_n, counts, missing
