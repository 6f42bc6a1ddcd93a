"""Metrics of a binary classifier from score histograms instead of rows: the summary path at scale
(docs/scale.md). A histogram is N_BINS bins on [0, 1] (width 0.001), closed on the right (the bins of
services/stats/calibration.py), holding per bin and per cell (label state x predicted label) a count
and the sum of the scores. Counts are integers, so sums over days and cohorts are exact and merging
is addition.

What is exact and what is bounded (each result carries its bound; tests/stats/test_score_histogram.py
checks every one against the row-level function on the same rows):
- accuracy, precision, recall, F1, counts: exact (they read the confusion counts only).
- ROC AUC: pairs of a positive and a negative in the same bin count as ties (1/2); the exact value
  counts them 1, 0 or 1/2, so |histogram AUC - exact AUC| <= (1/2) sum_b pos_b neg_b / (P N), a bound
  computed from the histogram itself and reported beside the value. With 1,000 bins on the demo's
  scores it is about 4e-4 (the actual error about 5e-6); it only grows when scores bunch in a bin.
- reliability diagram and ECE: exact for any bin count dividing 1,000 (2, 4, 5, 8, 10, 20, 25, 40,
  50): those coarse edges are fine edges, bit for bit.
- CBPE (services/stats/cbpe.py's estimate, NannyML's method): with the identity calibrator (scores
  used as they are) the expected confusion counts are sums of scores: exact. With an isotonic
  calibrator f (piecewise linear), a bin's rows get f(bin mean): exact on every bin where f is linear;
  on a bin holding a breakpoint the error is at most count x (f(upper) - f(lower)) (f is monotone), and
  these add up to the bound reported. The estimated ROC AUC takes a bin as one step of the expected ROC
  curve: within (1/2) sum_b E[pos_b] E[neg_b] / (E[P] E[N]), the same argument as for the realized AUC
  (identity calibrator; with an isotonic one that bound is not computed yet and reads NaN).
  Sampling errors use the bin's f(mean) for each of its rows: approximate (measured within 1% of the
  row-level band), as is the AUC band's Monte Carlo (binomial draws per bin instead of per row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.stats import cbpe
from services.stats import performance as perf
from services.stats.calibration import CONFIDENCE, ReliabilityDiagram, _diagram

RELIABILITY_BIN_COUNTS = (2, 4, 5, 8, 10, 20, 25, 40, 50)  # the bin counts that divide 1000
UNLABELLED, NEGATIVE, POSITIVE = 0, 1, 2  # label states (axis 0 of a histogram)


def _fine_edges() -> np.ndarray:
    """1,000 equal bins on [0, 1] plus every coarse uniform edge of RELIABILITY_BIN_COUNTS bit for bit:
    np.linspace of different lengths disagrees in the last bit at 0.3 and 0.6 (0.30000000000000004 for 10
    bins, 0.3 for 50), so both values are edges and coarse bins of every listed count nest exactly."""
    parts = [np.linspace(0.0, 1.0, 1001)] + [np.linspace(0.0, 1.0, n + 1) for n in RELIABILITY_BIN_COUNTS]
    return np.unique(np.concatenate(parts))


EDGES = _fine_edges()
N_BINS = EDGES.size - 1  # 1,002: 1,000 bins of width 0.001 and two of width 1 ulp


def bin_index(score: npt.ArrayLike) -> np.ndarray:
    """Fine bin of each score, closed on the right like the calibration bins; out of [0, 1]: the end bins."""
    return np.searchsorted(EDGES[1:-1], np.asarray(score, dtype=np.float64)).astype(np.int64)


@dataclass(frozen=True)
class Bounded:
    """A value from summaries and how far the row-level value can be from it (0.0: exact)."""

    value: float
    bound: float

    @property
    def exact(self) -> bool:
        return self.bound == 0.0


@dataclass(frozen=True)
class HistogramMetrics:
    n: int  # labelled rows
    tp: int
    fp: int
    tn: int
    fn: int
    accuracy: Bounded
    precision: Bounded
    recall: Bounded
    f1: Bounded
    roc_auc: Bounded
    method: str = "from score histograms"

    def metric(self, name: str) -> Bounded:
        return getattr(self, name)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def auc_from_histograms(pos: npt.ArrayLike, neg: npt.ArrayLike) -> Bounded:
    """ROC AUC from per-bin counts (or expected counts) of positives and negatives; ties within a bin
    count 1/2. Bound: (1/2) sum_b pos_b neg_b / (P N), the most those ties can move the exact value."""
    p, q = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    total_p, total_n = p.sum(), q.sum()
    if total_p <= 0 or total_n <= 0:
        return Bounded(float("nan"), float("nan"))
    below = np.cumsum(q) - q  # negatives in lower bins
    ties = float(np.dot(p, q))
    value = (float(np.dot(p, below)) + 0.5 * ties) / (total_p * total_n)
    return Bounded(value, 0.5 * ties / (total_p * total_n))


def classification_metrics(counts: np.ndarray) -> HistogramMetrics:
    """Realized metrics from a (3 label states, 2 predicted labels, N_BINS) count histogram."""
    c = np.asarray(counts, dtype=np.int64)
    tp, fn = int(c[POSITIVE, 1].sum()), int(c[POSITIVE, 0].sum())
    fp, tn = int(c[NEGATIVE, 1].sum()), int(c[NEGATIVE, 0].sum())
    n = tp + fp + tn + fn
    prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    auc = auc_from_histograms(c[POSITIVE].sum(axis=0), c[NEGATIVE].sum(axis=0))
    return HistogramMetrics(n, tp, fp, tn, fn, Bounded(_ratio(tp + tn, n), 0.0), Bounded(prec, 0.0),
                            Bounded(rec, 0.0), Bounded(f1, 0.0), auc)  # fmt: skip


def reliability_from_histograms(counts: np.ndarray, sums: np.ndarray, n_bins: int = 10) -> ReliabilityDiagram:
    """services.stats.calibration.reliability_diagram (uniform bins) of the labelled rows, exactly, from
    the fine histogram; n_bins must divide N_BINS."""
    if n_bins not in RELIABILITY_BIN_COUNTS:
        raise ValueError(f"n_bins must be one of {RELIABILITY_BIN_COUNTS}")
    c, s = np.asarray(counts), np.asarray(sums)
    coarse = np.linspace(0.0, 1.0, n_bins + 1)
    # fine bin (lo, hi] lies in the coarse bin that holds hi (right-closed, as calibration's searchsorted)
    to_coarse = np.searchsorted(coarse[1:-1], EDGES[1:])

    def per_coarse(x: np.ndarray) -> np.ndarray:
        return np.bincount(to_coarse, weights=x.astype(np.float64), minlength=n_bins)

    lab_counts = per_coarse((c[NEGATIVE] + c[POSITIVE]).sum(axis=0))
    lab_sums = per_coarse((s[NEGATIVE] + s[POSITIVE]).sum(axis=0))
    return _diagram(coarse, lab_counts, lab_sums, per_coarse(c[POSITIVE].sum(axis=0)), "uniform", CONFIDENCE)


@dataclass(frozen=True)
class HistogramCBPE:
    estimate: cbpe.CBPEEstimate  # the same result type as the row-level CBPE
    bounds: dict[str, float]  # metric -> most the row-level estimate (same calibrator) can differ
    method: str = "CBPE from score histograms"


def _bin_probabilities(calibrator: cbpe.ScoreCalibrator, count: np.ndarray, total: np.ndarray):
    """Per bin: f(mean score), and the most sum_rows f(s) can differ from count x f(mean)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), 0.5 * (EDGES[:-1] + EDGES[1:]))
    p = calibrator.calibrate(mean)
    if calibrator.method == "none":
        return p, np.zeros_like(p)
    x = np.asarray(calibrator.x)
    lo, hi = EDGES[:-1], EDGES[1:]
    # f is linear on a bin unless a breakpoint lies strictly inside it
    kinks = np.searchsorted(x, hi, side="left") - np.searchsorted(x, lo, side="right") > 0
    spread = np.where(kinks, calibrator.calibrate(hi) - calibrator.calibrate(lo), 0.0)
    return p, spread * count


