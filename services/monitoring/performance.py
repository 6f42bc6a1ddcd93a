"""Realized performance where outcomes are known: per cohort, over time, and calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput
from services.monitoring import blocks as md
from services.monitoring.cohort_rank import CohortLine, rank_lines
from services.monitoring.frames import cohort_fields, load_window, result_cache
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
from services.stats.calibration import CohortCalibration, ReliabilityDiagram, calibration_by_cohort, reliability_diagram

# --- performance -----------------------------------------------------------------------------------


def resamples_for(n_rows: int) -> int:
    """Bootstrap resamples within the row budget: 200 up to 25,000 rows, fewer above, at least 30."""
    if n_rows <= 0:
        return perf.DEFAULT_RESAMPLES
    return int(max(MIN_RESAMPLES, min(perf.DEFAULT_RESAMPLES, BOOTSTRAP_ROW_BUDGET // n_rows)))


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

    @property
    def flagged(self) -> tuple[CohortLine, ...]:
        return tuple(line for line in self.lines if line.row.flagged)


def cohort_report(
    engine: Engine, model_version_id: int, window: Window, fields: Sequence[str] = (), rank_by: str = "accuracy",
    min_size: int = perf.DEFAULT_MIN_COHORT_SIZE, cohort_filter: CohortFilter | None = None,
    reference: Window | None = None,
) -> CohortReport:  # fmt: skip
    """Metrics with 95% intervals per cohort of one field or two, or (no fields) every field one at a time
    with only the ranking metric, ranked together by how far each cohort falls below the rest. With a
    reference window, each cohort is also compared with itself there and new regressions come first, then
    the gaps that were there already (services/monitoring/cohort_rank.py: the demo's mobile cohorts after
    the release before its free tier, which has trailed from the start)."""
    if rank_by not in perf.METRICS:
        raise InvalidInput(f"Rank by one of {', '.join(perf.METRICS)}.")
    if len(fields) > 2:
        raise InvalidInput("Slice by one cohort field or two at once.")
    if min_size < 1:
        raise InvalidInput("The minimum cohort size is at least 1.")
    info = get_version(engine, model_version_id)
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


def performance_over_time(
    engine: Engine, model_version_id: int, granularity: str = "week", metric: str = "accuracy",
    field: str | None = None, cohort_filter: CohortFilter | None = None,
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


def calibration_report(
    engine: Engine, model_version_id: int, window: Window, field: str | None = None, n_bins: int = 10,
    strategy: str = "uniform", cohort_filter: CohortFilter | None = None,
) -> CalibrationReport:  # fmt: skip
    """Reliability diagram and ECE over the window's labelled rows, and per cohort of `field`."""
    if not 2 <= n_bins <= 50:
        raise InvalidInput("Use between 2 and 50 bins.")
    info = get_version(engine, model_version_id)
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
