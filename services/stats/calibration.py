"""Calibration of a binary classifier's scores: reliability diagram and expected calibration error.

Bins follow `sklearn.calibration.calibration_curve` exactly (equal-width bins on [0, 1], or bins at
quantiles of the scores; bins are closed on the right, as `np.searchsorted(edges[1:-1], score)`
assigns them; empty bins are dropped), so `prob_true` and `prob_pred` equal sklearn's. Each bin
also carries its count and a Wilson interval on the observed rate, so a sparse bin is visibly
uncertain in the diagram.

ECE = sum over bins of (count / n) * |observed rate - mean predicted score|; MCE is the largest
such gap over non-empty bins. Per cohort, every cohort is binned the same way as alone (quantile
edges from its own scores), counted in one pass with `np.bincount` over (cohort, bin).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from services.stats.cohort_metrics import cohort_codes

Strategy = Literal["uniform", "quantile"]
DEFAULT_BINS = 10
CONFIDENCE = 0.95


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float
    observed_rate: float
    ci_low: float  # Wilson interval on the observed rate
    ci_high: float


@dataclass(frozen=True)
class ReliabilityDiagram:
    strategy: str
    n_bins: int
    n: int
    bins: tuple[ReliabilityBin, ...]  # non-empty bins only, as sklearn returns them
    ece: float
    mce: float
    method: str = "reliability diagram"

    @property
    def prob_true(self) -> np.ndarray:
        return np.array([b.observed_rate for b in self.bins])

    @property
    def prob_pred(self) -> np.ndarray:
        return np.array([b.mean_predicted for b in self.bins])


@dataclass(frozen=True)
class CohortCalibration:
    fields: tuple[str, ...]
    cohorts: tuple[tuple, ...]
    diagrams: tuple[ReliabilityDiagram, ...]

    def __getitem__(self, cohort: tuple) -> ReliabilityDiagram:
        return self.diagrams[self.cohorts.index(cohort)]


def _edges(score: np.ndarray, n_bins: int, strategy: Strategy) -> np.ndarray:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    if strategy == "quantile":
        return np.percentile(score, np.linspace(0, 1, n_bins + 1) * 100)
    raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")


def _inputs(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.float64)
    p = np.asarray(y_score, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError("y_true and y_score must have the same length")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true must be 0/1")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("scores must be probabilities in [0, 1]")
    return y, p


def _diagram(
    edges: np.ndarray, total: np.ndarray, sum_p: np.ndarray, sum_y: np.ndarray, strategy: str, confidence: float
) -> ReliabilityDiagram:
    n = int(total.sum())
    nonzero = total > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = sum_y / total
        predicted = sum_p / total
    lo = np.full(total.shape, np.nan)
    hi = np.full(total.shape, np.nan)
    if nonzero.any():
        lo[nonzero], hi[nonzero] = proportion_confint(
            sum_y[nonzero], total[nonzero], alpha=1 - confidence, method="wilson"
        )
    gaps = np.abs(observed - predicted)[nonzero]
    bins = tuple(
        ReliabilityBin(
            float(edges[i]),
            float(edges[i + 1]),
            int(total[i]),
            float(predicted[i]),
            float(observed[i]),
            float(lo[i]),
            float(hi[i]),
        )
        for i in np.flatnonzero(nonzero)
    )
    ece = float(np.sum(total[nonzero] / n * gaps)) if n else float("nan")
    mce = float(gaps.max()) if gaps.size else float("nan")
    return ReliabilityDiagram(strategy, len(edges) - 1, n, bins, ece, mce)


def reliability_diagram(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    n_bins: int = DEFAULT_BINS,
    strategy: Strategy = "uniform",
    confidence: float = CONFIDENCE,
) -> ReliabilityDiagram:
    """Mean predicted score vs observed positive rate per bin, with counts, ECE and MCE."""
    y, p = _inputs(y_true, y_score)
    if p.size == 0:
        return ReliabilityDiagram(strategy, n_bins, 0, (), float("nan"), float("nan"))
    edges = _edges(p, n_bins, strategy)
    ids = np.searchsorted(edges[1:-1], p)
    total = np.bincount(ids, minlength=n_bins).astype(np.float64)
    sum_p = np.bincount(ids, weights=p, minlength=n_bins)
    sum_y = np.bincount(ids, weights=y, minlength=n_bins)
    return _diagram(edges, total, sum_p, sum_y, strategy, confidence)


def calibration_by_cohort(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    cohorts: npt.ArrayLike | pd.Series | pd.DataFrame | Sequence[npt.ArrayLike],
    n_bins: int = DEFAULT_BINS,
    strategy: Strategy = "uniform",
    confidence: float = CONFIDENCE,
) -> CohortCalibration:
    """A reliability diagram per cohort (one or two cohort fields), each equal to the diagram of that
    cohort's rows alone."""
    y, p = _inputs(y_true, y_score)
    codes, labels, fields = cohort_codes(cohorts)
    k = len(labels)
    if strategy == "uniform":
        uniform = _edges(p, n_bins, "uniform")
        edges_per = [uniform] * k
        ids = np.searchsorted(uniform[1:-1], p)
    else:
        # Quantile edges come from each cohort's own scores: one sort by cohort, one slice each.
        order = np.argsort(codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=k))])
        ids = np.empty(p.size, dtype=np.intp)
        edges_per = []
        for c in range(k):
            rows = order[bounds[c] : bounds[c + 1]]
            e = _edges(p[rows], n_bins, strategy)
            edges_per.append(e)
            ids[rows] = np.searchsorted(e[1:-1], p[rows])
    cell = codes * n_bins + ids
    size = k * n_bins
    total = np.bincount(cell, minlength=size).astype(np.float64).reshape(k, n_bins)
    sum_p = np.bincount(cell, weights=p, minlength=size).reshape(k, n_bins)
    sum_y = np.bincount(cell, weights=y, minlength=size).reshape(k, n_bins)
    diagrams = tuple(_diagram(edges_per[c], total[c], sum_p[c], sum_y[c], strategy, confidence) for c in range(k))
    return CohortCalibration(fields, tuple(labels), diagrams)