def cbpe_from_histograms(
    counts: np.ndarray, sums: np.ndarray, calibrator: cbpe.ScoreCalibrator,
    band: float = cbpe.SAMPLING_ERROR_RANGE, n_simulations: int = cbpe.AUC_SIMULATIONS, seed: int = 0,
) -> HistogramCBPE:  # fmt: skip
    """CBPE over every row of the histogram (labelled or not), as cbpe.estimate_performance would give
    on the rows with the same calibrator, ranking by raw score, predictions as recorded."""
    c = np.asarray(counts, dtype=np.float64).sum(axis=0)  # (2 predicted, bins): label state is unknown here
    s = np.asarray(sums, dtype=np.float64).sum(axis=0)
    p0, err0 = _bin_probabilities(calibrator, c[0], s[0])
    p1, err1 = _bin_probabilities(calibrator, c[1], s[1])
    n = float(c.sum())
    tp, fp = float(np.dot(c[1], p1)), float(np.dot(c[1], 1 - p1))
    fn, tn = float(np.dot(c[0], p0)), float(np.dot(c[0], 1 - p0))
    b1, b0 = float(err1.sum()), float(err0.sum())
    var_tp, var_fn = float(np.dot(c[1], p1 * (1 - p1))), float(np.dot(c[0], p0 * (1 - p0)))
    n_pp = tp + fp
    acc = _ratio(tp + tn, n)
    prec = _ratio(tp, n_pp)
    rec = _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, n_pp + tp + fn)
    acc_se = np.sqrt(var_tp + var_fn) / n if n else np.nan
    prec_se = np.sqrt(var_tp) / n_pp if n_pp else np.nan
    pos = tp + fn
    rec_se = np.sqrt(fn**2 * var_tp + tp**2 * var_fn) / pos**2 if pos else np.nan
    d = n_pp + tp + fn
    f1_se = np.sqrt(4 * (n_pp + fn) ** 2 * var_tp + 4 * tp**2 * var_fn) / d**2 if d else np.nan
    exp_pos = c[0] * p0 + c[1] * p1  # expected positives per bin
    exp_neg = c.sum(axis=0) - exp_pos
    # ROC: bins by raw score descending is the same as ascending cumulative "below" counts.
    auc = auc_from_histograms(exp_pos, exp_neg)
    auc_se = _auc_sampling_error(c, p0, p1, n_simulations, seed) if np.isfinite(auc.value) else float("nan")
    estimate = cbpe.CBPEEstimate(
        int(n), tp, fp, tn, fn, cbpe._band("accuracy", acc, acc_se, band), cbpe._band("precision", prec, prec_se, band),
        cbpe._band("recall", rec, rec_se, band), cbpe._band("f1", f1, f1_se, band),
        cbpe._band("roc_auc", auc.value, auc_se, band),
    )  # fmt: skip
    bounds = {
        "accuracy": (b1 + b0) / n if n else float("nan"),
        "precision": b1 / n_pp if n_pp else float("nan"),
        "recall": _corner_bound(lambda t, f: _ratio(t, t + f), tp, fn, b1, b0),
        "f1": _corner_bound(lambda t, f: _ratio(2 * t, n_pp + t + f), tp, fn, b1, b0),
        "roc_auc": auc.bound if not (b1 or b0) else float("nan"),
    }
    return HistogramCBPE(estimate, bounds)


