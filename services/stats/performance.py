"""Binary classification metrics with 95% confidence intervals, overall and per cohort.

Metrics: accuracy, precision, recall, F1, ROC AUC, log loss, Brier score, positive rate (share of
predicted positives). Intervals: Wilson for the proportions (statsmodels `proportion_confint`), a
seeded percentile bootstrap for F1, ROC AUC, log loss and Brier score.

Everything is computed for all cohorts at once from per-cohort sums (`np.bincount` over cohort
codes), never one sklearn call per group: the results equal sklearn's per group (tested to 1e-9).
ROC AUC is the Mann-Whitney rank formula (pairs where the positive scores higher, ties counted
half), which is the area under sklearn's ROC curve. Rows are sorted by (cohort, score) once; each
bootstrap replicate only reweights them, so a replicate costs O(n), not a sort.

The bootstrap resamples within each cohort (stratified), so each cohort keeps its size and the
rest of the rows are resampled the same way; a cohort's gap to the rest then has a bootstrap
distribution too, and a cohort table's overall row reads its interval off the same replicates.
Undefined metrics (no positives for recall or AUC, no predicted positives for precision) are NaN
rather than sklearn's 0-with-a-warning.

Ranking: each cohort's metric is compared with the same metric on all other rows. `gap` is signed so
that negative means worse than the rest (cohort - rest for higher-is-better metrics, rest - cohort
for log loss and Brier score). Proportions get a two-proportion z-test (statsmodels
`proportions_ztest`) and Newcombe's interval for the difference; the other metrics a bootstrap
interval. Cohorts below `min_size` rows are listed, flagged `too_small`, and not ranked.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from statsmodels.stats.proportion import proportion_confint

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier", "positive_rate")
PROPORTION_METRICS = frozenset({"accuracy", "precision", "recall", "positive_rate"})
BOOTSTRAP_METRICS = frozenset({"f1", "roc_auc", "log_loss", "brier"})
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})
# Each endpoint of a 95% percentile interval then has a Monte Carlo error of ~5% of the interval's
# width (2% at 1000). A replicate costs ~1-2 ms per 20k rows, ~85 ms per 1M: pass more for a report.
DEFAULT_RESAMPLES = 200
DEFAULT_MIN_COHORT_SIZE = 100
CONFIDENCE = 0.95
_EPS = np.finfo(np.float64).eps  # sklearn's log_loss clips probabilities to [eps, 1 - eps]


@dataclass(frozen=True)
class MetricCI:
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int  # rows the metric is computed on (the denominator for a proportion)
    method: str  # "wilson" or "bootstrap percentile, B resamples"
    confidence: float = CONFIDENCE


@dataclass(frozen=True)
class MetricSet:
    n: int
    metrics: tuple[MetricCI, ...]

    def __getitem__(self, metric: str) -> MetricCI:
        for m in self.metrics:
            if m.metric == metric:
                return m
        raise KeyError(metric)

    def as_dict(self) -> dict[str, MetricCI]:
        return {m.metric: m for m in self.metrics}


# ---------------------------------------------------------------------------------------------
# The engine: per-cohort sums for any row weights


@dataclass(frozen=True)
class Weighted:
    """Rows standing for `weight` alike rows each (score_histogram.labelled_cells), with their own per-row
    log loss and squared error. The bootstrap draws each cohort as a multinomial of its count over its
    cells: the row bootstrap's distribution when the rows of a cell are alike."""

    weight: np.ndarray
    log_loss: np.ndarray
    sq_error: np.ndarray


