"""Realized performance where outcomes are known: per cohort, over time, and calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput
from services.monitoring import blocks as md
from services.monitoring import summary_cache
from services.monitoring import summary_metrics as smx
from services.monitoring.cohort_rank import CohortLine, rank_lines
from services.monitoring.day_summary import ALL
from services.monitoring.frames import cohort_fields, load_window, result_cache
from services.monitoring.summary_merge import WindowSummary, merge_window
from services.monitoring.views import (
    BOOTSTRAP_ROW_BUDGET,
    MIN_RESAMPLES,
    CohortFilter,
    Window,
    get_version,
    norm_filter,
    rolling_windows,
)
from services.stats import cohort_metrics
from services.stats import performance as perf
from services.stats import score_histogram as sh
from services.stats.calibration import CohortCalibration, ReliabilityDiagram, calibration_by_cohort, reliability_diagram

# --- performance -----------------------------------------------------------------------------------


def resamples_for(n_rows: int) -> int:
    """Bootstrap resamples within the row budget: 200 up to 25,000 rows, fewer above, at least 30."""
    if n_rows <= 0:
        return perf.DEFAULT_RESAMPLES
    return int(max(MIN_RESAMPLES, min(perf.DEFAULT_RESAMPLES, BOOTSTRAP_ROW_BUDGET // n_rows)))


def in_strata(cohort_filter: CohortFilter | None, fields: Sequence[str], every_field: bool = False) -> bool:
    """Whether the day summaries hold this view: no cohort filter or a filter on one field, and cohorts
    sliced by one field that is the filter's (the strata hold one field at a time, never a field within
    another field's value, nor two fields' combinations). Otherwise the view reads the window's rows."""
    filt = norm_filter(cohort_filter)
    if len(filt) > 1 or len(fields) > 1:
        return False
    return not (filt and (every_field or any(f != filt[0][0] for f in fields)))


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["label"].notna()]


def binary_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = frame["label"].to_numpy(dtype=np.float64)
    pred = frame["predicted_label"].to_numpy(dtype=np.float64)
    score = frame["score"].to_numpy(dtype=np.float64)
    if y.size and not (np.isin(y, (0.0, 1.0)).all() and np.isin(pred, (0.0, 1.0)).all()):
        raise InvalidInput("Performance metrics need binary labels and predictions (0/1).")
    return y, score, pred


@dataclass(frozen=True)
class CohortReport:
    model_version_id: int
    window: Window
    fields: tuple[str, ...]  # () = every cohort field, one at a time
    rank_by: str
    min_size: int
    n_predictions: int
    n_labelled: int
    n_resamples: int
    overall: perf.MetricSet | None
    lines: tuple[CohortLine, ...]  # ranked (cohort_rank: what matters first), then the too-small and unrankable
    metrics: tuple[str, ...]
    source: str = "rows"  # or summary_metrics.SOURCE
    bounds: dict[str, float] = dataclass_field(default_factory=dict)  # metric -> largest |summary - row value|; 0 exact
    from_blocks: tuple[date, ...] = ()  # days without a current stored summary, built from their blocks

    @property
    def flagged(self) -> tuple[CohortLine, ...]:
        return tuple(line for line in self.lines if line.row.flagged)