def _corner_bound(fn, tp: float, fn_: float, b1: float, b0: float) -> float:
    """How far a ratio increasing in TP and decreasing in FN can move with |dTP| <= b1, |dFN| <= b0."""
    if not (b1 or b0):
        return 0.0
    v = fn(tp, fn_)
    return float(max(abs(fn(tp + b1, max(fn_ - b0, 0.0)) - v), abs(fn(max(tp - b1, 0.0), fn_ + b0) - v)))


def _auc_sampling_error(c: np.ndarray, p0: np.ndarray, p1: np.ndarray, n_simulations: int, seed: int) -> float:
    """Std of the realized (histogram) AUC over label draws: positives per bin ~ Binomial(count, f(mean))."""
    if n_simulations <= 1:
        return float("nan")
    rng = np.random.default_rng(seed)
    k0, k1 = c[0].astype(np.int64), c[1].astype(np.int64)
    pos = np.zeros((n_simulations, k0.size), dtype=np.int64)
    for k, p in ((k0, p0), (k1, p1)):  # draws for the non-empty bins only (about half of them per label)
        nz = np.flatnonzero(k)
        pos[:, nz] += rng.binomial(k[nz], np.clip(p[nz], 0.0, 1.0), size=(n_simulations, nz.size))
    neg = (k0 + k1) - pos
    total_p, total_n = pos.sum(axis=1).astype(np.float64), neg.sum(axis=1).astype(np.float64)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((pos * below).sum(axis=1) + 0.5 * (pos * neg).sum(axis=1)) / (total_p * total_n)
    return float(np.nanstd(auc, ddof=1))


