"""Estimated performance (CBPE) where outcomes are not known yet, with the realized values beside it."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput
from services.monitoring import blocks as md
from services.monitoring import summary_cache
from services.monitoring import summary_merge as sm
from services.monitoring import summary_metrics as smx
from services.monitoring.frames import load_window, result_cache
from services.monitoring.performance import binary_inputs, in_strata, labelled
from services.monitoring.views import (
    AUC_SIMULATION_BUDGET,
    CBPE_METRICS,
    MIN_CALIBRATION_ROWS,
    CohortFilter,
    VersionInfo,
    Window,
    get_version,
    norm_filter,
    rolling_windows,
)
from services.stats import cbpe as cbpe_stats
from services.stats import cohort_metrics
from services.stats import priority_sample as ps
from services.stats import score_histogram as sh


@dataclass(frozen=True)
class CBPEReport:
    model_version_id: int
    reference: Window
    granularity: str
    calibration: str  # "isotonic" or "none"
    calibration_reason: str
    n_reference_labelled: int
    n_simulations: int
    # window_start, window_end, n, n_labelled, labelled_share, metric, estimate, lower, upper,
    # sampling_error, realized, realized_ci_low, realized_ci_high, band_check (see band_check())
    frame: pd.DataFrame
    source: str = "rows"  # or summary_metrics.SOURCE
    bounds: dict[str, float] = dataclass_field(default_factory=dict)  # estimate: metric -> largest bound, 0 exact
    realized_bounds: dict[str, float] = dataclass_field(default_factory=dict)
    from_blocks: tuple[date, ...] = ()

    def metric(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame["metric"] == name].reset_index(drop=True)

    def outside_band(self, name: str) -> pd.DataFrame:
        """The windows whose realized value fell outside the estimate's band (NannyML flags these too: the
        estimate missed, e.g. a change CBPE cannot see such as concept drift, or a calibrator gone stale)."""
        rows = self.metric(name)
        return rows[rows["band_check"].isin((BELOW, ABOVE))].reset_index(drop=True)


BELOW, ABOVE, INSIDE, UNKNOWN = "below", "above", "inside", "unknown"


def band_check(realized: float, lower: float, upper: float) -> str:
    """Where the realized value lies against the estimate's band: below, above, inside, or unknown (no
    outcome yet, or no band)."""
    if not (np.isfinite(realized) and np.isfinite(lower) and np.isfinite(upper)):
        return UNKNOWN
    if realized < lower:
        return BELOW
    return ABOVE if realized > upper else INSIDE


def simulations_for(n_rows: int) -> int:
    if n_rows <= 0:
        return cbpe_stats.AUC_SIMULATIONS
    return int(max(20, min(cbpe_stats.AUC_SIMULATIONS, AUC_SIMULATION_BUDGET // n_rows)))


def _calibrator(
    engine: Engine, info: VersionInfo, reference: Window, cohort_filter
) -> tuple[cbpe_stats.ScoreCalibrator, int, str]:
    sl = load_window(engine, info.id, reference, cohort_filter, base_only=True)
    filt = norm_filter(cohort_filter)
    key = ("calibrator", md.engine_key(engine), info.id, reference, filt, sl.token)

    def compute():
        lab = labelled(sl.frame)
        idx = md.uniform_sample(len(lab), md.SAMPLE_SIZE, md.seed_for("calibrator", info.id, reference, sl.token))
        if idx is not None:
            lab = lab.iloc[idx]
        return _fit(lab)

    return result_cache.get_or_compute(key, compute)


def _fit(lab: pd.DataFrame) -> tuple[cbpe_stats.ScoreCalibrator, int, str]:
    """The calibrator on these labelled rows (NannyML's rule: isotonic when it lowers the held-out ECE)."""
    y = lab["label"].to_numpy(dtype=np.float64)
    p = lab["score"].to_numpy(dtype=np.float64)
    if len(lab) < MIN_CALIBRATION_ROWS or np.unique(y).size < 2:
        reason = (f"the reference window has {len(lab):,} labelled rows (fewer than {MIN_CALIBRATION_ROWS} or one "
                  "class): scores are used as they are")  # fmt: skip
        return cbpe_stats.ScoreCalibrator("none"), len(lab), reason
    cal = cbpe_stats.fit_calibrator(y, p, method="auto")
    reason = cal.check.reason if cal.check is not None else ""
    if cal.check is not None and np.isfinite(cal.check.ece_before):
        reason += f" (held-out ECE {cal.check.ece_before:.3f} before, {cal.check.ece_after:.3f} after)"
    return cal, len(lab), reason


def _calibrator_summary(
    engine: Engine, mv: int, reference: Window, cohort_filter: CohortFilter | None
) -> tuple[cbpe_stats.ScoreCalibrator, int, str]:
    """_calibrator on the reference window's uniform sample (day summaries): its labelled rows, at most
    SAMPLE_SIZE of them by priority (the row path draws another uniform sample of the same size)."""
    lw = summary_cache.window_summary(engine, mv, reference, cohort_filter)
    key = ("calibrator", "summary", md.engine_key(engine), mv, reference, norm_filter(cohort_filter), lw.token)

    def compute():
        if lw.summary is None:
            return _fit(pd.DataFrame({"label": [], "score": []}))
        lab = sm.labelled_sample(lw.summary).sort_values(ps.PRIORITY).head(md.SAMPLE_SIZE)
        return _fit(lab)

    return result_cache.get_or_compute(key, compute)


def cbpe_report(
    engine: Engine, model_version_id: int, reference: Window, granularity: str = "week",
    cohort_filter: CohortFilter | None = None, *, rows: bool = False,
) -> CBPEReport:  # fmt: skip
    """CBPE per rolling window of the version, beside the realized metric where outcomes are known. From
    the day summaries unless the cohort filter names two fields (or rows=True): see summary_metrics."""
    info = get_version(engine, model_version_id)
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    assert info.first_day is not None and info.last_day is not None
    windows = rolling_windows(info.first_day, info.last_day, granularity)
    if not rows and in_strata(cohort_filter, ()):
        return _cbpe_report_summary(engine, info, reference, granularity, windows, cohort_filter)
    calibrator, n_ref, reason = _calibrator(engine, info, reference, cohort_filter)
    sl = load_window(engine, info.id, Window(info.first_day, info.last_day), cohort_filter)
    filt = norm_filter(cohort_filter)
    key = ("cbpe", md.engine_key(engine), info.id, reference, granularity, filt, sl.token)

    def compute() -> CBPEReport:
        frame = sl.frame
        starts = np.array([np.datetime64(w.start) for w in windows])
        day = frame["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
        win = np.searchsorted(starts, day, side="right") - 1
        raw = frame["score"].to_numpy(dtype=np.float64)
        pred = frame["predicted_label"].to_numpy() == 1
        sims = simulations_for(len(frame))
        rows = []
        estimates = (
            cbpe_stats.estimate_by_window(win, calibrator.calibrate(raw), pred, raw, n_simulations=sims)
            if len(frame) else ()
        )  # fmt: skip
        realized = _realized_by_window(frame, win)
        for we in estimates:
            i = int(we.window)
            rows += _metric_rows(windows[i], we.estimate, realized.get(i, {}))
        return CBPEReport(info.id, reference, granularity, calibrator.method, reason, n_ref, sims,
                          pd.DataFrame(rows, columns=COLUMNS))  # fmt: skip

    return result_cache.get_or_compute(key, compute)


COLUMNS = ["window_start", "window_end", "n", "n_labelled", "labelled_share", "metric", "estimate", "lower", "upper",
           "sampling_error", "realized", "realized_ci_low", "realized_ci_high", "band_check"]  # fmt: skip


def _metric_rows(w: Window, estimate: cbpe_stats.CBPEEstimate, realized: dict[str, Any]) -> list[dict[str, Any]]:
    """One window's rows of CBPEReport.frame: each metric's estimate and band beside the realized value."""
    n, n_lab = int(estimate.n), realized.get("n", 0)
    rows = []
    for m in CBPE_METRICS:
        est = estimate.metric(m)
        real = realized.get(m)
        rows.append(
            {"window_start": w.start, "window_end": w.end, "n": n, "n_labelled": n_lab,
             "labelled_share": n_lab / n if n else float("nan"), "metric": m, "estimate": est.value,
             "lower": est.lower, "upper": est.upper, "sampling_error": est.sampling_error,
             "realized": real.value if real else float("nan"),
             "realized_ci_low": real.ci_low if real else float("nan"),
             "realized_ci_high": real.ci_high if real else float("nan"),
             "band_check": band_check(real.value if real else float("nan"), est.lower, est.upper)}
        )  # fmt: skip
    return rows


REPORT_SIMULATIONS = 30  # label draws per window, ROC AUC band over time (the row path: 20-200; current window: 200)


def _cbpe_report_summary(engine: Engine, info: VersionInfo, reference: Window, granularity: str,
                         windows: list[Window], cohort_filter: CohortFilter | None) -> CBPEReport:  # fmt: skip
    """cbpe_report from the day summaries: each rolling window's days merged; CBPE from its histograms
    (score_histogram.cbpe_from_histograms), the realized metrics from its labelled cells."""
    calibrator, n_ref, reason = _calibrator_summary(engine, info.id, reference, cohort_filter)
    assert info.first_day is not None and info.last_day is not None
    indexed = summary_cache.days(engine, info.id, Window(info.first_day, info.last_day))
    ref = summary_cache.window_summary(engine, info.id, reference, cohort_filter)
    key = ("cbpe", "summary", md.engine_key(engine), info.id, reference, granularity, norm_filter(cohort_filter),
           indexed.token, ref.token)  # fmt: skip

    def compute() -> CBPEReport:
        days, from_blocks = indexed.load(cohort_filter)
        merged = {}
        for i, w in enumerate(windows):
            part = [d for d in days if w.contains(d.day)]
            if part:
                merged[i] = sm.merge_window(part, sample=False)
        realized: dict[int, dict[str, Any]] = {}
        realized_bounds: dict[str, float] = {}
        if merged:
            groups = smx.Groups({"window": list(merged)}, np.stack([m.counts[0] for m in merged.values()]),
                                np.stack([m.sums[0] for m in merged.values()]))  # fmt: skip
            if groups.n_labelled:
                out_of_range = sum(d.out_of_range for d in days)
                table, realized_bounds = smx.cohort_table(groups, "accuracy", 1, CBPE_METRICS, 0, 0, out_of_range)
                realized = {int(r.cohort[0]): {"n": r.n, **{m: r.metrics[m] for m in CBPE_METRICS}} for r in table.rows}
        rows, bounds = [], []
        for i, m in merged.items():
            h = sh.cbpe_from_histograms(m.counts[0], m.sums[0], calibrator, n_simulations=REPORT_SIMULATIONS,
                                        seed=i)  # fmt: skip
            bounds.append(h.bounds)
            rows += _metric_rows(windows[i], h.estimate, realized.get(i, {}))
        return CBPEReport(info.id, reference, granularity, calibrator.method, reason, n_ref, REPORT_SIMULATIONS,
                          pd.DataFrame(rows, columns=COLUMNS), smx.SOURCE, smx.merge_bounds(bounds), realized_bounds,
                          from_blocks)  # fmt: skip

    return result_cache.get_or_compute(key, compute)


def _realized_by_window(frame: pd.DataFrame, win: np.ndarray) -> dict[int, dict[str, Any]]:
    mask = frame["label"].notna().to_numpy()
    if not mask.any():
        return {}
    lab = frame[mask]
    y, score, pred = binary_inputs(lab)
    table = cohort_metrics.cohort_table(y, score, pd.Series(win[mask], name="window"), y_pred=pred, min_size=1,
                              metrics=CBPE_METRICS, n_resamples=0)  # fmt: skip
    out: dict[int, dict[str, Any]] = {}
    for r in table.rows:
        entry: dict[str, Any] = {"n": r.n}
        for m in CBPE_METRICS:
            entry[m] = r.metrics[m]
        out[int(r.cohort[0])] = entry
    return out


def estimate_window(
    engine: Engine, model_version_id: int, reference: Window, window: Window, cohort_filter: CohortFilter | None = None,
    *, auc_band: bool = True, rows: bool = False,
) -> cbpe_stats.CBPEEstimate:  # fmt: skip
    """CBPE for one window (e.g. the current one, or an alert rule's). auc_band=False skips the ROC AUC
    band's label simulations (most of the cost) when only the other metrics are wanted; the AUC
    estimate itself is still there, its band NaN."""
    info = get_version(engine, model_version_id)
    if not rows and in_strata(cohort_filter, ()):
        return _estimate_window_summary(engine, info.id, reference, window, cohort_filter, auc_band).estimate
    calibrator, _, _ = _calibrator(engine, info, reference, cohort_filter)
    sl = load_window(engine, info.id, window, cohort_filter, base_only=True)
    key = ("cbpe_window", md.engine_key(engine), info.id, reference, window, norm_filter(cohort_filter), sl.token,
           auc_band)  # fmt: skip

    def compute():
        raw = sl.frame["score"].to_numpy(dtype=np.float64)
        pred = sl.frame["predicted_label"].to_numpy() == 1
        simulations = simulations_for(len(raw)) if auc_band else 0
        return cbpe_stats.estimate_performance(calibrator.calibrate(raw), pred, raw, n_simulations=simulations)

    return result_cache.get_or_compute(key, compute)


def _estimate_window_summary(engine: Engine, mv: int, reference: Window, window: Window,
                             cohort_filter: CohortFilter | None, auc_band: bool) -> sh.HistogramCBPE:  # fmt: skip
    """estimate_window from the day summaries (exact with scores used as they are, else within the bounds)."""
    calibrator, _, _ = _calibrator_summary(engine, mv, reference, cohort_filter)
    lw = summary_cache.window_summary(engine, mv, window, cohort_filter, sample=False)
    ref = summary_cache.window_summary(engine, mv, reference, cohort_filter)
    key = ("cbpe_window", "summary", md.engine_key(engine), mv, reference, window, norm_filter(cohort_filter),
           lw.token, ref.token, auc_band)  # fmt: skip

    def compute() -> sh.HistogramCBPE:
        counts, sums = (lw.summary.counts[0], lw.summary.sums[0]) if lw.summary is not None else _zeros()
        sims = cbpe_stats.AUC_SIMULATIONS if auc_band else 0
        return sh.cbpe_from_histograms(counts, sums, calibrator, n_simulations=sims)

    return result_cache.get_or_compute(key, compute)


def _zeros() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((3, 2, sh.N_BINS), dtype=np.int64), np.zeros((3, 2, sh.N_BINS))