def cohort_report(
    engine: Engine, model_version_id: int, window: Window, fields: Sequence[str] = (), rank_by: str = "accuracy",
    min_size: int = perf.DEFAULT_MIN_COHORT_SIZE, cohort_filter: CohortFilter | None = None,
    reference: Window | None = None, *, rows: bool = False,
) -> CohortReport:  # fmt: skip
    """Metrics with 95% intervals per cohort of one field or two, or (no fields) every field one at a time
    with only the ranking metric, ranked together by how far each cohort falls below the rest. With a
    reference window, each cohort is also compared with itself there and new regressions come first, then
    the gaps that were there already (services/monitoring/cohort_rank.py: the demo's mobile cohorts after
    the release before its free tier, which has trailed from the start).

    From the day summaries when their strata hold the view (in_strata; services/monitoring/summary_metrics.py
    says what is exact and what is bounded), else (or rows=True) from the window's rows."""
    if rank_by not in perf.METRICS:
        raise InvalidInput(f"Rank by one of {', '.join(perf.METRICS)}.")
    if len(fields) > 2:
        raise InvalidInput("Slice by one cohort field or two at once.")
    if min_size < 1:
        raise InvalidInput("The minimum cohort size is at least 1.")
    info = get_version(engine, model_version_id)
    if not rows and in_strata(cohort_filter, fields, every_field=not fields):
        return _cohort_report_summary(engine, info.id, window, tuple(fields), rank_by, min_size, cohort_filter,
                                      reference)  # fmt: skip
    sl = load_window(engine, info.id, window, cohort_filter)
    filt = norm_filter(cohort_filter)
    ref_sl = load_window(engine, info.id, reference, cohort_filter) if reference is not None else None
    key = ("cohorts", md.engine_key(engine), info.id, window, tuple(fields), rank_by, min_size, filt, sl.token,
           reference, ref_sl.token if ref_sl is not None else None)  # fmt: skip

    def compute() -> CohortReport:
        lab = labelled(sl.frame)
        y, score, pred = binary_inputs(lab)
        all_fields = cohort_fields(sl.frame)
        for f in fields:
            if f not in all_fields:
                raise InvalidInput(f"No cohort field {f!r} in this window; fields: {', '.join(all_fields) or 'none'}.")
        metrics = tuple(perf.METRICS) if fields else (rank_by,)
        needs_boot = any(m in perf.BOOTSTRAP_METRICS for m in metrics)
        b = resamples_for(len(lab)) if needs_boot else 0
        lines: list[CohortLine] = []
        overall = None
        slices = [tuple(fields)] if fields else [(f,) for f in all_fields]
        for fs in slices:
            cohorts = pd.DataFrame({f: lab[md.COHORT_PREFIX + f].astype(object).to_numpy() for f in fs})
            table = cohort_metrics.cohort_table(
                y, score, cohorts, y_pred=pred, rank_by=rank_by, min_size=min_size, metrics=metrics,
                n_resamples=b, seed=md.seed_for(info.id, window, fs) % 2**32,
            )  # fmt: skip
            overall = overall or table.overall
            before = _reference_gaps(ref_sl.frame, fs, rank_by, min_size) if ref_sl is not None else {}
            for r in table.rows:
                gap, flagged, then = before.get(r.cohort, (None, None, None))
                change = cohort_metrics.metric_change(r.metrics[rank_by], then) if then is not None else None
                lines.append(CohortLine(fs, r, gap, flagged, vs_reference=change, has_reference=ref_sl is not None))
        if not slices:  # no cohort fields at all: the overall metrics only
            overall = perf.classification_metrics(y, score, pred, metrics=metrics, n_resamples=b)
        return CohortReport(info.id, window, tuple(fields), rank_by, min_size, sl.n, len(lab), b, overall,
                            rank_lines(lines, ref_sl is not None), metrics)  # fmt: skip

    return result_cache.get_or_compute(key, compute)


def _zero_histogram() -> tuple[np.ndarray, np.ndarray]:
    shape = (3, 2, sh.N_BINS)
    return np.zeros(shape, dtype=np.int64), np.zeros(shape)


def _groups(window: WindowSummary, fields: tuple[str, ...]) -> smx.Groups:
    labels, counts, sums = smx.field_groups(window, fields[0])
    return smx.Groups({fields[0]: labels}, counts, sums)


