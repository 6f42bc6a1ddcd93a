"""Confidence-based performance estimation (CBPE, as NannyML defines it) for binary classifiers.

Before labels arrive, a calibrated score p is the probability that the row is positive, so the
confusion matrix of a window has an expected value from the scores alone:

    expected TP = sum of p over predicted positives      expected FP = sum of (1 - p) over them
    expected FN = sum of p over predicted negatives      expected TN = sum of (1 - p) over them

giving estimated accuracy, precision, recall and F1. Estimated ROC AUC follows NannyML's
`estimate_roc_auc` (Apache-2.0, read and rederived): order rows by the model's raw score, descending;
the expected true/false positive counts above each cut are cumulative sums of p and 1 - p; the area
under that expected ROC curve (trapezoids) is the estimate.

Calibration (NannyML's `needs_calibration`): on reference data with labels, fit an isotonic
regression of the label on the score in 10 stratified 90/10 splits and compare the expected
calibration error (10 equal-count bins) of the held-out scores before and after; calibrate with
isotonic regression fitted on all the reference data only when that lowers the error. An AUC above
0.999 or a single class means no calibration, as in NannyML.

Sampling error (our choice, NannyML's idea): NannyML derives a standard error from the reference
set's variability and the window size. We compute the spread of the *realized* metric that the
window's own scores imply if labels are drawn as Bernoulli(p): exact for accuracy and precision
(sums of independent Bernoullis), delta method for recall and F1, and seeded Monte Carlo draws
for ROC AUC. This is the band in which the realized value should fall if the model is calibrated
on this window, which is what a user checks when estimates and realized values sit side by side.
The band is +-3 standard errors, NannyML's `SAMPLING_ERROR_RANGE`, clipped to [0, 1].

Deliberate differences from NannyML: tied raw scores are one step of the expected ROC curve (as
sklearn's `roc_curve` treats ties), so the estimate does not depend on the order of tied rows;
and the cumulative sums are not rounded to 5 decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.stats.cohort_metrics import cohort_codes

# scikit-learn is imported inside the functions that fit or score: this module is imported by the day
# summaries (through score_histogram), so by every UI, API, worker and shell process, and scikit-learn's
# import costs ~1.5 CPU-s, paid now only by a process that fits a calibrator.

SAMPLING_ERROR_RANGE = 3.0
AUC_SIMULATIONS = 200


@dataclass(frozen=True)
class CalibrationCheck:
    """Whether isotonic calibration lowers the held-out expected calibration error (NannyML's test)."""

    needed: bool
    ece_before: float
    ece_after: float
    reason: str


@dataclass(frozen=True)
class ScoreCalibrator:
    """A fitted score -> probability map: isotonic regression stored as its breakpoints, or identity."""

    method: str  # "isotonic" or "none"
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    check: CalibrationCheck | None = None

    def calibrate(self, score: npt.ArrayLike) -> np.ndarray:
        s = np.asarray(score, dtype=np.float64)
        if self.method == "none":
            return s
        x, y = np.asarray(self.x), np.asarray(self.y)
        # IsotonicRegression(out_of_bounds="clip").predict: clip to the fitted range, then interpolate.
        return np.interp(np.clip(s, x[0], x[-1]), x, y)


@dataclass(frozen=True)
class EstimatedMetric:
    metric: str
    value: float
    sampling_error: float
    lower: float  # value - 3 sampling errors, clipped to [0, 1]
    upper: float


@dataclass(frozen=True)
class CBPEEstimate:
    n: int
    expected_tp: float
    expected_fp: float
    expected_tn: float
    expected_fn: float
    accuracy: EstimatedMetric
    precision: EstimatedMetric
    recall: EstimatedMetric
    f1: EstimatedMetric
    roc_auc: EstimatedMetric
    method: str = "CBPE"

    def metric(self, name: str) -> EstimatedMetric:
        return getattr(self, name)


@dataclass(frozen=True)
class WindowEstimate:
    window: object
    estimate: CBPEEstimate


# ---------------------------------------------------------------------------------------------
# Calibration


def _equal_count_ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    """NannyML's ECE: rows sorted by score, cut into equal-count bins by position."""
    n = p.size
    if n <= 2 * n_bins:
        n_bins = n // 2
    if n_bins < 2:
        raise ValueError("too few rows to measure calibration")
    order = np.argsort(p, kind="stable")
    p, y = p[order], y[order]
    width = n // n_bins
    edges = np.arange(0, n + 1, width)
    edges[-1] = n
    sums_p = np.add.reduceat(p, edges[:-1])
    sums_y = np.add.reduceat(y, edges[:-1])
    counts = np.diff(edges)
    return float(np.sum(np.abs(sums_p / counts - sums_y / counts) * counts / n))


def needs_calibration(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, n_bins: int = 10, n_splits: int = 10, seed: int = 42
) -> CalibrationCheck:
    y = np.asarray(y_true).astype(np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    if np.isnan(y).any() or np.isnan(p).any():
        raise ValueError("reference labels and scores must not contain missing values")
    if np.unique(y).size < 2:
        return CalibrationCheck(False, float("nan"), float("nan"), "one class in the reference")
    from sklearn.metrics import roc_auc_score  # scikit-learn lazily: see the note under the imports

    if roc_auc_score(y, p) > 0.999:
        return CalibrationCheck(False, float("nan"), float("nan"), "scores separate the classes (AUC > 0.999)")
    # The seeded split draws positions: put the rows in one canonical order (by score, then label) so the
    # verdict depends on the rows, not on the order they were read in (table order, a sample's priority
    # order); on a well-calibrated reference the verdict is otherwise a coin toss between two readers.
    order = np.lexsort((y, p))
    y, p = y[order], p[order]
    from sklearn.isotonic import IsotonicRegression
    from sklearn.model_selection import StratifiedShuffleSplit

    splits = StratifiedShuffleSplit(n_splits=n_splits, test_size=0.1, random_state=seed)
    ys, before, after = [], [], []
    for train, test in splits.split(p, y):
        iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p[train], y[train])
        ys.append(y[test])
        before.append(p[test])
        after.append(iso.predict(p[test]))
    y_all = np.concatenate(ys)
    ece_before = _equal_count_ece(y_all, np.concatenate(before), n_bins)
    ece_after = _equal_count_ece(y_all, np.concatenate(after), n_bins)
    needed = ece_before > ece_after
    reason = "isotonic calibration lowers the held-out ECE" if needed else "scores are already calibrated"
    return CalibrationCheck(bool(needed), ece_before, ece_after, reason)


def fit_calibrator(y_true: npt.ArrayLike, y_score: npt.ArrayLike, method: str = "auto") -> ScoreCalibrator:
    """Fit on reference data. "auto" calibrates only when `needs_calibration` says it helps (NannyML's
    default); "isotonic" always; "none" never."""
    y = np.asarray(y_true).astype(np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    check = None
    if method == "auto":
        check = needs_calibration(y, p)
        method = "isotonic" if check.needed else "none"
    if method == "none":
        return ScoreCalibrator("none", check=check)
    if method != "isotonic":
        raise ValueError(f"method must be 'auto', 'isotonic' or 'none', got {method!r}")
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(p, y)
    return ScoreCalibrator("isotonic", tuple(iso.X_thresholds_.tolist()), tuple(iso.y_thresholds_.tolist()), check)


# ---------------------------------------------------------------------------------------------
# Estimation


def expected_roc_auc(calibrated: npt.ArrayLike, raw_score: npt.ArrayLike | None = None) -> float:
    """Area under the expected ROC curve: rows by raw score descending, expected TP/FP as cumulative
    sums of p and 1 - p (NannyML's estimate), tied raw scores taken as one step."""
    p = np.asarray(calibrated, dtype=np.float64)
    s = p if raw_score is None else np.asarray(raw_score, dtype=np.float64)
    if p.size == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    ps, ss = p[order], s[order]
    tps = np.cumsum(ps)
    fps = np.cumsum(1.0 - ps)
    # Keep the last row of each run of equal scores: the curve moves once per distinct threshold.
    last = np.append(ss[1:] != ss[:-1], True)
    tps = np.concatenate([[0.0], tps[last]])
    fps = np.concatenate([[0.0], fps[last]])
    if tps[-1] <= 0 or fps[-1] <= 0:
        return float("nan")
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    return float(np.trapezoid(tpr, fpr))


def _band(metric: str, value: float, se: float, band: float) -> EstimatedMetric:
    lo = float(np.clip(value - band * se, 0.0, 1.0)) if np.isfinite(value) else float("nan")
    hi = float(np.clip(value + band * se, 0.0, 1.0)) if np.isfinite(value) else float("nan")
    return EstimatedMetric(metric, float(value), float(se), lo, hi)


def _auc_sampling_error(p: np.ndarray, s: np.ndarray, n_simulations: int, seed: int) -> float:
    """Std of the realized AUC over label draws y ~ Bernoulli(p), by the rank formula (one sort)."""
    if n_simulations <= 1 or p.size < 2:
        return float("nan")
    ranks = _midranks(s)
    rng = np.random.default_rng(seed)
    out = np.empty(n_simulations)
    batch = max(1, min(n_simulations, 2_000_000 // max(p.size, 1)))
    done = 0
    while done < n_simulations:
        b = min(batch, n_simulations - done)
        y = rng.random((b, p.size)) < p
        n_pos = y.sum(axis=1).astype(np.float64)
        n_neg = p.size - n_pos
        rank_sum = y.astype(np.float64) @ ranks
        with np.errstate(divide="ignore", invalid="ignore"):
            out[done : done + b] = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        done += b
    return float(np.nanstd(out, ddof=1))


def _midranks(s: np.ndarray) -> np.ndarray:
    order = np.argsort(s, kind="stable")
    ss = s[order]
    new = np.empty(ss.size, dtype=bool)
    new[0] = True
    new[1:] = ss[1:] != ss[:-1]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], ss.size)
    mid = (starts + ends + 1) / 2.0  # average of 1-based ranks start+1 .. end
    ranks = np.empty(s.size)
    ranks[order] = np.repeat(mid, ends - starts)
    return ranks


def estimate_performance(
    calibrated_score: npt.ArrayLike,
    y_pred: npt.ArrayLike | None = None,
    raw_score: npt.ArrayLike | None = None,
    threshold: float = 0.5,
    band: float = SAMPLING_ERROR_RANGE,
    n_simulations: int = AUC_SIMULATIONS,
    seed: int = 0,
) -> CBPEEstimate:
    """CBPE for one window. `y_pred` defaults to raw score (or calibrated score) >= threshold; ROC AUC
    ranks rows by the raw score when given (calibration can create ties but never reorders)."""
    p = np.asarray(calibrated_score, dtype=np.float64)
    s = p if raw_score is None else np.asarray(raw_score, dtype=np.float64)
    pred = (s >= threshold) if y_pred is None else np.asarray(y_pred).astype(bool)
    if not (p.size == s.size == pred.size):
        raise ValueError("scores and predictions must have the same length")
    n = p.size
    q = p * (1.0 - p)
    tp, fp = float(p[pred].sum()), float((1.0 - p[pred]).sum())
    fn, tn = float(p[~pred].sum()), float((1.0 - p[~pred]).sum())
    var_tp, var_fn = float(q[pred].sum()), float(q[~pred].sum())
    n_pp = tp + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = (tp + tn) / n if n else np.nan
        acc_se = np.sqrt(var_tp + var_fn) / n if n else np.nan
        prec = tp / n_pp if n_pp else np.nan
        prec_se = np.sqrt(var_tp) / n_pp if n_pp else np.nan
        pos = tp + fn
        rec = tp / pos if pos else np.nan
        # Delta method: recall = TP / (TP + FN), TP and FN independent sums of Bernoullis.
        rec_se = np.sqrt(fn**2 * var_tp + tp**2 * var_fn) / pos**2 if pos else np.nan
        d = n_pp + tp + fn
        f1 = 2 * tp / d if d else np.nan
        # F1 = 2 TP / (n_pp + TP + FN) with n_pp fixed by the predictions.
        f1_se = np.sqrt(4 * (n_pp + fn) ** 2 * var_tp + 4 * tp**2 * var_fn) / d**2 if d else np.nan
    auc = expected_roc_auc(p, s)
    auc_se = _auc_sampling_error(p, s, n_simulations, seed) if np.isfinite(auc) else float("nan")
    return CBPEEstimate(
        n=n,
        expected_tp=tp,
        expected_fp=fp,
        expected_tn=tn,
        expected_fn=fn,
        accuracy=_band("accuracy", acc, acc_se, band),
        precision=_band("precision", prec, prec_se, band),
        recall=_band("recall", rec, rec_se, band),
        f1=_band("f1", f1, f1_se, band),
        roc_auc=_band("roc_auc", auc, auc_se, band),
    )


def estimate_by_window(
    windows: npt.ArrayLike | Sequence[object],
    calibrated_score: npt.ArrayLike,
    y_pred: npt.ArrayLike | None = None,
    raw_score: npt.ArrayLike | None = None,
    threshold: float = 0.5,
    band: float = SAMPLING_ERROR_RANGE,
    n_simulations: int = AUC_SIMULATIONS,
    seed: int = 0,
) -> tuple[WindowEstimate, ...]:
    """CBPE per window label (e.g. the day of each prediction), windows in sorted order."""
    p = np.asarray(calibrated_score, dtype=np.float64)
    s = p if raw_score is None else np.asarray(raw_score, dtype=np.float64)
    pred = (s >= threshold) if y_pred is None else np.asarray(y_pred).astype(bool)
    codes, labels, _ = cohort_codes(np.asarray(windows))
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(labels)))])
    out = []
    for c in range(len(labels)):
        rows = order[bounds[c] : bounds[c + 1]]
        est = estimate_performance(p[rows], pred[rows], s[rows], threshold, band, n_simulations, seed + c)
        out.append(WindowEstimate(labels[c][0], est))
    out.sort(key=lambda w: (w.window is None, w.window))
    return tuple(out)
