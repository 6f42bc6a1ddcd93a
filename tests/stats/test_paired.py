"""Paired comparisons: McNemar against statsmodels and scipy, the paired bootstrap against scipy's
paired bootstrap, point estimates against scikit-learn, and the vectorised engine's shortcuts (row
blocks, score bins) against the plain bootstrap they stand for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from services.stats import paired


def _data(n: int, seed: int = 0, rounded: int | None = None):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    signal = rng.normal(size=n) + 1.2 * y
    a = 1 / (1 + np.exp(-(signal + rng.normal(scale=0.6, size=n)) + 0.8))
    b = 1 / (1 + np.exp(-(signal + rng.normal(scale=1.0, size=n)) + 0.8))
    if rounded is not None:
        a, b = np.round(a, rounded), np.round(b, rounded)
    cohorts = pd.DataFrame(
        {
            "platform": rng.choice(["web", "ios", "android"], n, p=[0.45, 0.3, 0.25]),
            "tier": rng.choice(["free", "pro", "enterprise"], n, p=[0.55, 0.35, 0.1]),
        }
    )
    return y, a, b, cohorts


# --- McNemar --------------------------------------------------------------------------------------


@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_matches_statsmodels(exact):
    y, a, b, _ = _data(3000)
    result = paired.mcnemar_test(y, a >= 0.5, b >= 0.5, exact=exact)
    ra, rb = (a >= 0.5) == y, (b >= 0.5) == y
    table = [[np.sum(ra & rb), np.sum(ra & ~rb)], [np.sum(~ra & rb), np.sum(~ra & ~rb)]]
    expected = sm_mcnemar(table, exact=exact, correction=True)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert (result.both_correct, result.only_a_correct, result.only_b_correct, result.both_wrong) == (
        table[0][0], table[0][1], table[1][0], table[1][1]
    )  # fmt: skip
    assert result.accuracy_a == pytest.approx(accuracy_score(y, a >= 0.5))
    assert result.difference == pytest.approx(accuracy_score(y, a >= 0.5) - accuracy_score(y, b >= 0.5))
    if exact:  # the exact test is a two-sided binomial test on the discordant pairs
        k, n = table[0][1], table[0][1] + table[1][0]
        assert result.p_value == pytest.approx(scipy_stats.binomtest(k, n, 0.5).pvalue, rel=1e-9)


def test_mcnemar_picks_exact_for_few_discordant_pairs_and_handles_none():
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    few = paired.mcnemar_test(y, y, np.array([1, 0, 1, 0, 0, 1, 0, 1]))
    assert "exact" in few.method and few.only_a_correct == 2 and few.only_b_correct == 0
    same = paired.mcnemar_test(y, y, y)
    assert same.p_value == 1.0 and same.difference == 0.0
    y2, a, b, _ = _data(5000)
    assert "chi-square" in paired.mcnemar_test(y2, a >= 0.5, b >= 0.5).method


# --- the paired bootstrap -----------------------------------------------------------------------


def test_point_estimates_match_scikit_learn_overall_and_per_cohort():
    y, a, b, cohorts = _data(4000)
    result = paired.paired_bootstrap(y, a, b, cohorts, n_resamples=50)
    assert [g.label for g in result.groups] == [
        "overall", "platform=android", "platform=ios", "platform=web", "tier=enterprise", "tier=free", "tier=pro",
    ]  # fmt: skip
    for group in result.groups:
        mask = np.ones(len(y), bool) if not group.field else (cohorts[group.field] == group.value).to_numpy()
        assert group.n == mask.sum() and group.positives == y[mask].sum()
        for score, key in ((a, "value_a"), (b, "value_b")):
            assert getattr(group["roc_auc"], key) == pytest.approx(roc_auc_score(y[mask], score[mask]), abs=1e-12)
            assert getattr(group["log_loss"], key) == pytest.approx(log_loss(y[mask], score[mask]), abs=1e-12)
            assert getattr(group["brier"], key) == pytest.approx(brier_score_loss(y[mask], score[mask]), abs=1e-12)
            assert getattr(group["accuracy"], key) == pytest.approx(accuracy_score(y[mask], score[mask] >= 0.5))
        m = group["roc_auc"]
        assert m.difference == pytest.approx(m.value_a - m.value_b)
        assert m.a_low <= m.value_a <= m.a_high and m.diff_low <= m.difference <= m.diff_high
        assert group["accuracy"].p_value == pytest.approx(group.mcnemar.p_value)


def _auc(y, score):
    """ROC AUC along the last axis (Mann-Whitney with mid-ranks), for scipy's vectorised bootstrap."""
    ranks = scipy_stats.rankdata(score, axis=-1)
    n_pos = y.sum(axis=-1)
    n_neg = y.shape[-1] - n_pos
    return ((ranks * y).sum(axis=-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _auc_diff(y, a, b, axis=-1):
    return _auc(y, a) - _auc(y, b)


def _log_loss_diff(y, a, b, axis=-1):
    def ll(score):
        return -np.mean(y * np.log(score) + (1 - y) * np.log1p(-score), axis=-1)

    return ll(a) - ll(b)


def test_auc_difference_interval_agrees_with_scipys_paired_bootstrap():
    """Row blocks and one bin per distinct score: the replicates are the plain paired bootstrap; the
    interval then agrees with scipy.stats.bootstrap(paired=True) up to Monte Carlo error."""
    y, a, b, _ = _data(800, seed=3, rounded=3)
    ours = paired.paired_bootstrap(y, a, b, None, n_resamples=4000, seed=1)
    assert ours.exact_replicates and ours.blocks == 800
    diff = ours.overall["roc_auc"]
    assert _auc_diff(y, a, b) == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    reference = scipy_stats.bootstrap(
        (y, a, b), _auc_diff, paired=True, vectorized=True, n_resamples=4000, method="percentile",
        confidence_level=0.95, random_state=np.random.default_rng(2), batch=500,
    )  # fmt: skip
    width = reference.confidence_interval.high - reference.confidence_interval.low
    assert diff.diff_low == pytest.approx(reference.confidence_interval.low, abs=0.08 * width)
    assert diff.diff_high == pytest.approx(reference.confidence_interval.high, abs=0.08 * width)
    assert diff.difference == pytest.approx(_auc_diff(y, a, b), abs=1e-12)
    single = paired.paired_auc_difference(y, a, b, n_resamples=4000, seed=1)
    assert (single.diff_low, single.diff_high) == (diff.diff_low, diff.diff_high)


def test_log_loss_difference_interval_agrees_with_scipy():
    y, a, b, _ = _data(600, seed=5)
    ours = paired.paired_bootstrap(y, a, b, None, n_resamples=4000, seed=3).overall["log_loss"]
    assert ours.difference == pytest.approx(log_loss(y, a) - log_loss(y, b), abs=1e-12)
    reference = scipy_stats.bootstrap(
        (y, a, b), _log_loss_diff, paired=True, vectorized=True, n_resamples=4000, method="percentile",
        random_state=np.random.default_rng(4), batch=500,
    ).confidence_interval  # fmt: skip
    width = reference.high - reference.low
    assert ours.diff_low == pytest.approx(reference.low, abs=0.08 * width)
    assert ours.diff_high == pytest.approx(reference.high, abs=0.08 * width)


def test_blocks_and_bins_keep_the_interval_widths_of_the_plain_bootstrap():
    y, a, b, cohorts = _data(12_000, seed=11)
    plain = paired.paired_bootstrap(y, a, b, cohorts, n_resamples=300, seed=0, max_blocks=12_000, n_bins=3_000)
    assert plain.blocks == 12_000  # rows resampled one by one
    blocked = paired.paired_bootstrap(y, a, b, cohorts, n_resamples=300, seed=0, max_blocks=1_500, n_bins=100)
    assert not blocked.exact_replicates and blocked.blocks == 1_500 and blocked.bins == (100, 100)
    for g_plain, g_blocked in zip(plain.groups, blocked.groups, strict=True):
        for metric in ("roc_auc", "log_loss", "accuracy"):
            p, q = g_plain[metric], g_blocked[metric]
            assert q.difference == pytest.approx(p.difference, abs=1e-12)  # points are always exact
            w_p, w_q = p.diff_high - p.diff_low, q.diff_high - q.diff_low
            assert w_q == pytest.approx(w_p, rel=0.25), (g_plain.label, metric)  # Monte Carlo error, 300 resamples
            centre = (q.diff_high + q.diff_low) / 2
            assert abs(centre - q.difference) < 0.35 * w_q  # binned AUC replicates are re-centred


def test_seeded_and_identical_models_show_no_difference():
    y, a, b, cohorts = _data(2000)
    one = paired.paired_bootstrap(y, a, b, cohorts, n_resamples=200, seed=7)
    two = paired.paired_bootstrap(y, a, b, cohorts, n_resamples=200, seed=7)
    other = paired.paired_bootstrap(y, a, b, cohorts, n_resamples=200, seed=8)
    assert one == two
    assert one.overall["roc_auc"].diff_low != other.overall["roc_auc"].diff_low
    same = paired.paired_bootstrap(y, a, a, cohorts, n_resamples=200)
    for group in same.groups:
        for m in group.metrics:
            assert m.difference == 0 and m.diff_low == pytest.approx(0, abs=1e-12)
            assert m.diff_high == pytest.approx(0, abs=1e-12) and m.p_value == 1.0


def test_a_clearly_better_model_is_significant():
    y, a, b, _ = _data(5000, seed=2)
    result = paired.paired_bootstrap(y, a, b, None, n_resamples=500)
    auc = result.overall["roc_auc"]
    assert auc.difference > 0 and auc.diff_low > 0 and auc.p_value < 0.01
    assert result.overall["log_loss"].diff_high < 0


def test_inputs_are_checked():
    y, a, b, cohorts = _data(100)
    with pytest.raises(ValueError, match="0/1"):
        paired.paired_bootstrap(y * 2, a, b)
    with pytest.raises(ValueError, match="same length"):
        paired.paired_bootstrap(y, a[:-1], b)
    with pytest.raises(ValueError, match="unknown metrics"):
        paired.paired_bootstrap(y, a, b, metrics=("f2",))
    with pytest.raises(ValueError, match="finite"):
        paired.paired_bootstrap(y, np.where(a > 0.9, np.nan, a), b)
    with pytest.raises(ValueError, match="one row per score"):
        paired.paired_bootstrap(y, a, b, cohorts.iloc[:50])
    only_negatives = paired.paired_bootstrap(np.zeros(50, int), a[:50], b[:50], n_resamples=20)
    assert np.isnan(only_negatives.overall["roc_auc"].value_a)