class _Prepared:
    """Rows sorted once by (cohort, score); `sums(w)` then costs a few passes per weight vector.

    In that order each cohort is a contiguous block (per-cohort sums are `np.add.reduceat`) and the
    bootstrap draws rows within each block directly, so a replicate needs no sort. The AUC of the rows
    outside each cohort also needs the global score order (one gather per replicate).
    """

    def __init__(self, y: np.ndarray, score: np.ndarray, pred: np.ndarray, codes: np.ndarray, k: int, rest: bool,
                 weighted: Weighted | None = None):  # fmt: skip
        self.n, self.k = y.size, k
        order = np.lexsort((score, codes))
        self.y, self.pred = y[order], pred[order]
        s, c = score[order], codes[order]
        self.tp = self.y * self.pred
        self.base = None if weighted is None else weighted.weight[order].astype(np.float64)
        p, q = np.clip(s, _EPS, 1 - _EPS), np.clip(1.0 - s, _EPS, 1 - _EPS)
        self.ll = -np.where(self.y == 1, np.log(p), np.log(q)) if weighted is None else weighted.log_loss[order]
        self.sq = (s - self.y) ** 2 if weighted is None else weighted.sq_error[order]
        self.sizes = np.bincount(codes, minlength=k)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.intp)
        self.slot_code = c
        # Tie groups of the score within each cohort (a new group at every score or cohort change).
        new = np.empty(self.n, dtype=bool)
        if self.n:
            new[0] = True
            new[1:] = (s[1:] != s[:-1]) | (c[1:] != c[:-1])
        self.gstarts = np.flatnonzero(new)
        self.group_code = c[self.gstarts]
        self.cohort_gstart = np.searchsorted(self.gstarts, self.starts)
        self.untied = self.gstarts.size == self.n
        self.rest = rest
        if rest:
            # Global tie groups, for the AUC of all rows outside each cohort.
            self.gorder = np.argsort(s, kind="stable")
            gs = s[self.gorder]
            gnew = np.empty(self.n, dtype=bool)
            gnew[0] = True
            gnew[1:] = gs[1:] != gs[:-1]
            self.ggstarts = np.flatnonzero(gnew)
            self.globally_untied = self.ggstarts.size == self.n
            self.gg_sorted = np.cumsum(gnew) - 1  # global tie group of each row, in global order
            self.codes_g = c[self.gorder]

    def block(self, x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x, self.starts).astype(np.float64)

    def sums(self, w: np.ndarray | None) -> dict[str, np.ndarray]:
        y = self.y
        wy = y if w is None else w * y
        wneg = (1.0 - y) if w is None else w - wy
        out = {
            "n": self.sizes.astype(np.float64) if w is None else self.block(w),
            "pos": self.block(wy),
            "tp": self.block(self.tp if w is None else w * self.tp),
            "pp": self.block(self.pred if w is None else w * self.pred),
            "ll": self.block(self.ll if w is None else w * self.ll),
            "sq": self.block(self.sq if w is None else w * self.sq),
        }
        # Mann-Whitney pair sum within each cohort: positives x (negatives below + half the ties).
        # Distinct scores (no ties) make every row its own group: skip the grouping pass.
        pg = wy if self.untied else np.add.reduceat(wy, self.gstarts)
        ng = wneg if self.untied else np.add.reduceat(wneg, self.gstarts)
        neg_before = np.cumsum(ng) - ng
        below = neg_before - neg_before[self.cohort_gstart][self.group_code]
        out["pairs"] = np.add.reduceat(pg * (below + 0.5 * ng), self.cohort_gstart)
        if self.rest:
            # In global score order: rows stay in place there, so per-cohort sums are bincounts.
            pgg, ngg = wy[self.gorder], wneg[self.gorder]
            pos_g, neg_g = pgg, ngg
            if not self.globally_untied:
                pgg, ngg = np.add.reduceat(pgg, self.ggstarts), np.add.reduceat(ngg, self.ggstarts)
            neg_below = np.cumsum(ngg) - 0.5 * ngg  # negatives strictly below + half the ties
            cum_p = np.cumsum(pgg)
            pos_above = cum_p[-1] - cum_p + 0.5 * pgg
            if not self.globally_untied:
                neg_below, pos_above = neg_below[self.gg_sorted], pos_above[self.gg_sorted]
            total_pairs = float(np.dot(pos_g, neg_below))
            k = self.k
            a = np.bincount(self.codes_g, pos_g * neg_below, minlength=k)  # pairs whose positive is in the cohort
            b = np.bincount(self.codes_g, neg_g * pos_above, minlength=k)  # pairs whose negative is in the cohort
            out["rest_pairs"] = total_pairs - a - b + out["pairs"]
            out["total_pairs"] = np.array([total_pairs])
        return out