def _cohort_report_summary(
    engine: Engine, mv: int, window: Window, fields: tuple[str, ...], rank_by: str, min_size: int,
    cohort_filter: CohortFilter | None, reference: Window | None,
) -> CohortReport:  # fmt: skip
    """cohort_report from the day summaries (summary_metrics states what is exact and what is bounded)."""
    lw = summary_cache.window_summary(engine, mv, window, cohort_filter, sample=False)
    ref = summary_cache.window_summary(engine, mv, reference, cohort_filter, sample=False) if reference else None
    key = ("cohorts", "summary", md.engine_key(engine), mv, window, fields, rank_by, min_size,
           norm_filter(cohort_filter), lw.token, reference, ref.token if ref is not None else None)  # fmt: skip

    def compute() -> CohortReport:
        w = lw.summary
        all_fields = smx.cohort_fields(w) if w is not None else []
        for f in fields:
            if f not in all_fields:
                raise InvalidInput(f"No cohort field {f!r} in this window; fields: {', '.join(all_fields) or 'none'}.")
        metrics = tuple(perf.METRICS) if fields else (rank_by,)
        slices = [fields] if fields else [(f,) for f in all_fields]
        groups = {fs: _groups(w, fs) for fs in slices} if w is not None else {}
        needs_boot = any(m in perf.BOOTSTRAP_METRICS for m in metrics)
        cells = max((smx.n_cells(g.counts) for g in groups.values()), default=0)
        b = smx.resamples_for_cells(cells) if needs_boot else 0
        lines: list[CohortLine] = []
        overall, bounds = None, []
        for fs in slices:
            table, bound = smx.cohort_table(groups[fs], rank_by, min_size, metrics, b,
                                            md.seed_for(mv, window, fs) % 2**32, lw.out_of_range)  # fmt: skip
            overall = overall or table.overall
            bounds.append(bound)
            before = _reference_gaps_summary(ref.summary, fs, rank_by, min_size) if ref is not None else {}
            for r in table.rows:
                gap, flagged, then = before.get(r.cohort, (None, None, None))
                change = cohort_metrics.metric_change(r.metrics[rank_by], then) if then is not None else None
                lines.append(CohortLine(fs, r, gap, flagged, vs_reference=change, has_reference=ref is not None))
        if not slices:  # no cohort fields at all: the overall metrics only
            counts, sums = (w.counts[0], w.sums[0]) if w is not None else _zero_histogram()
            overall, bound = smx.metric_set(counts, sums, metrics, b, out_of_range=lw.out_of_range)
            bounds.append(bound)
        n_lab = int(w.counts[w.stratum(ALL), sh.NEGATIVE :].sum()) if w is not None else 0
        from_blocks = lw.from_blocks + (ref.from_blocks if ref is not None else ())
        return CohortReport(mv, window, fields, rank_by, min_size, lw.n_rows, n_lab, b, overall,
                            rank_lines(lines, ref is not None), metrics, smx.SOURCE, smx.merge_bounds(bounds),
                            tuple(sorted(set(from_blocks))))  # fmt: skip

    return result_cache.get_or_compute(key, compute)


def _reference_gaps_summary(
    window: WindowSummary | None, fields: tuple[str, ...], rank_by: str, min_size: int,
) -> dict[tuple, tuple[float, bool, perf.MetricCI]]:  # fmt: skip
    """_reference_gaps from the reference window's summaries."""
    if window is None or fields[0] not in smx.cohort_fields(window):
        return {}
    groups = _groups(window, fields)
    if not groups.n_labelled:
        return {}
    b = smx.resamples_for_cells(smx.n_cells(groups.counts)) if rank_by in perf.BOOTSTRAP_METRICS else 0
    table, _ = smx.cohort_table(groups, rank_by, min_size, (rank_by,), b, 0)
    return {r.cohort: (r.gap, r.flagged, r.metrics[rank_by]) for r in table.rows}