# --- histogram cells as weighted rows (per-cohort tables and bootstrap intervals from summaries) ------


@dataclass(frozen=True)
class CellRows:
    """The labelled cells of G histograms as weighted rows for services.stats.performance and cohort_metrics
    (`weighted`): one row per non-empty (group, label, predicted label, bin) with its count as weight.

    `score` is the bin's midpoint, so a positive and a negative of the same bin tie (the histogram AUC,
    within its bound); log loss and squared error per row come from the cell's mean score. Bounds per row
    (multiply by the weight, add up, divide by the rows): log loss, each row's -log(clip(s)) lies between
    the values at the bin's edges (monotone), and inside a bin where it is convex (every bin but the two
    end ones) between f(mean) and the chord at the mean; Brier, sum s^2 >= count x mean^2 and exceeds it
    by at most count x width^2 / 4 (no bound when scores fall outside [0, 1])."""

    group: np.ndarray
    y: np.ndarray
    pred: np.ndarray
    score: np.ndarray
    weighted: perf.Weighted
    log_loss_bound: np.ndarray  # per row (one unit of weight)
    brier_bound: np.ndarray

    def bound(self, metric: str, rows: np.ndarray | None = None) -> float:
        """How far the row-level value of `metric` over the selected cells can be from the cells' value."""
        w = self.weighted.weight if rows is None else self.weighted.weight[rows]
        total = float(w.sum())
        if not total:
            return 0.0  # no rows: nothing to be off
        if metric in ("log_loss", "brier"):
            b = self.log_loss_bound if metric == "log_loss" else self.brier_bound
            return float(np.dot(w, b if rows is None else b[rows]) / total)
        return 0.0 if metric in ("accuracy", "precision", "recall", "f1", "positive_rate") else float("nan")


def _neg_log(x: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(x, perf._EPS, 1 - perf._EPS))


def labelled_cells(counts: np.ndarray, sums: np.ndarray) -> CellRows:
    """Weighted rows of the labelled cells of `counts` / `sums` (G, 3 label states, 2 predicted, N_BINS)."""
    c = np.asarray(counts, dtype=np.int64)[:, NEGATIVE:]  # (G, 2 labels, 2 predicted, bins)
    s = np.asarray(sums, dtype=np.float64)[:, NEGATIVE:]
    g, lab, pred, b = np.nonzero(c)
    w = c[g, lab, pred, b].astype(np.float64)
    mean = s[g, lab, pred, b] / w
    y = lab.astype(np.float64)
    lo, hi = EDGES[b], EDGES[b + 1]
    # per-row loss as a function of the score: -log(s) for positives, -log(1 - s) for negatives
    f_mean = np.where(y == 1, _neg_log(mean), _neg_log(1 - mean))
    f_lo = np.where(y == 1, _neg_log(lo), _neg_log(1 - lo))
    f_hi = np.where(y == 1, _neg_log(hi), _neg_log(1 - hi))
    width = hi - lo
    t = np.clip((mean - lo) / np.where(width > 0, width, 1.0), 0.0, 1.0)
    chord = f_lo + t * (f_hi - f_lo)
    end = (b == 0) | (b == N_BINS - 1)
    ll_bound = np.where(end, np.abs(f_lo - f_hi), np.maximum(chord - f_mean, 0.0))
    sq = (mean - y) ** 2
    brier_bound = np.where((mean < 0) | (mean > 1), np.nan, width**2 / 4)
    weighted = perf.Weighted(w, f_mean, sq)
    return CellRows(g, y, pred.astype(np.float64), 0.5 * (lo + hi), weighted, ll_bound, brier_bound)
