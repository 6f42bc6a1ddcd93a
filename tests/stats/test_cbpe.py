"""CBPE: estimates from calibrated scores track the realized metrics before labels arrive."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import auc, roc_auc_score

from services.stats import cbpe

WINDOWS, PER_WINDOW = 10, 5000


def _calibrated_model(seed: int = 11):
    """Scores drawn per window (their distribution shifts from window to window: covariate shift),
    labels ~ Bernoulli(score): a perfectly calibrated model whose accuracy still moves."""
    rng = np.random.default_rng(seed)
    window = np.repeat(np.arange(WINDOWS), PER_WINDOW)
    a = np.repeat(np.linspace(2, 5, WINDOWS), PER_WINDOW)
    b = np.repeat(np.linspace(5, 2, WINDOWS), PER_WINDOW)
    score = rng.beta(a, b)
    y = (rng.random(score.size) < score).astype(int)
    return window, score, y


def _realized(window, score, pred, y, w):
    sel = window == w
    return np.mean(pred[sel] == y[sel]), roc_auc_score(y[sel], score[sel])


def test_estimated_accuracy_within_two_points_of_the_truth_per_window():
    window, score, y = _calibrated_model()
    pred = score >= 0.5
    estimates = cbpe.estimate_by_window(window, score, pred, n_simulations=100)
    assert [e.window for e in estimates] == list(range(WINDOWS))
    realized_acc = []
    for e in estimates:
        acc, roc = _realized(window, score, pred, y, e.window)
        realized_acc.append(acc)
        assert abs(e.estimate.accuracy.value - acc) < 0.02
        assert abs(e.estimate.roc_auc.value - roc) < 0.03
        # The realized value falls inside the +-3 sampling-error band.
        assert e.estimate.accuracy.lower <= acc <= e.estimate.accuracy.upper
        assert e.estimate.roc_auc.lower <= roc <= e.estimate.roc_auc.upper
    # The estimate tracks the movement, not just the level.
    est_acc = [e.estimate.accuracy.value for e in estimates]
    assert np.corrcoef(est_acc, realized_acc)[0, 1] > 0.9


def test_precision_recall_f1_estimates_track_the_truth():
    window, score, y = _calibrated_model(seed=12)
    pred = score >= 0.5
    est = cbpe.estimate_performance(score, pred)
    tp = np.sum(pred & (y == 1))
    precision, recall = tp / pred.sum(), tp / y.sum()
    f1 = 2 * precision * recall / (precision + recall)
    assert abs(est.precision.value - precision) < 0.01
    assert abs(est.recall.value - recall) < 0.01
    assert abs(est.f1.value - f1) < 0.01


def test_expected_confusion_matrix_from_scores_alone():
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.1, 0.2])
    pred = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    est = cbpe.estimate_performance(p, pred, n_simulations=0)
    assert est.expected_tp == pytest.approx(2.0)
    assert est.expected_fp == pytest.approx(1.0)
    assert est.expected_fn == pytest.approx(0.9)
    assert est.expected_tn == pytest.approx(2.1)
    assert est.accuracy.value == pytest.approx(4.1 / 6)
    assert est.precision.value == pytest.approx(2 / 3)
    assert est.recall.value == pytest.approx(2 / 2.9)
    assert est.f1.value == pytest.approx(2.0 / (2.0 + 0.5 * (1.0 + 0.9)))  # NannyML's TP / (TP + (FP+FN)/2)


def _nannyml_estimate_roc_auc(calibrated: np.ndarray, raw: np.ndarray) -> float:
    """NannyML's estimate_roc_auc, transcribed (including its rounding) for comparison."""
    order = np.argsort(raw)[::-1]
    p = calibrated[order]
    tps = np.round(np.r_[0, np.cumsum(p)], 5)
    fps = np.round(np.r_[0, 1 + np.arange(len(p)) - np.cumsum(p)], 5)
    return auc(fps / fps[-1], tps / tps[-1])


def test_expected_roc_auc_matches_nannymls_formula():
    rng = np.random.default_rng(3)
    raw = rng.random(4000)
    calibrated = np.clip(raw * 0.8 + 0.1, 0, 1)
    assert cbpe.expected_roc_auc(calibrated, raw) == pytest.approx(_nannyml_estimate_roc_auc(calibrated, raw), abs=1e-6)


