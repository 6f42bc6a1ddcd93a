"""The rows of a window, read from the day blocks, and the in-process caches of frames and results.

A window's frame is cached by the database, the version, the window, the cohort filter and the
generations of the blocks it came from; computed results (small dataclasses and frames) are cached by
their callers' keys, which include the same block token, so a new import invalidates exactly what it
changed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine
from threadpoolctl import ThreadpoolController

from services.core.errors import InvalidInput
from services.monitoring import blocks as md
from services.monitoring import summary_cache
from services.monitoring.views import CohortFilter, VersionInfo, Window, norm_filter

# --- caches --------------------------------------------------------------------------------------


class ResultCache:
    """LRU of computed results (small dataclasses and frames), shared by all sessions of the process.

    Computations run with BLAS on one thread: the statistics here make many small matrix-vector
    products (Wasserstein sums, CBPE's simulated AUCs), where a multi-threaded BLAS spends more time
    synchronising its threads than computing; on a busy 2-core host the drift over time of 1,000,000
    rows took 13 s with OpenBLAS's threads and 1.6 s without."""

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        with _BLAS.limit(limits=1, user_api="blas"):
            value = compute()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_BLAS = ThreadpoolController()  # the BLAS libraries loaded by numpy and scipy (found once: ~1 ms)
result_cache = ResultCache()
frame_cache = md.LRU(256 * 2**20)


def clear_caches() -> None:
    """Forget every computed window (tests; the caches are otherwise invalidated by block generations)."""
    result_cache.clear()
    frame_cache.clear()
    md.clear_caches()
    summary_cache.clear()


@dataclass(frozen=True)
class WindowSlice:
    """The rows of one window (after the cohort filter) and the token of the data they came from."""

    frame: pd.DataFrame
    token: tuple

    @property
    def n(self) -> int:
        return len(self.frame)


def window_blocks(engine: Engine, model_version_id: int, window: Window) -> list[md.BlockInfo]:
    return [b for b in md.block_index(engine, model_version_id) if window.contains(b.day)]


def blocks_token(blocks: Sequence[md.BlockInfo]) -> tuple:
    return tuple((b.id, b.generation) for b in blocks)


# The row path (views the day summaries do not hold: two cohort fields at once, rows=True) reads at most this
# many predictions a window, so its memory stays bounded whatever the row count: a window's frame takes about
# 200 bytes a row with its features (2M rows: ~0.4 GB), and 28 days at 10M predictions are 3.1M rows.
ROW_PATH_MAX_ROWS = 2_000_000


class TooManyRows(InvalidInput):
    """A view that needs the window's rows, on a window holding more than ROW_PATH_MAX_ROWS of them."""


def load_window(
    engine: Engine, model_version_id: int, window: Window, cohort_filter: CohortFilter | None = None,
    blocks: Sequence[md.BlockInfo] | None = None, *, base_only: bool = False, capped: bool = True,
) -> WindowSlice:  # fmt: skip
    """The window's rows (cached by the blocks' generations). base_only: just id, ts, score, predicted
    label and label (plus the filter's cohort fields), for metrics and CBPE: converting the feature
    columns to pandas is most of a cold read, and they don't need them. A cached full frame serves too.
    capped: refuse (TooManyRows, before reading anything) a window of more than ROW_PATH_MAX_ROWS rows."""
    blocks = window_blocks(engine, model_version_id, window) if blocks is None else blocks
    n_rows = sum(b.n_rows for b in blocks)
    if capped and n_rows > ROW_PATH_MAX_ROWS:
        raise TooManyRows(
            f"This view needs the rows of the window ({window.label}: {n_rows:,} predictions; the day summaries "
            f"hold one cohort field at a time), and reads at most {ROW_PATH_MAX_ROWS:,} at once. Pick a shorter "
            "window or a single cohort field."
        )
    token = blocks_token(blocks)
    filt = norm_filter(cohort_filter)
    key = (md.engine_key(engine), model_version_id, window, filt, token)
    hit = frame_cache.get(key)
    if hit is not None:
        return WindowSlice(hit, token)
    columns = None
    if base_only:
        columns = (*md.BASE_COLUMNS, *(md.COHORT_PREFIX + name for name, _ in filt))
        key = (*key, "base")
        hit = frame_cache.get(key)
        if hit is not None:
            return WindowSlice(hit, token)
    frame = md.read_frame(engine, blocks, columns)
    for field_name, values in filt:
        col = md.COHORT_PREFIX + field_name
        if col not in frame.columns:
            frame = frame.iloc[0:0]
            break
        frame = frame[frame[col].isin(values)]
    frame = frame.reset_index(drop=True)
    frame_cache.put(key, frame, int(frame.memory_usage(deep=False).sum()))
    return WindowSlice(frame, token)


def feature_columns(frame: pd.DataFrame) -> dict[str, str]:
    """{feature name: numeric | categorical} from a window frame's columns."""
    out = {}
    for col in frame.columns:
        if col.startswith(md.FEATURE_PREFIX):
            out[col[len(md.FEATURE_PREFIX) :]] = (
                "categorical" if isinstance(frame[col].dtype, pd.CategoricalDtype) else "numeric"
            )
    return out


def cohort_fields(frame: pd.DataFrame) -> list[str]:
    return [c[len(md.COHORT_PREFIX) :] for c in frame.columns if c.startswith(md.COHORT_PREFIX)]


def version_columns(engine: Engine, info: VersionInfo) -> tuple[dict[str, str], list[str], dict[str, list[str]]]:
    """Features with their kinds, cohort fields, and each field's values, from the day summaries of the
    version's last 7 days (their schema and strata, histograms only: no row is read, whatever the row count;
    what a user filters on today). A day without a current summary is summarised from its block, as every
    view does (summary_cache)."""
    refs = summary_cache.day_refs(engine, info.id, Window(date.min, date.max))
    if not refs:
        return dict(info.feature_schema), [], {}
    kinds: dict[str, str] = {}
    fields: list[str] = []
    seen: dict[str, set[str]] = {}
    for day in summary_cache.load_days(engine, info.id, refs[-7:], frames=False):
        s = day.summary
        kinds.update({f: "numeric" for f in s.schema.numeric if f not in kinds})
        kinds.update({f: "categorical" for f in s.schema.categorical if f not in kinds})
        fields += [f for f in s.schema.cohorts if f not in fields]
        rows = s.counts.reshape(len(s.strata), -1).sum(axis=1)
        for (field, value), n in zip(s.strata, rows, strict=True):
            if field and n > 0:  # a value whose rows were all erased is no longer offered
                seen.setdefault(field, set()).add(value)
    for name, kind in info.feature_schema.items():
        kinds.setdefault(name, kind)
    fields = sorted(fields)
    return kinds, fields, {f: sorted(seen.get(f, ())) for f in fields}
