"""One column's drift over rolling windows against a fixed reference, and where it shifted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput
from services.monitoring import blocks as md
from services.monitoring import drift_summary
from services.monitoring.day_summary import DaySummary
from services.monitoring.drift_window import (
    Prepared,
    category_series,
    column_result,
    days_prepared,
    few_distinct,
    numeric_values,
    ordered_rows,
    prepared_window,
)
from services.monitoring.frames import load_window, result_cache
from services.monitoring.overrides import overrides
from services.monitoring.views import (
    DATASET_DRIFT_SHARE,
    OUTCOME_LABEL,
    OUTPUT_COLUMNS,
    OVER_TIME_MIN_ROWS,
    OVER_TIME_SAMPLE,
    SHIFT_MIN_WINDOWS,
    CohortFilter,
    Progress,
    Window,
    get_version,
    norm_filter,
    rolling_windows,
)
from services.stats import drift_select as ds
from services.stats.drift_columns import SortedColumn


@dataclass(frozen=True)
class DriftOverTime:
    model_version_id: int
    reference: Window
    granularity: str
    cohort_filter: tuple
    # one row per (window, column): window_start, window_end, column, role, method, score, threshold,
    # is_p_value, drifted (Evidently's verdict, whatever the window's size), n_current, too_small (fewer
    # than OVER_TIME_MIN_ROWS rows: shown, but too noisy to date a shift)
    frame: pd.DataFrame
    # one row per window: window_start, window_end, n, n_drifted, share_drifted, drifted
    dataset: pd.DataFrame
    source: str = drift_summary.ROWS  # day summaries or rows (day blocks)
    source_note: str = ""  # why rows, when rows; which days were summarised from their blocks
    from_blocks: tuple[date, ...] = ()


def _subsample(col: SortedColumn, size: int, seed: int) -> SortedColumn:
    idx = md.uniform_sample(col.n, size, seed)
    if idx is None:
        return col
    return SortedColumn(col.values[idx], col.n_missing, col.is_integer)  # positions sorted: values stay sorted


def _window_index(frame: pd.DataFrame, windows: Sequence[Window]) -> np.ndarray:
    """Index of the rolling window each row falls in."""
    starts = np.array([np.datetime64(w.start) for w in windows])
    day = frame["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
    return np.searchsorted(starts, day, side="right") - 1


_OVER_TIME_COLUMNS = ["window_start", "window_end", "column", "role", "method", "score", "threshold",
                      "is_p_value", "drifted", "n_current", "too_small", "exact", "bound"]  # fmt: skip


def _reference_sample(ref_full: Prepared, seed: int) -> Prepared:
    """The reference prepared for drift over time: numeric columns subsampled to OVER_TIME_SAMPLE rows."""
    ref_numeric = {c: _subsample(v, OVER_TIME_SAMPLE, seed) for c, v in ref_full.numeric.items()}
    ref_distinct = {  # what the subsample may have missed, from the report's sample or whole window
        c: ref_full.distinct.get(c, ref_full.numeric[c].distinct[: ds.LOW_CARDINALITY_MAX_UNIQUE + 1])
        for c, v in ref_numeric.items()
        if v.n < ref_full.numeric[c].n and v.n_unique <= ds.LOW_CARDINALITY_MAX_UNIQUE
    }
    return Prepared(ref_full.n, ref_numeric, ref_full.numeric_n, ref_full.counts, ref_full.missing,
                    ref_full.sampled or bool(ref_distinct), ref_full.distinct | ref_distinct)  # fmt: skip


def _category_codes(frame: pd.DataFrame, kinds: dict[str, str]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Each categorical column as integer codes (-1 for missing) and the label of each code."""
    cats: dict[str, tuple[np.ndarray, list[str]]] = {}
    for c, k in kinds.items():
        if k != "numeric":
            s = category_series(frame, c) if c != OUTCOME_LABEL else frame["label"]
            codes, uniques = pd.factorize(s, use_na_sentinel=True)
            labels = [str(int(v)) for v in uniques] if c == OUTCOME_LABEL else [str(v) for v in uniques]
            cats[c] = (codes.astype(np.int64), labels)
    return cats