def metric_point_values(s: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    n, pos, tp, pp = s["n"], s["pos"], s["tp"], s["pp"]
    fp, fn = pp - tp, pos - tp
    tn = n - tp - fp - fn
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": (tp + tn) / n,
            "precision": tp / pp,
            "recall": tp / pos,
            "f1": 2 * tp / (2 * tp + fp + fn),
            "roc_auc": s["pairs"] / (pos * (n - pos)),
            "log_loss": s["ll"] / n,
            "brier": s["sq"] / n,
            "positive_rate": pp / n,
        }


def rest_sums_of(s: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Sums over all rows outside each cohort (totals minus the cohort; AUC pairs computed apart)."""
    rest = {key: s[key].sum() - s[key] for key in ("n", "pos", "tp", "pp", "ll", "sq")}
    rest["pairs"] = s["rest_pairs"] if "rest_pairs" in s else np.full_like(s["n"], np.nan)
    return rest


def proportion_parts(metric: str, s: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(successes, trials) of a proportion metric."""
    n, pos, tp, pp = s["n"], s["pos"], s["tp"], s["pp"]
    if metric == "accuracy":
        tn = n - pp - pos + tp
        return tp + tn, n
    if metric == "precision":
        return tp, pp
    if metric == "recall":
        return tp, pos
    if metric == "positive_rate":
        return pp, n
    raise ValueError(metric)


def _wilson(count: np.ndarray, nobs: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    lo = np.full(count.shape, np.nan)
    hi = np.full(count.shape, np.nan)
    ok = nobs > 0
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(count[ok], nobs[ok], alpha=1 - confidence, method="wilson")
    return lo, hi


def _multinomial_weights(rng: np.random.Generator, prep: _Prepared, n_resamples: int):
    """Replicate weights of weighted rows, a chunk of replicates at a time (bounded memory): per cohort, a
    multinomial of its total count over its cells."""
    assert prep.base is not None
    chunk = max(1, min(n_resamples, 2_000_000 // max(prep.n, 1)))
    for first in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - first)
        out = np.zeros((size, prep.n))
        for start, m in zip(prep.starts, prep.sizes, strict=True):
            w = prep.base[start : start + m]
            total = int(round(w.sum()))
            if total > 0:
                out[:, start : start + m] = rng.multinomial(total, w / w.sum(), size=size)
        yield from out


def _stratified_weights(rng: np.random.Generator, slot_start: np.ndarray, slot_size: np.ndarray) -> np.ndarray:
    """Resample rows with replacement within each cohort block; returns how often each row was drawn."""
    n = slot_start.size
    drawn = slot_start + (rng.random(n) * slot_size).astype(np.intp)
    return np.bincount(drawn, minlength=n).astype(np.float64)


def _as_binary(y: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.dtype == bool:
        return arr.astype(np.float64)
    arr = arr.astype(np.float64)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(f"{name} must be 0/1 (binary classification)")
    return arr


def prepare_inputs(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike | None, y_pred: npt.ArrayLike | None, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = _as_binary(y_true, "y_true")
    score = np.full(y.size, np.nan) if y_score is None else np.asarray(y_score, dtype=np.float64)
    if y_pred is None:
        if y_score is None:
            raise ValueError("give y_pred or y_score")
        pred = (score >= threshold).astype(np.float64)
    else:
        pred = _as_binary(y_pred, "y_pred")
    if not (y.size == score.size == pred.size):
        raise ValueError("y_true, y_score and y_pred must have the same length")
    return y, score, pred


@dataclass
class _Computed:
    values: dict[str, np.ndarray]  # per cohort
    cis: dict[str, tuple[np.ndarray, np.ndarray]]
    sums: dict[str, np.ndarray]
    gap_reps: np.ndarray | None = None  # bootstrap replicates of each cohort's gap to the rest
    overall: tuple[dict, dict, dict] | None = None  # (values, cis, sums) over all rows, same replicates


def _overall_sums(s: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {key: np.array([s[key].sum()]) for key in ("n", "pos", "tp", "pp", "ll", "sq")}
    out["pairs"] = s["total_pairs"]
    return out


def _intervals(metrics, sums, reps, confidence) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    cis = {m: _wilson(*proportion_parts(m, sums), confidence) for m in metrics if m in PROPORTION_METRICS}
    tail = (1 - confidence) / 2 * 100
    k = sums["n"].size
    for m in metrics:
        if m in BOOTSTRAP_METRICS:
            cis[m] = percentile_bounds(reps[m], tail) if m in reps else (np.full(k, np.nan), np.full(k, np.nan))
    return cis


def run_bootstrap(
    y: np.ndarray,
    score: np.ndarray,
    pred: np.ndarray,
    codes: np.ndarray,
    k: int,
    metrics: Sequence[str],
    n_resamples: int,
    seed: int,
    confidence: float,
    rest_metric: str | None = None,
    with_overall: bool = False,
    weighted: Weighted | None = None,
) -> _Computed:
    """Point values and intervals per cohort (and over all rows), from one set of bootstrap replicates.
    weighted: rows standing for many alike rows (see Weighted)."""
    if y.size == 0:  # an empty window: every metric undefined, nothing to resample
        sums = {key: np.zeros(k) for key in ("n", "pos", "tp", "pp", "ll", "sq", "pairs", "rest_pairs")}
        nan = np.full(k, np.nan)
        return _Computed(metric_point_values(sums), {m: (nan, nan) for m in metrics}, sums)
    # The global score order serves both the AUC of the rest and the AUC over all rows.
    prep = _Prepared(y, score, pred, codes, k, rest=rest_metric == "roc_auc" or with_overall, weighted=weighted)
    sums = prep.sums(prep.base)
    boot = [m for m in metrics if m in BOOTSTRAP_METRICS]
    need_gap = rest_metric is not None and rest_metric in BOOTSTRAP_METRICS
    reps: dict[str, np.ndarray] = {}
    reps_all: dict[str, np.ndarray] = {}
    gap_reps = None
    if (boot or need_gap) and n_resamples > 0:
        rng = np.random.default_rng(seed)
        slot_start = prep.starts[prep.slot_code]
        slot_size = prep.sizes[prep.slot_code].astype(np.float64)
        reps = {m: np.empty((n_resamples, k)) for m in boot}
        reps_all = {m: np.empty((n_resamples, 1)) for m in boot} if with_overall else {}
        gap_reps = np.empty((n_resamples, k)) if need_gap else None
        draws = (
            _multinomial_weights(rng, prep, n_resamples) if prep.base is not None
            else (_stratified_weights(rng, slot_start, slot_size) for _ in range(n_resamples))
        )  # fmt: skip
        for b, w in enumerate(draws):
            s = prep.sums(w)
            v = metric_point_values(s)
            for m in boot:
                reps[m][b] = v[m]
            if with_overall:
                v_all = metric_point_values(_overall_sums(s))
                for m in boot:
                    reps_all[m][b] = v_all[m]
            if gap_reps is not None:
                gap_reps[b] = gap_of(rest_metric, v[rest_metric], metric_point_values(rest_sums_of(s))[rest_metric])
    computed = _Computed(metric_point_values(sums), _intervals(metrics, sums, reps, confidence), sums, gap_reps)
    if with_overall:
        all_sums = _overall_sums(sums)
        computed.overall = (
            metric_point_values(all_sums),
            _intervals(metrics, all_sums, reps_all, confidence),
            all_sums,
        )
    return computed


def percentile_bounds(reps: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column; replicates where the metric is undefined (NaN) are left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: a cohort without both classes
        lo, hi = np.nanpercentile(reps, [tail, 100 - tail], axis=0)
    return np.asarray(lo), np.asarray(hi)


def gap_of(metric: str, cohort: np.ndarray, rest: np.ndarray) -> np.ndarray:
    return rest - cohort if metric in LOWER_IS_BETTER else cohort - rest


def _denominator(metric: str, sums: Mapping[str, np.ndarray], i: int) -> int:
    if metric in PROPORTION_METRICS:
        return int(round(proportion_parts(metric, sums)[1][i]))
    return int(round(sums["n"][i]))


def build_metric_set(
    values, cis, sums, metrics: Sequence[str], i: int, n_resamples: int, confidence: float
) -> MetricSet:
    out = []
    for m in metrics:
        method = "wilson" if m in PROPORTION_METRICS else f"bootstrap percentile, {n_resamples} resamples"
        out.append(
            MetricCI(
                m,
                float(values[m][i]),
                float(cis[m][0][i]),
                float(cis[m][1][i]),
                _denominator(m, sums, i),
                method,
                confidence,
            )
        )
    return MetricSet(int(round(sums["n"][i])), tuple(out))


# ---------------------------------------------------------------------------------------------
# Public: one metric, all metrics, per cohort


def _single(
    metric: str,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike | None,
    y_pred: npt.ArrayLike | None,
    threshold: float,
    n_resamples: int,
    seed: int,
    confidence: float,
) -> MetricCI:
    y, score, pred = prepare_inputs(y_true, y_score, y_pred, threshold)
    codes = np.zeros(y.size, dtype=np.int64)
    c = run_bootstrap(y, score, pred, codes, 1, [metric], n_resamples, seed, confidence)
    return build_metric_set(c.values, c.cis, c.sums, [metric], 0, n_resamples, confidence).metrics[0]


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, confidence: float = CONFIDENCE) -> MetricCI:
    return _single("accuracy", y_true, None, y_pred, 0.5, 0, 0, confidence)


def precision(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, confidence: float = CONFIDENCE) -> MetricCI:
    return _single("precision", y_true, None, y_pred, 0.5, 0, 0, confidence)


def recall(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, confidence: float = CONFIDENCE) -> MetricCI:
    return _single("recall", y_true, None, y_pred, 0.5, 0, 0, confidence)


def positive_rate(y_pred: npt.ArrayLike, confidence: float = CONFIDENCE) -> MetricCI:
    """Share of predicted positives (no labels needed)."""
    pred = np.asarray(y_pred)
    return _single("positive_rate", np.zeros(pred.size), None, pred, 0.5, 0, 0, confidence)


def f1(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> MetricCI:
    return _single("f1", y_true, None, y_pred, 0.5, n_resamples, seed, confidence)


def roc_auc(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> MetricCI:
    return _single("roc_auc", y_true, y_score, None, 0.5, n_resamples, seed, confidence)


def log_loss(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> MetricCI:
    return _single("log_loss", y_true, y_score, None, 0.5, n_resamples, seed, confidence)


def brier_score(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> MetricCI:
    return _single("brier", y_true, y_score, None, 0.5, n_resamples, seed, confidence)


def classification_metrics(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    y_pred: npt.ArrayLike | None = None,
    threshold: float = 0.5,
    metrics: Sequence[str] = METRICS,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    weighted: Weighted | None = None,
) -> MetricSet:
    """All metrics on one set of rows; `y_pred` defaults to score >= threshold; `weighted`: see Weighted."""
    check_metrics(metrics)
    y, score, pred = prepare_inputs(y_true, y_score, y_pred, threshold)
    codes = np.zeros(y.size, dtype=np.int64)
    c = run_bootstrap(y, score, pred, codes, 1, metrics, n_resamples, seed, confidence, weighted=weighted)
    return build_metric_set(c.values, c.cis, c.sums, metrics, 0, n_resamples, confidence)


def check_metrics(metrics: Sequence[str]) -> None:
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {METRICS}")
