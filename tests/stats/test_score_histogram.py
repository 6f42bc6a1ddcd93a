"""Metrics from score histograms against the row-level functions on the same rows: counts and the
confusion metrics exact, the reliability diagram exact, ROC AUC within its reported bound (and that
bound under 1e-3 on realistic scores), CBPE exact with the identity calibrator and within its
reported bound with an isotonic one."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from services.stats import cbpe
from services.stats import score_histogram as sh
from services.stats.calibration import reliability_diagram


def _rows(n: int, seed: int = 0, labelled: float = 0.8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    score = 1 / (1 + np.exp(-(1.4 * x - 0.6)))
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.1 * x - 0.5)))).astype(float)
    pred = (score >= 0.5).astype(np.int64)
    pred[rng.random(n) < 0.03] ^= 1  # predictions as recorded, not always score >= 0.5
    label = np.where(rng.random(n) < labelled, y, np.nan)
    return score, pred, label


def _histograms(score, pred, label):
    state = np.where(np.isnan(label), sh.UNLABELLED, np.where(label == 1, sh.POSITIVE, sh.NEGATIVE))
    cell = (state * 2 + pred) * sh.N_BINS + sh.bin_index(score)
    size = 3 * 2 * sh.N_BINS
    counts = np.bincount(cell, minlength=size).reshape(3, 2, sh.N_BINS)
    sums = np.bincount(cell, weights=score, minlength=size).reshape(3, 2, sh.N_BINS)
    return counts, sums


def test_confusion_metrics_are_exact_and_auc_is_within_its_bound():
    score, pred, label = _rows(200_000)
    m = sh.classification_metrics(_histograms(score, pred, label)[0])
    lab = ~np.isnan(label)
    y, p, s = label[lab], pred[lab], score[lab]
    assert m.n == lab.sum()
    assert m.accuracy.value == pytest.approx(accuracy_score(y, p), abs=1e-15) and m.accuracy.exact
    assert m.precision.value == pytest.approx(precision_score(y, p), abs=1e-15)
    assert m.recall.value == pytest.approx(recall_score(y, p), abs=1e-15)
    assert m.f1.value == pytest.approx(f1_score(y, p), abs=1e-15)
    exact = roc_auc_score(y, s)
    assert abs(m.roc_auc.value - exact) <= m.roc_auc.bound
    assert m.roc_auc.bound < 1e-3  # fine enough for "ROC AUC within 1e-3" on realistic scores


def test_auc_bound_holds_when_scores_bunch_in_a_few_bins():
    rng = np.random.default_rng(3)
    score = np.round(rng.random(5_000), 2) * 0.05 + 0.5  # 101 values inside 5 fine bins
    y = (rng.random(5_000) < score).astype(float)
    pos = np.bincount(sh.bin_index(score[y == 1]), minlength=sh.N_BINS)
    neg = np.bincount(sh.bin_index(score[y == 0]), minlength=sh.N_BINS)
    auc = sh.auc_from_histograms(pos, neg)
    assert auc.bound > 1e-3  # the bound says the histogram cannot resolve these scores
    assert abs(auc.value - roc_auc_score(y, score)) <= auc.bound


@pytest.mark.parametrize("n_bins", [10, 20, 50])
def test_reliability_diagram_is_exact(n_bins):
    score, pred, label = _rows(50_000, seed=1)
    # scores exactly on coarse edges land in the same (right-closed) bin as the row-level diagram puts them
    score[:200] = np.linspace(0, 1, n_bins + 1)[np.arange(200) % (n_bins + 1)]
    counts, sums = _histograms(score, pred, label)
    got = sh.reliability_from_histograms(counts, sums, n_bins)
    lab = ~np.isnan(label)
    want = reliability_diagram(label[lab], score[lab], n_bins=n_bins)
    assert [b.count for b in got.bins] == [b.count for b in want.bins]
    assert got.ece == pytest.approx(want.ece, abs=1e-12)
    np.testing.assert_allclose(got.prob_pred, want.prob_pred, atol=1e-12)
    np.testing.assert_allclose(got.prob_true, want.prob_true, atol=1e-12)
    with pytest.raises(ValueError):
        sh.reliability_from_histograms(counts, sums, 7)


def test_cbpe_with_identity_calibrator_is_exact():
    score, pred, label = _rows(100_000, seed=2)
    counts, sums = _histograms(score, pred, label)
    got = sh.cbpe_from_histograms(counts, sums, cbpe.ScoreCalibrator("none"), n_simulations=100)
    want = cbpe.estimate_performance(score, pred.astype(bool), score, n_simulations=100)
    e = got.estimate
    assert e.n == want.n
    for a, b in ((e.expected_tp, want.expected_tp), (e.expected_fp, want.expected_fp),
                 (e.expected_tn, want.expected_tn), (e.expected_fn, want.expected_fn)):  # fmt: skip
        assert a == pytest.approx(b, rel=1e-12)
    for m in ("accuracy", "precision", "recall", "f1"):
        assert e.metric(m).value == pytest.approx(want.metric(m).value, abs=1e-12)
        assert got.bounds[m] == 0.0
        # sampling errors use the bin's mean score for each row: approximate, within 1%
        assert e.metric(m).sampling_error == pytest.approx(want.metric(m).sampling_error, rel=0.01)
    assert abs(e.roc_auc.value - want.roc_auc.value) <= got.bounds["roc_auc"] < 1e-3
    assert e.roc_auc.sampling_error == pytest.approx(want.roc_auc.sampling_error, rel=0.3)


def test_cbpe_with_isotonic_calibrator_is_within_its_bound():
    score, pred, label = _rows(100_000, seed=4)
    lab = ~np.isnan(label)
    cal = cbpe.fit_calibrator(label[lab][:20_000], score[lab][:20_000] ** 1.3, method="isotonic")
    raw = score**1.3  # a miscalibrated raw score, so the isotonic map does work
    counts, sums = _histograms(raw, pred, label)
    got = sh.cbpe_from_histograms(counts, sums, cal, n_simulations=0)
    want = cbpe.estimate_performance(cal.calibrate(raw), pred.astype(bool), raw, n_simulations=0)
    for m in ("accuracy", "precision", "recall", "f1"):
        diff = abs(got.estimate.metric(m).value - want.metric(m).value)
        assert diff <= got.bounds[m] + 1e-12, (m, diff, got.bounds[m])
        assert got.bounds[m] < 0.01