def _reference_gaps(
    frame: pd.DataFrame, fields: Sequence[str], rank_by: str, min_size: int,
) -> dict[tuple, tuple[float, bool, perf.MetricCI]]:  # fmt: skip
    """cohort -> (gap, flagged, metric) in another window, ranking metric only (no resampling for proportions)."""
    lab = labelled(frame)
    if lab.empty or any(md.COHORT_PREFIX + f not in lab.columns for f in fields):
        return {}
    y, score, pred = binary_inputs(lab)
    cohorts = pd.DataFrame({f: lab[md.COHORT_PREFIX + f].astype(object).to_numpy() for f in fields})
    b = resamples_for(len(lab)) if rank_by in perf.BOOTSTRAP_METRICS else 0
    table = cohort_metrics.cohort_table(y, score, cohorts, y_pred=pred, rank_by=rank_by, min_size=min_size,
                              metrics=(rank_by,), n_resamples=b)  # fmt: skip
    return {r.cohort: (r.gap, r.flagged, r.metrics[rank_by]) for r in table.rows}


@dataclass(frozen=True)
class PerformanceOverTime:
    model_version_id: int
    granularity: str
    metric: str
    field: str | None
    n_resamples: int
    # window_start, window_end, cohort, value, ci_low, ci_high, n, n_predictions
    frame: pd.DataFrame
    source: str = "rows"
    bound: float = 0.0  # largest |summary - row value| of the metric over the points; 0.0 exact
    from_blocks: tuple[date, ...] = ()


