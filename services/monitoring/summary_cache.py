"""A window's merged day summaries for the Monitoring views, through byte-bounded in-process caches
(docs/scale.md "Views read per-day summaries").

Which days a window has: the version's day blocks (block_index: the days Monitoring knows, as
VersionInfo does) and the stored summaries (summary_store.day_index), one indexed query each. For each
day:
- a stored summary whose row count matches its block's (and, once decoded, whose labelled count does)
  is current: it is decoded (serving mode: no request ids) and used;
- otherwise (a day imported before summaries were folded, or a summary behind its block) the day's
  summary is built from its block, in this process, once per block generation, and kept in the same
  cache. It is never written back: the refresh owns the stored summaries. The window says which days
  came from blocks (`LoadedWindow.from_blocks`), so a page can say so; no day is ever left out;
- a stored summary without a block (data that reached the summaries only) is used as it is.

Decoded days live in an LRU bounded by bytes (LOOPDECK_SUMMARY_CACHE_MB), keyed by (database, version,
day, summary generation, block id, block generation): a fold, a late outcome, an erasure or a block
rebuild moves a generation, so exactly the days that changed are read again. Merged windows (small next
to their days: one set of histograms and one window sample) live in a second LRU keyed by the window,
the cohort filter and the generations of every day in it.

Cohort filters: the strata hold each value of one cohort field at a time, so a filter on one field
(any of its values) is exact: each day is restricted to those strata (counts, sums, category counts,
and the sample rows of those values) before merging. A filter on two fields at once is not in the
strata: `window_summary` raises `NotInStrata`, and each caller decides (the performance views keep the
row path for that case; see services/monitoring/performance.py).

Days whose rows have labels or predicted labels other than 0/1 cannot be summarised (the histograms
are those of a binary classifier): `NotSummarisable`, a clear message, never a silent drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import config
from services.core.db import read_session
from services.core.errors import InvalidInput
from services.core.schema_monitoring import MonitoringDaySummary
from services.monitoring import blocks as md
from services.monitoring import day_summary as dsum
from services.monitoring import summary_store
from services.monitoring.day_summary_codec import from_bytes
from services.monitoring.summary_merge import WindowSummary, merge_window
from services.monitoring.views import CohortFilter, Window, norm_filter
from services.stats.score_histogram import NEGATIVE, POSITIVE

CACHE_BYTES = config.summary_cache_bytes()  # read once: the caches are sized when the process starts
WINDOW_SHARE = 0.25  # of CACHE_BYTES for merged windows, the rest for decoded days

_days = md.LRU(int(CACHE_BYTES * (1 - WINDOW_SHARE)))
_windows = md.LRU(int(CACHE_BYTES * WINDOW_SHARE))


class NotInStrata(InvalidInput):
    """A cohort filter the day summaries do not hold (two cohort fields at once)."""


class NotSummarisable(InvalidInput):
    """A day whose rows are not those of a binary classifier (labels or predicted labels besides 0/1)."""


def clear() -> None:
    _days.clear()
    _windows.clear()


@dataclass(frozen=True)
class DayRef:
    """One day of a version's data and the generations of what holds it."""

    day: date
    block_id: int | None
    block_generation: int | None
    n_rows: int
    n_labelled: int | None  # the block's (None: no block)
    summary_generation: int | None  # None: no stored summary
    summary_rows: int | None

    @property
    def summary_current(self) -> bool:
        """A stored summary with as many rows as the block (its labelled count is checked once decoded)."""
        return self.summary_generation is not None and (self.block_id is None or self.summary_rows == self.n_rows)

    @property
    def key(self) -> tuple:
        return (self.day, self.summary_generation, self.block_id, self.block_generation)


def day_refs(engine: Engine, model_version_id: int, window: Window) -> list[DayRef]:
    """The days of the window that have data, from the block and summary indexes (two indexed queries)."""
    blocks = {b.day: b for b in md.block_index(engine, model_version_id) if window.contains(b.day)}
    stored = {e.day: e for e in summary_store.day_index(engine, model_version_id) if window.contains(e.day)}
    out = []
    for day in sorted(set(blocks) | set(stored)):
        b, s = blocks.get(day), stored.get(day)
        out.append(DayRef(day, b.id if b else None, b.generation if b else None, b.n_rows if b else s.n_rows,  # type: ignore[union-attr]
                          b.n_labelled if b else None, s.generation if s else None,
                          s.n_rows if s else None))  # fmt: skip
    return out


