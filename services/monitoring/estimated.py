"""Estimated performance (CBPE) where outcomes are not known yet, with the realized values beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput
from services.monitoring import blocks as md
from services.monitoring.frames import load_window, result_cache
from services.monitoring.performance import binary_inputs, labelled
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

    return result_cache.get_or_compute(key, compute)


def cbpe_report(
    engine: Engine, model_version_id: int, reference: Window, granularity: str = "week",
    cohort_filter: CohortFilter | None = None,
) -> CBPEReport:  # fmt: skip
    """CBPE per rolling window of the version, beside the realized metric where outcomes are known."""
    info = get_version(engine, model_version_id)
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    assert info.first_day is not None and info.last_day is not None
    windows = rolling_windows(info.first_day, info.last_day, granularity)
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
            w = windows[i]
            n = int(we.estimate.n)
            n_lab = realized.get(i, {}).get("n", 0)
            for m in CBPE_METRICS:
                est = we.estimate.metric(m)
                real = realized.get(i, {}).get(m)
                rows.append(
                    {"window_start": w.start, "window_end": w.end, "n": n, "n_labelled": n_lab,
                     "labelled_share": n_lab / n if n else float("nan"), "metric": m, "estimate": est.value,
                     "lower": est.lower, "upper": est.upper, "sampling_error": est.sampling_error,
                     "realized": real.value if real else float("nan"),
                     "realized_ci_low": real.ci_low if real else float("nan"),
                     "realized_ci_high": real.ci_high if real else float("nan"),
                     "band_check": band_check(real.value if real else float("nan"), est.lower, est.upper)}
                )  # fmt: skip
        columns = ["window_start", "window_end", "n", "n_labelled", "labelled_share", "metric", "estimate", "lower",
                   "upper", "sampling_error", "realized", "realized_ci_low", "realized_ci_high",
                   "band_check"]  # fmt: skip
        return CBPEReport(info.id, reference, granularity, calibrator.method, reason, n_ref, sims,
                          pd.DataFrame(rows, columns=columns))  # fmt: skip

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
    *, auc_band: bool = True,
) -> cbpe_stats.CBPEEstimate:  # fmt: skip
    """CBPE for one window (e.g. the current one, or an alert rule's). auc_band=False skips the ROC AUC
    band's label simulations (most of the cost) when only the other metrics are wanted; the AUC
    estimate itself is still there, its band NaN."""
    info = get_version(engine, model_version_id)
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