def _window_prepared(
    rows_i: np.ndarray, idx: np.ndarray | None, numeric: dict[str, np.ndarray],
    cats: dict[str, tuple[np.ndarray, list[str]]],
) -> Prepared:  # fmt: skip
    """One rolling window's rows (positions rows_i, sampled at idx when not None) prepared for the tests."""
    sample = rows_i if idx is None else rows_i[idx]
    cur_numeric, cur_n, cur_counts, cur_missing, cur_distinct = {}, {}, {}, {}, {}
    for c, values in numeric.items():
        full = values[rows_i]
        present = np.isfinite(full)
        finite = int(present.sum())
        cur_n[c], cur_missing[c] = finite, full.size - finite
        cur_numeric[c] = SortedColumn.of(values[sample])
        if idx is not None and cur_numeric[c].n_unique <= ds.LOW_CARDINALITY_MAX_UNIQUE:
            cur_distinct[c] = few_distinct(full[present])
    for c, (codes, labels) in cats.items():
        sub = codes[rows_i]
        valid = sub >= 0
        counts = np.bincount(sub[valid], minlength=len(labels))
        keep = counts > 0
        cur_counts[c] = pd.Series(counts[keep], index=[lab for lab, k in zip(labels, keep, strict=True) if k])
        cur_missing[c] = 0 if c == OUTCOME_LABEL else int((~valid).sum())
    return Prepared(rows_i.size, cur_numeric, cur_n, cur_counts, cur_missing, idx is not None, cur_distinct)