def _labelled(s: dsum.DaySummary) -> int:
    return int(s.counts[0, NEGATIVE : POSITIVE + 1].sum())


@dataclass(frozen=True)
class _Day:
    """A decoded day. A stored day is first decoded without its sample and category counts (frames=False:
    most of the decoding time, and metrics over histograms need neither) and keeps its blob, so a view
    that needs the sample decodes them once, later."""

    summary: dsum.DaySummary
    from_block: bool
    blob: bytes | None = None  # None: the frames are decoded

    @cached_property  # read on every prefetch pass over cached days; a _Day never changes
    def nbytes(self) -> int:
        s = self.summary
        frames = sum(int(s.sample[c].array.nbytes) for c in s.sample.columns) + 64 * len(s.categories)  # ~64 B a row
        return int(s.counts.nbytes + s.sums.nbytes + s.present.nbytes) + frames + len(self.blob or b"")


def _stored(engine: Engine, model_version_id: int, wanted: list[date], frames: bool) -> dict[date, _Day]:
    """Stored summaries of these days (one query per 200 days), decoded for serving."""
    out: dict[date, _Day] = {}
    with read_session(engine) as session:
        for start in range(0, len(wanted), 200):
            chunk = wanted[start : start + 200]
            query = select(MonitoringDaySummary.data).where(
                MonitoringDaySummary.model_version_id == model_version_id,
                MonitoringDaySummary.day.in_(chunk),  # type: ignore[attr-defined]
            )
            for blob in session.exec(query).all():
                s = from_bytes(blob, serving=True, frames=frames)
                out[s.day] = _Day(s, False, None if frames else bytes(blob))
    return out


def decoded(engine: Engine, model_version_id: int, refs: Sequence[DayRef]) -> list[_Day | None]:
    """The days of `refs` that the cache holds with their frames decoded (None for the others), decoding
    nothing: what a prefetch pass can skip."""
    db = md.engine_key(engine)
    held = [_days.get((db, model_version_id, *ref.key)) for ref in refs]
    return [d if d is not None and d.blob is None else None for d in held]


def load_days(engine: Engine, model_version_id: int, refs: Sequence[DayRef], frames: bool = True) -> list[_Day]:
    """Each day's summary: the stored one when it is current, else built from the day's block; from the
    cache when it holds that generation. frames=False: the sample and category counts may be left empty."""
    db = md.engine_key(engine)
    found: dict[date, _Day] = {}
    missing = []
    for ref in refs:
        key = (db, model_version_id, *ref.key)
        hit = _days.get(key)
        if hit is not None and frames and hit.blob is not None:  # decode the frames now, once
            hit = _Day(from_bytes(hit.blob, serving=True), False)
            _days.put(key, hit, hit.nbytes)
        if hit is not None:
            found[ref.day] = hit
        else:
            missing.append(ref)
    usable = [r for r in missing if r.summary_current]
    stored = _stored(engine, model_version_id, [r.day for r in usable], frames) if usable else {}
    for ref in missing:
        day = stored.get(ref.day)
        if day is not None and (ref.n_labelled is None or _labelled(day.summary) == ref.n_labelled):
            pass
        elif ref.block_id is None:
            raise InvalidInput(f"No data for {ref.day.isoformat()}: it has neither a current summary nor a block.")
        else:
            day = _Day(_from_block(engine, model_version_id, ref), True)
        _days.put((db, model_version_id, *ref.key), day, day.nbytes)
        found[ref.day] = day
    return [found[r.day] for r in refs]


def _from_block(engine: Engine, model_version_id: int, ref: DayRef) -> dsum.DaySummary:
    """A day's summary from its block's rows (the block's prediction ids stand for the request ids in the
    sample priorities: any unique key hashes to a uniform priority)."""
    frame, schema = block_rows(engine, model_version_id, ref)
    summary = dsum.fold_day(frame, ref.day, schema)
    summary.sample = summary.sample.drop(columns=["request_id"])  # as a serving decode: views never read ids
    return summary


