"""Histogram cells as weighted rows (score_histogram.labelled_cells with performance.Weighted): the
per-cohort table equals the row-level one where exact (counts, proportions and their Wilson intervals,
gaps, F1), is within the stated bound for ROC AUC, log loss and Brier, and the multinomial bootstrap over
cells gives the row bootstrap's intervals up to Monte Carlo error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.stats import cohort_metrics
from services.stats import performance as perf
from services.stats import score_histogram as sh
from tests.stats.test_score_histogram import _histograms, _rows

N = 20_000


@pytest.fixture(scope="module")
def data():
    score, pred, label = _rows(N, seed=5, labelled=1.0)
    rng = np.random.default_rng(9)
    cohort = rng.choice(["web", "ios", "android"], N, p=[0.5, 0.3, 0.2])
    worse = cohort == "android"
    logit = np.log(score / (1 - score))
    score = np.where(worse, 1 / (1 + np.exp(-(logit + rng.normal(0, 0.8, N)))), score)  # noisier scores there
    pred = np.where(worse, (score >= 0.5).astype(np.int64), pred)
    return score, pred, label, cohort


def _cells(score, pred, label, cohort, values):
    counts, sums = zip(*[_histograms(score[cohort == v], pred[cohort == v], label[cohort == v]) for v in values],
                       strict=True)  # fmt: skip
    return sh.labelled_cells(np.stack(counts), np.stack(sums))


def test_a_cohort_table_from_cells_equals_the_rows_where_exact_and_within_the_bound_elsewhere(data):
    score, pred, label, cohort = data
    values = ["web", "ios", "android"]
    cells = _cells(score, pred, label, cohort, values)
    labels = np.asarray(values, dtype=object)[cells.group]
    rows = cohort_metrics.cohort_table(label, score, pd.Series(cohort, name="platform"), y_pred=pred,
                                       rank_by="accuracy", min_size=10, n_resamples=100, seed=1)  # fmt: skip
    from_cells = cohort_metrics.cohort_table(
        cells.y, cells.score, pd.Series(labels, name="platform"), y_pred=cells.pred, rank_by="accuracy", min_size=10,
        n_resamples=100, seed=1, weighted=cells.weighted,
    )  # fmt: skip
    assert [r.cohort for r in rows.rows] == [r.cohort for r in from_cells.rows]
    assert [r.flagged for r in rows.rows] == [r.flagged for r in from_cells.rows]
    for a, b in zip(rows.rows, from_cells.rows, strict=True):
        assert a.n == b.n
        assert (a.gap, a.gap_ci_low, a.gap_ci_high) == pytest.approx((b.gap, b.gap_ci_low, b.gap_ci_high), abs=1e-12)
        sel = np.flatnonzero(labels == a.cohort[0])
        for m in perf.METRICS:
            x, y = a.metrics[m], b.metrics[m]
            if m in perf.PROPORTION_METRICS or m == "f1":
                assert x.value == pytest.approx(y.value, abs=1e-12), m
            else:
                bound = cells.bound(m, sel) if m != "roc_auc" else _auc_bound(cells, sel)
                assert abs(x.value - y.value) <= bound + 1e-12, m
                assert bound < 2e-3, m
            if m in perf.PROPORTION_METRICS:
                assert (x.ci_low, x.ci_high) == pytest.approx((y.ci_low, y.ci_high), abs=1e-12), m
            else:  # bootstrap: two different draws of the same distribution
                width = x.ci_high - x.ci_low
                assert abs(x.ci_low - y.ci_low) < 0.35 * width and abs(x.ci_high - y.ci_high) < 0.35 * width, m


def _auc_bound(cells: sh.CellRows, sel: np.ndarray) -> float:
    w, y, b = cells.weighted.weight[sel], cells.y[sel], sh.bin_index(cells.score[sel])
    pos = np.bincount(b[y == 1], weights=w[y == 1], minlength=sh.N_BINS)
    neg = np.bincount(b[y == 0], weights=w[y == 0], minlength=sh.N_BINS)
    return sh.auc_from_histograms(pos, neg).bound


def test_the_bounds_of_log_loss_and_brier_hold_on_bunched_and_extreme_scores():
    rng = np.random.default_rng(2)
    score = np.concatenate([rng.random(3000) * 0.001, 1 - rng.random(3000) * 0.001, rng.random(3000)])
    y = (rng.random(score.size) < 0.5).astype(float)
    pred = (score >= 0.5).astype(np.int64)
    counts, sums = _histograms(score, pred, y)
    cells = sh.labelled_cells(counts[None], sums[None])
    got = perf.classification_metrics(cells.y, cells.score, cells.pred, n_resamples=0, weighted=cells.weighted)
    want = perf.classification_metrics(y, score, pred, n_resamples=0)
    for m in ("log_loss", "brier"):
        assert abs(got[m].value - want[m].value) <= cells.bound(m)
    assert cells.bound("brier") < 1e-6