def _window_results(
    w: Window, kinds: dict[str, str], ref: Prepared, cur: Prepared, saved: dict[str, ds.ColumnOverride]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One window's row per column and its dataset-drift row."""
    rows = []
    n_drifted = n_features = 0
    for column, kind in kinds.items():
        r = column_result(column, kind, ref, cur, saved.get(column), with_distribution=False)
        rows.append(
            {"window_start": w.start, "window_end": w.end, "column": column, "role": r.role,
             "method": r.method, "score": r.score, "threshold": r.threshold, "is_p_value": r.is_p_value,
             "drifted": r.drifted, "n_current": r.n_current, "too_small": r.n_current < OVER_TIME_MIN_ROWS,
             "exact": r.exact, "bound": r.bound}
        )  # fmt: skip
        if r.role == "feature" and r.tested:
            n_features += 1
            n_drifted += r.drifted
    share = n_drifted / n_features if n_features else float("nan")
    dataset = {"window_start": w.start, "window_end": w.end, "n": int(cur.n), "n_drifted": n_drifted,
               "share_drifted": share, "drifted": bool(n_features) and share >= DATASET_DRIFT_SHARE}  # fmt: skip
    return rows, dataset


def drift_over_time(
    engine: Engine, model_version_id: int, reference: Window, granularity: str = "day",
    cohort_filter: CohortFilter | None = None, progress: Progress | None = None, *, rows: bool = False,
) -> DriftOverTime:  # fmt: skip
    """Each column's drift score in every rolling window of the version against `reference`.

    Same tests, thresholds and overrides as the drift report; numeric columns read uniform samples of at
    most OVER_TIME_SAMPLE rows of the reference and of each window (the chart's noise floor for the normed
    Wasserstein distance is then about 0.013, 0.028 in 99% of windows), categorical columns their exact
    counts. From day summaries where they hold the view (as drift_window.prepared_window; rows=True: the
    row path)."""
    info = get_version(engine, model_version_id)
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    assert info.first_day is not None and info.last_day is not None
    windows = rolling_windows(info.first_day, info.last_day, granularity)
    saved = overrides(engine, info.model_name)
    ref_full, ref_token, ref_kinds = prepared_window(engine, info, reference, cohort_filter, rows=rows)
    filt = norm_filter(cohort_filter)
    whole_window = Window(info.first_day, info.last_day)
    note = ""
    if not rows:
        days, token, from_blocks, note = drift_summary.window_days(engine, info.id, whole_window, cohort_filter, filt)
        if days:
            key = ("drift_over_time", drift_summary.SUMMARIES, md.engine_key(engine), info.id, reference, granularity,
                   filt, ref_token, token, tuple(sorted(saved.items())))  # fmt: skip
            return result_cache.get_or_compute(key, lambda: _over_time_from_summaries(
                info.id, reference, granularity, filt, windows, days, from_blocks, (ref_full, ref_token, ref_kinds),
                saved, progress))  # fmt: skip
    whole = load_window(engine, info.id, whole_window, cohort_filter)
    key = ("drift_over_time", md.engine_key(engine), info.id, reference, granularity, filt, ref_token,
           whole.token, tuple(sorted(saved.items())))  # fmt: skip

    def compute() -> DriftOverTime:
        frame = whole.frame
        kinds = ordered_rows(
            {c: k for c, k in ref_kinds.items() if c in OUTPUT_COLUMNS or md.FEATURE_PREFIX + c in frame}
        )
        seed = md.seed_for("over_time", info.id, reference, filt, ref_token)
        ref = _reference_sample(ref_full, seed)
        win = _window_index(frame, windows)
        order = np.argsort(win, kind="stable")
        bounds = np.searchsorted(win[order], np.arange(len(windows) + 1))
        numeric = {c: numeric_values(frame, c) for c, k in kinds.items() if k == "numeric"}
        cats = _category_codes(frame, kinds)
        rows, dataset = [], []
        for i, w in enumerate(windows):
            if progress:
                progress(i / len(windows), f"window {w.label}")
            rows_i = order[bounds[i] : bounds[i + 1]]
            idx = md.uniform_sample(rows_i.size, OVER_TIME_SAMPLE, md.seed_for(seed, w))
            cur = _window_prepared(rows_i, idx, numeric, cats)
            window_rows, window_dataset = _window_results(w, kinds, ref, cur, saved)
            rows.extend(window_rows)
            dataset.append(window_dataset)
        if progress:
            progress(1.0, "done")
        return DriftOverTime(info.id, reference, granularity, filt, pd.DataFrame(rows, columns=_OVER_TIME_COLUMNS),
                             pd.DataFrame(dataset), drift_summary.ROWS, note)  # fmt: skip

    return result_cache.get_or_compute(key, compute)


def _over_time_from_summaries(
    model_version_id: int, reference: Window, granularity: str, filt: tuple, windows: Sequence[Window],
    days: list[DaySummary], from_blocks: tuple[date, ...], ref_prepared: tuple[Prepared, tuple, dict[str, str]],
    saved: dict[str, ds.ColumnOverride], progress: Progress | None,
) -> DriftOverTime:  # fmt: skip
    """Drift over time from day summaries (already restricted to the cohort by summary_cache): each rolling
    window is the merge of its days (a daily window reads one day), its numeric sample capped at
    OVER_TIME_SAMPLE rows; the reference is the report's, subsampled as on the row path. O(days x strata),
    whatever the row count."""
    ref_full, ref_token, ref_kinds = ref_prepared
    by_day = {s.day: s for s in days}
    schema = days[0].schema
    own = drift_summary.kinds_of(schema)
    kinds = ordered_rows({c: k for c, k in ref_kinds.items() if own.get(c) == k})
    ref = _reference_sample(ref_full, md.seed_for("over_time", model_version_id, reference, filt, ref_token))
    rows, dataset = [], []
    for i, w in enumerate(windows):
        if progress:
            progress(i / len(windows), f"window {w.label}")
        in_window = [by_day[d] for d in sorted(by_day) if w.contains(d)]
        if in_window:
            cur = days_prepared(in_window, cap=OVER_TIME_SAMPLE)
        else:
            n, numeric, numeric_n, counts, missing = drift_summary.empty_inputs(schema)
            cur = Prepared(n, numeric, numeric_n, counts, missing, False, source=drift_summary.SUMMARIES)
        window_rows, window_dataset = _window_results(w, kinds, ref, cur, saved)
        rows.extend(window_rows)
        dataset.append(window_dataset)
    if progress:
        progress(1.0, "done")
    return DriftOverTime(model_version_id, reference, granularity, filt, pd.DataFrame(rows, columns=_OVER_TIME_COLUMNS),
                         pd.DataFrame(dataset), drift_summary.SUMMARIES, drift_summary.from_blocks_note(from_blocks),
                         from_blocks)  # fmt: skip


@dataclass(frozen=True)
class Shift:
    """A column's drift score moved once, from below to above its threshold (or the reverse for p-values)."""

    column: str
    day: date  # the first window after the change
    before: float  # median score of the windows before
    after: float  # median score from `day` on
    threshold: float
    is_p_value: bool


def shift_of(over: DriftOverTime, column: str) -> Shift | None:
    """When did the column start drifting? The single change point of its score series (the split that
    leaves the least squared error around the two segments' means), reported only when the windows
    before it mostly do not drift (median on the no-drift side of the threshold) and the windows after
    it do, each side at least SHIFT_MIN_WINDOWS windows long (3 days or 2 weeks). Windows with fewer than
    OVER_TIME_MIN_ROWS rows are left out: a few noisy days cannot make a shift."""
    part = over.frame[(over.frame["column"] == column) & (over.frame["n_current"] >= OVER_TIME_MIN_ROWS)]
    part = part.sort_values("window_start")
    scores = part["score"].to_numpy(dtype=np.float64)
    side = SHIFT_MIN_WINDOWS.get(over.granularity, 3)
    if scores.size < 2 * side or not np.isfinite(scores).all():
        return None
    is_p = bool(part["is_p_value"].iloc[-1])
    threshold = float(part["threshold"].iloc[-1])
    csum, csq = np.cumsum(scores), np.cumsum(scores**2)
    n = scores.size
    k = np.arange(side, n - side + 1)  # the first k windows before the change
    left = csq[k - 1] - csum[k - 1] ** 2 / k
    right = (csq[-1] - csq[k - 1]) - (csum[-1] - csum[k - 1]) ** 2 / (n - k)
    split = int(k[np.argmin(left + right)])
    before, after = float(np.median(scores[:split])), float(np.median(scores[split:]))
    drifts = (lambda v: v < threshold) if is_p else (lambda v: v >= threshold)
    if drifts(before) or not drifts(after):
        return None
    day = part["window_start"].iloc[split]
    return Shift(column, pd.Timestamp(day).date(), before, after, threshold, is_p)