def block_rows(engine: Engine, model_version_id: int, ref: DayRef) -> tuple[pd.DataFrame, dsum.SummarySchema]:
    """A day block's rows as day_summary.fold_day takes them (`request_id` holds the prediction id) and
    the schema its columns give; NotSummarisable when labels or predictions are not 0/1."""
    assert ref.block_id is not None and ref.block_generation is not None
    info = md.BlockInfo(ref.block_id, model_version_id, ref.day, ref.n_rows, ref.n_labelled or 0,
                        ref.block_generation)  # fmt: skip
    frame = md.read_frame(engine, [info])
    label = frame["label"].to_numpy(dtype=np.float64)
    pred = frame["predicted_label"].to_numpy(dtype=np.float64)
    if not (np.isin(pred, (0.0, 1.0)).all() and np.isin(label[~np.isnan(label)], (0.0, 1.0)).all()):
        raise NotSummarisable(
            f"Rows of {ref.day.isoformat()} have labels or predicted labels other than 0 and 1: Monitoring's "
            "performance views are those of a binary classifier."
        )
    numeric, categorical, cohorts = [], [], []
    renames = {"id": "request_id"}
    for col in frame.columns:
        if col.startswith(md.FEATURE_PREFIX):
            name = col[len(md.FEATURE_PREFIX) :]
            (categorical if isinstance(frame[col].dtype, pd.CategoricalDtype) else numeric).append(name)
            renames[col] = name
        elif col.startswith(md.COHORT_PREFIX):
            cohorts.append(col[len(md.COHORT_PREFIX) :])
            renames[col] = col[len(md.COHORT_PREFIX) :]
    schema = dsum.SummarySchema(tuple(numeric), tuple(categorical), tuple(cohorts))
    return frame.rename(columns=renames), schema


def _conform(days: list[dsum.DaySummary]) -> list[dsum.DaySummary]:
    """Days with one schema (the union of theirs, in order of appearance), so that they merge: a feature
    or cohort field a day lacks is missing there (no values, no present counts)."""
    schemas = {d.schema for d in days}
    if len(schemas) <= 1:
        return days

    def union(attr: str) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for d in days:
            seen.update(dict.fromkeys(getattr(d.schema, attr)))
        return tuple(seen)

    schema = dsum.SummarySchema(union("numeric"), union("categorical"), union("cohorts"),
                                min(d.schema.sample_k for d in days))  # fmt: skip
    out = []
    for d in days:
        present = np.zeros((len(d.strata), len(schema.numeric)), dtype=np.int64)
        for j, name in enumerate(d.schema.numeric):
            present[:, schema.numeric.index(name)] = d.present[:, j]
        sample = d.sample.copy()
        for name in schema.numeric:
            if name not in sample.columns:
                sample[name] = np.nan
        for name in schema.cohorts:
            if name not in sample.columns:
                sample[name] = pd.Categorical([None] * len(sample), categories=[])
        out.append(replace(d, present=present, sample=sample, schema=schema))
    return out


def filter_field(cohort_filter: CohortFilter | None) -> tuple[str, tuple[str, ...]] | None:
    """The one cohort field a filter selects on, with its values (None: no filter); NotInStrata for two."""
    filt = norm_filter(cohort_filter)
    if not filt:
        return None
    if len(filt) > 1:
        names = " and ".join(f for f, _ in filt)
        raise NotInStrata(f"The day summaries hold one cohort field at a time, not {names} together.")
    return filt[0]