def test_expected_roc_auc_with_certain_scores_is_the_realized_auc():
    rng = np.random.default_rng(5)
    raw = rng.random(1000)
    labels = (rng.random(1000) < raw).astype(float)  # p is 0 or 1: the estimate knows the labels
    assert cbpe.expected_roc_auc(labels, raw) == pytest.approx(roc_auc_score(labels, raw), abs=1e-12)


def test_tied_raw_scores_do_not_depend_on_row_order():
    raw = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    p1 = np.array([0.9, 0.7, 0.5, 0.3, 0.1])
    p2 = np.array([0.9, 0.3, 0.5, 0.7, 0.1])
    assert cbpe.expected_roc_auc(p1, raw) == pytest.approx(cbpe.expected_roc_auc(p2, raw))


def test_accuracy_sampling_error_matches_simulated_realizations():
    rng = np.random.default_rng(8)
    p = rng.beta(2, 3, 2000)
    pred = p >= 0.5
    est = cbpe.estimate_performance(p, pred, n_simulations=300)
    draws = rng.random((4000, p.size)) < p
    accs = (draws == pred).mean(axis=1)
    assert est.accuracy.sampling_error == pytest.approx(accs.std(), rel=0.08)
    assert est.accuracy.value == pytest.approx(accs.mean(), abs=0.002)
    f1s = []
    for d in draws[:1000]:
        tp = np.sum(d & pred)
        f1s.append(2 * tp / (pred.sum() + d.sum()))
    assert est.f1.sampling_error == pytest.approx(np.std(f1s), rel=0.1)


def test_isotonic_calibrator_equals_sklearn_and_is_applied_only_when_it_helps():
    rng = np.random.default_rng(9)
    p = rng.beta(2, 2, 20_000)
    y = (rng.random(p.size) < p).astype(int)
    raw = p**3  # same ranking, badly calibrated
    cal = cbpe.fit_calibrator(y, raw)
    assert cal.method == "isotonic" and cal.check is not None and cal.check.needed
    assert cal.check.ece_after < cal.check.ece_before
    iso = IsotonicRegression(out_of_bounds="clip").fit(raw, y)
    new = rng.random(1000) * 1.2 - 0.1  # includes scores outside the reference range
    np.testing.assert_allclose(cal.calibrate(new), iso.predict(new), atol=1e-12)
    assert cbpe.fit_calibrator(y, raw, method="none").calibrate(raw) is not None
    separable = cbpe.needs_calibration(np.r_[np.zeros(50), np.ones(50)], np.r_[np.zeros(50), np.ones(50)])
    assert not separable.needed and "0.999" in separable.reason


def test_calibrated_then_estimated_on_an_uncalibrated_model():
    window, score, y = _calibrated_model(seed=13)
    raw = score**2  # the model's own score: monotone in the truth but not calibrated
    _, ref_p, ref_y = _calibrated_model(seed=14)  # a labelled reference period over the same score range
    cal = cbpe.fit_calibrator(ref_y, ref_p**2)
    assert cal.method == "isotonic"
    pred = raw >= 0.25  # the model's decision threshold on its raw score
    # The fitted calibration adds its own error to the window's sampling noise: a little more slack.
    for e in cbpe.estimate_by_window(window, cal.calibrate(raw), pred, raw, n_simulations=50):
        acc, roc = _realized(window, raw, pred, y, e.window)
        assert abs(e.estimate.accuracy.value - acc) < 0.025
        assert abs(e.estimate.roc_auc.value - roc) < 0.04


def test_without_auc_simulations_every_estimate_is_the_same_and_only_the_auc_band_is_missing():
    """The Overview asks for estimated accuracy only and skips the AUC band's label simulations."""
    rng = np.random.default_rng(3)
    p = rng.beta(2, 3, 5_000)
    full = cbpe.estimate_performance(p, n_simulations=200)
    lean = cbpe.estimate_performance(p, n_simulations=0)
    for name in ("accuracy", "precision", "recall", "f1"):
        assert getattr(lean, name) == getattr(full, name)
    assert lean.roc_auc.value == full.roc_auc.value and np.isfinite(full.roc_auc.sampling_error)
    assert np.isnan(lean.roc_auc.sampling_error) and np.isnan(lean.roc_auc.lower)


def test_the_calibration_check_depends_on_the_rows_not_their_order():
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 2_000)
    y = (rng.uniform(0, 1, 2_000) < p).astype(float)  # calibrated scores: the verdict is a close call
    first = cbpe.needs_calibration(y, p)
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(p.size)
        again = cbpe.needs_calibration(y[order], p[order])
        assert (again.needed, again.ece_before, again.ece_after) == (first.needed, first.ece_before, first.ece_after)