def performance_over_time(
    engine: Engine, model_version_id: int, granularity: str = "week", metric: str = "accuracy",
    field: str | None = None, cohort_filter: CohortFilter | None = None, *, rows: bool = False,
) -> PerformanceOverTime:  # fmt: skip
    """One metric per rolling window (and per cohort of `field`), with 95% intervals, where outcomes are known."""
    if metric not in perf.METRICS:
        raise InvalidInput(f"Choose a metric among {', '.join(perf.METRICS)}.")
    info = get_version(engine, model_version_id)
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    assert info.first_day is not None and info.last_day is not None
    windows = rolling_windows(info.first_day, info.last_day, granularity)
    whole = Window(info.first_day, info.last_day)
    if not rows and in_strata(cohort_filter, (field,) if field else ()):
        return _over_time_summary(engine, info.id, windows, whole, granularity, metric, field, cohort_filter)
    sl = load_window(engine, info.id, whole, cohort_filter)
    filt = norm_filter(cohort_filter)
    key = ("perf_over_time", md.engine_key(engine), info.id, granularity, metric, field, filt, sl.token)

    def compute() -> PerformanceOverTime:
        frame = sl.frame
        starts = np.array([np.datetime64(w.start) for w in windows])
        day = frame["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
        win = np.searchsorted(starts, day, side="right") - 1
        n_pred = pd.Series(win).value_counts()
        lab_mask = frame["label"].notna().to_numpy()
        lab = frame[lab_mask]
        y, score, pred = binary_inputs(lab)
        b = resamples_for(len(lab)) if metric in perf.BOOTSTRAP_METRICS else 0
        columns = ["window_start", "window_end", "cohort", "value", "ci_low", "ci_high", "n", "n_predictions"]
        if len(lab) == 0:
            return PerformanceOverTime(info.id, granularity, metric, field, b, pd.DataFrame(columns=columns))
        cohorts = {"window": win[lab_mask]}
        if field is not None:
            if md.COHORT_PREFIX + field not in lab.columns:
                raise InvalidInput(f"No cohort field {field!r} for this version.")
            cohorts[field] = lab[md.COHORT_PREFIX + field].astype(object).to_numpy()
        table = cohort_metrics.cohort_table(
            y, score, pd.DataFrame(cohorts), y_pred=pred, rank_by=metric, min_size=1, metrics=(metric,),
            n_resamples=b, seed=md.seed_for(info.id, granularity, metric, field) % 2**32,
        )  # fmt: skip
        rows = []
        for r in table.rows:
            w = windows[int(r.cohort[0])]
            m = r.metrics[metric]
            rows.append(
                {"window_start": w.start, "window_end": w.end, "cohort": "all" if field is None else str(r.cohort[1]),
                 "value": m.value, "ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n,
                 "n_predictions": int(n_pred.get(int(r.cohort[0]), 0))}
            )  # fmt: skip
        out = pd.DataFrame(rows, columns=columns).sort_values(["cohort", "window_start"], ignore_index=True)
        return PerformanceOverTime(info.id, granularity, metric, field, b, out)

    return result_cache.get_or_compute(key, compute)


OVER_TIME_COLUMNS = ["window_start", "window_end", "cohort", "value", "ci_low", "ci_high", "n", "n_predictions"]


def _over_time_summary(
    engine: Engine, mv: int, windows: list[Window], whole: Window, granularity: str, metric: str,
    field: str | None, cohort_filter: CohortFilter | None,
) -> PerformanceOverTime:  # fmt: skip
    """performance_over_time from the day summaries: each rolling window's days merged (histograms only)."""
    indexed = summary_cache.days(engine, mv, whole)
    key = ("perf_over_time", "summary", md.engine_key(engine), mv, granularity, metric, field,
           norm_filter(cohort_filter), indexed.token)  # fmt: skip

    def compute() -> PerformanceOverTime:
        days, from_blocks = indexed.load(cohort_filter)
        win_labels: list[object] = []
        values: list[object] = []
        counts, sums, n_pred = [], [], {}
        for i, w in enumerate(windows):
            part = [d for d in days if w.contains(d.day)]
            if not part:
                continue
            merged = merge_window(part, sample=False)
            n_pred[i] = merged.n(ALL)
            if field is None:
                labels, c, s = ["all"], merged.counts[:1], merged.sums[:1]
            else:
                labels, c, s = smx.field_groups(merged, field)
            win_labels += [i] * len(labels)
            values += labels
            counts.append(c)
            sums.append(s)
        groups = smx.Groups({"window": win_labels, "cohort": values},
                            np.concatenate(counts) if counts else np.zeros((0, 3, 2, sh.N_BINS), dtype=np.int64),
                            np.concatenate(sums) if sums else np.zeros((0, 3, 2, sh.N_BINS)))  # fmt: skip
        if field is not None and field not in {f for d in days for f in d.schema.cohorts}:
            raise InvalidInput(f"No cohort field {field!r} for this version.")
        b = smx.resamples_for_cells(smx.n_cells(groups.counts)) if metric in perf.BOOTSTRAP_METRICS else 0
        if not groups.n_labelled:
            return PerformanceOverTime(mv, granularity, metric, field, b, pd.DataFrame(columns=OVER_TIME_COLUMNS),
                                       smx.SOURCE, 0.0, from_blocks)  # fmt: skip
        out_of_range = sum(d.out_of_range for d in days)
        table, bounds = smx.cohort_table(groups, metric, 1, (metric,), b,
                                         md.seed_for(mv, granularity, metric, field) % 2**32, out_of_range)  # fmt: skip
        rows = []
        for r in table.rows:
            w, m = windows[int(r.cohort[0])], r.metrics[metric]
            rows.append({"window_start": w.start, "window_end": w.end, "cohort": str(r.cohort[1]), "value": m.value,
                         "ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n,
                         "n_predictions": int(n_pred.get(int(r.cohort[0]), 0))})  # fmt: skip
        out = pd.DataFrame(rows, columns=OVER_TIME_COLUMNS).sort_values(["cohort", "window_start"], ignore_index=True)
        return PerformanceOverTime(mv, granularity, metric, field, b, out, smx.SOURCE, bounds[metric], from_blocks)

    return result_cache.get_or_compute(key, compute)


# --- calibration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationReport:
    model_version_id: int
    window: Window
    field: str | None
    n_labelled: int
    overall: ReliabilityDiagram
    cohorts: CohortCalibration | None
    cohort_sizes: tuple[int, ...] = ()
    source: str = "rows"  # from the day summaries: exact (uniform bins dividing 1,000, scores in [0, 1])
    from_blocks: tuple[date, ...] = ()


def calibration_report(
    engine: Engine, model_version_id: int, window: Window, field: str | None = None, n_bins: int = 10,
    strategy: str = "uniform", cohort_filter: CohortFilter | None = None, *, rows: bool = False,
) -> CalibrationReport:  # fmt: skip
    """Reliability diagram and ECE over the window's labelled rows, and per cohort of `field`."""
    if not 2 <= n_bins <= 50:
        raise InvalidInput("Use between 2 and 50 bins.")
    info = get_version(engine, model_version_id)
    if (
        strategy == "uniform"
        and n_bins in sh.RELIABILITY_BIN_COUNTS
        and in_strata(cohort_filter, (field,) if field else ())
    ):
        lw = summary_cache.window_summary(engine, info.id, window, cohort_filter, sample=False)
        if not lw.out_of_range:  # the diagram clips scores to [0, 1]; the histograms' sums do not
            return _calibration_summary(engine, info.id, window, field, n_bins, cohort_filter, lw)
    sl = load_window(engine, info.id, window, cohort_filter)
    key = ("calibration", md.engine_key(engine), info.id, window, field, n_bins, strategy,
           norm_filter(cohort_filter), sl.token)  # fmt: skip

    def compute() -> CalibrationReport:
        lab = labelled(sl.frame)
        y = lab["label"].to_numpy(dtype=np.float64)
        p = np.clip(lab["score"].to_numpy(dtype=np.float64), 0.0, 1.0)
        overall = reliability_diagram(y, p, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
        cohorts, sizes = None, ()
        if field is not None and len(lab):
            col = md.COHORT_PREFIX + field
            if col not in lab.columns:
                raise InvalidInput(f"No cohort field {field!r} in this window.")
            values = lab[col].astype(object).to_numpy()
            cohorts = calibration_by_cohort(y, p, pd.Series(values, name=field), n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
            sizes = tuple(dg.n for dg in cohorts.diagrams)
        return CalibrationReport(info.id, window, field, len(lab), overall, cohorts, sizes)

    return result_cache.get_or_compute(key, compute)


def _calibration_summary(
    engine: Engine,
    mv: int,
    window: Window,
    field: str | None,
    n_bins: int,
    cohort_filter: CohortFilter | None,
    lw: summary_cache.LoadedWindow,
) -> CalibrationReport:
    """calibration_report from the day summaries: exact (the coarse bins are unions of the fine ones)."""
    key = ("calibration", "summary", md.engine_key(engine), mv, window, field, n_bins, norm_filter(cohort_filter),
           lw.token)  # fmt: skip

    def compute() -> CalibrationReport:
        w = lw.summary
        if w is None:
            return CalibrationReport(mv, window, field, 0, reliability_diagram([], [], n_bins=n_bins), None, (),
                                     smx.SOURCE, lw.from_blocks)  # fmt: skip
        overall = sh.reliability_from_histograms(w.counts[0], w.sums[0], n_bins)
        cohorts, sizes = None, ()
        if field is not None and overall.n:
            if field not in smx.cohort_fields(w):
                raise InvalidInput(f"No cohort field {field!r} in this window.")
            labels, counts, sums = smx.field_groups(w, field)
            diagrams = [(v, sh.reliability_from_histograms(c, s, n_bins)) for v, c, s in zip(labels, counts, sums,
                                                                                             strict=True)]  # fmt: skip
            diagrams = [(v, d) for v, d in diagrams if d.n]  # cohorts with outcomes, as the row path's
            cohorts = CohortCalibration((field,), tuple((v,) for v, _ in diagrams), tuple(d for _, d in diagrams))
            sizes = tuple(d.n for _, d in diagrams)
        return CalibrationReport(mv, window, field, overall.n, overall, cohorts, sizes, smx.SOURCE, lw.from_blocks)

    return result_cache.get_or_compute(key, compute)