def restrict(day: dsum.DaySummary, field: str, values: Sequence[str]) -> dsum.DaySummary:
    """The day's summary of the rows whose `field` is one of `values`: their strata added up as the
    day's every-row stratum (exact), the strata of those values kept, and their sample rows (the day's
    threshold stays: the rows of those values with priority <= it are all in the sample). out_of_range
    stays the whole day's."""
    where = day.index()
    keep = [where[(field, v)] for v in values if (field, v) in where]
    strata: list[tuple[str, str]] = [dsum.ALL, *[day.strata[i] for i in keep]]
    counts = np.concatenate([day.counts[keep].sum(axis=0, keepdims=True), day.counts[keep]])
    sums = np.concatenate([day.sums[keep].sum(axis=0, keepdims=True), day.sums[keep]])
    present = np.concatenate([day.present[keep].sum(axis=0, keepdims=True), day.present[keep]])
    cats = day.categories
    new_index = np.full(len(day.strata), -1, dtype=np.int64)
    new_index[keep] = np.arange(1, len(keep) + 1)
    parts = cats[np.isin(cats["stratum"].to_numpy(dtype=np.int64), keep)]
    mapped = dsum.restratify(parts, new_index)
    categories = dsum.add_categories([mapped, mapped.assign(stratum=0)])
    sample = day.sample
    if field in sample.columns:
        sample = sample[sample[field].astype(object).isin(set(values)).to_numpy()].reset_index(drop=True)
    else:
        sample = sample.iloc[:0]
    return replace(day, strata=strata, counts=counts, sums=sums, present=present, categories=categories,
                   sample=sample, n_rows=int(counts[0].sum()))  # fmt: skip


@dataclass(frozen=True)
class LoadedWindow:
    """A window's merged summary (None when no day has data), the token of the days it came from (for
    result caches), and the days built from their blocks because no current summary was stored."""

    summary: WindowSummary | None
    token: tuple
    from_blocks: tuple[date, ...]
    n_days: int
    out_of_range: int = 0  # scores outside [0, 1] in the window's days (whole days, even when filtered)

    @property
    def n_rows(self) -> int:
        return self.summary.n(dsum.ALL) if self.summary is not None else 0


@dataclass(frozen=True)
class Days:
    """The days of a window as indexed (cheap) and their token, to key a cached result before any day is
    decoded; `load` decodes them (from the cache when it holds their generations)."""

    engine: Engine
    model_version_id: int
    refs: tuple[DayRef, ...]

    @property
    def token(self) -> tuple:
        return tuple(r.key for r in self.refs)

    def load(self, cohort_filter: CohortFilter | None = None, *, sample: bool = False
             ) -> tuple[list[dsum.DaySummary], tuple[date, ...]]:  # fmt: skip
        """Each day's summary (restricted to the filter's cohort) and the days built from blocks.
        sample=False: the days' samples and category counts may be empty."""
        return _load(self.engine, self.model_version_id, list(self.refs), cohort_filter, sample)


def days(engine: Engine, model_version_id: int, window: Window) -> Days:
    """The window's days, indexed, not decoded yet."""
    return Days(engine, model_version_id, tuple(day_refs(engine, model_version_id, window)))


def _load(engine: Engine, model_version_id: int, refs: list[DayRef], cohort_filter: CohortFilter | None,
          frames: bool) -> tuple[list[dsum.DaySummary], tuple[date, ...]]:  # fmt: skip
    filt = filter_field(cohort_filter)
    loaded = load_days(engine, model_version_id, refs, frames)
    out = _conform([d.summary for d in loaded])
    if filt is not None:
        out = [restrict(d, filt[0], filt[1]) for d in out]
    return out, tuple(r.day for r, d in zip(refs, loaded, strict=True) if d.from_block)


def window_summary(engine: Engine, model_version_id: int, window: Window, cohort_filter: CohortFilter | None = None,
                   *, sample: bool = True) -> LoadedWindow:  # fmt: skip
    """The window's merged summary (after a one-field cohort filter), cached by the days' generations.
    sample=False: histograms only (no window sample, no category counts), for metrics."""
    refs = day_refs(engine, model_version_id, window)
    token = tuple(r.key for r in refs)
    filt = norm_filter(cohort_filter)
    base = (md.engine_key(engine), model_version_id, window, filt)
    # a cached window with its sample serves a histograms-only request too
    for key in [(*base, True, token)] if sample else [(*base, False, token), (*base, True, token)]:
        hit = _windows.get(key)
        if hit is not None:
            return hit
    summaries, from_blocks = _load(engine, model_version_id, refs, cohort_filter, sample)
    merged = merge_window(summaries, sample=sample) if summaries else None
    out = LoadedWindow(merged, token, from_blocks, len(summaries), sum(d.out_of_range for d in summaries))
    size = 0
    if merged is not None:
        size = int(merged.counts.nbytes + merged.sums.nbytes) + int(merged.sample.memory_usage(deep=False).sum())
    _windows.put((*base, sample, token), out, size)
    return out
