"""Thompson-sampling weights: determinism, floor, minimum units, and agreement with exact values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from services.stats.bandit import (
    apply_weight_floor,
    best_arm_shares,
    thompson_weights_conversion,
    thompson_weights_mean,
)


def test_deterministic_with_a_seed() -> None:
    a = thompson_weights_conversion([1000, 1000, 1000], [100, 110, 105], seed=7)
    b = thompson_weights_conversion([1000, 1000, 1000], [100, 110, 105], seed=7)
    c = thompson_weights_conversion([1000, 1000, 1000], [100, 110, 105], seed=8)
    assert a == b and a.weights != c.weights


def test_weights_are_a_distribution_with_a_floor() -> None:
    r = thompson_weights_conversion([5000, 5000, 5000, 5000], [500, 500, 500, 800])
    assert sum(r.weights) == pytest.approx(1.0) and min(r.weights) >= 0.01 - 1e-12
    assert r.weights[3] == pytest.approx(0.97) and r.weights[:3] == pytest.approx((0.01, 0.01, 0.01))
    assert r.best_arm_probabilities[3] == pytest.approx(1.0)
    assert r.updated and r.method == "thompson_beta"


def test_floor_is_exact_where_clip_and_renormalise_is_not() -> None:
    p = apply_weight_floor([0.995, 0.004, 0.001])
    assert p == pytest.approx([0.98, 0.01, 0.01]) and p.sum() == pytest.approx(1.0)
    p2 = apply_weight_floor([0.5, 0.3, 0.195, 0.005], 0.05)
    assert p2.min() == pytest.approx(0.05) and p2.sum() == pytest.approx(1.0)
    # The others keep their proportions.
    assert p2[0] / p2[1] == pytest.approx(0.5 / 0.3)
    with pytest.raises(ValueError):
        apply_weight_floor([0.5, 0.5], 0.6)


def test_not_updated_until_every_arm_has_100_units() -> None:
    r = thompson_weights_conversion([1000, 99, 1000], [100, 20, 100], current_weights=[0.5, 0.25, 0.25])
    assert not r.updated and r.weights == (0.5, 0.25, 0.25) and "100" in r.message
    assert thompson_weights_conversion([100, 100], [10, 12]).updated


def test_two_arm_best_probability_matches_exact_value() -> None:
    # Normal posteriors: P(B > A) = Phi((mB - mA) / sqrt(vA/nA + vB/nB)).
    n, m, v = [2000, 2000], [10.0, 10.15], [9.0, 9.0]
    r = thompson_weights_mean(n, m, v, n_draws=200_000)
    exact = stats.norm.cdf((m[1] - m[0]) / np.sqrt(v[0] / n[0] + v[1] / n[1]))
    assert r.best_arm_probabilities[1] == pytest.approx(exact, abs=0.005)
    # Beta posterior for conversions vs its normal approximation (GrowthBook's) agree closely.
    beta = thompson_weights_conversion([3000, 3000], [300, 330], n_draws=200_000)
    p = np.array([0.10, 0.11])
    approx = stats.norm.cdf((p[1] - p[0]) / np.sqrt((p * (1 - p) / 3000).sum()))
    assert beta.best_arm_probabilities[1] == pytest.approx(approx, abs=0.01)


def test_lower_is_better_and_top_two() -> None:
    r = thompson_weights_mean([1000] * 3, [5.0, 4.0, 6.0], [1.0] * 3, direction="lower")
    assert np.argmax(r.weights) == 1
    t2 = thompson_weights_mean([1000] * 3, [5.0, 5.02, 4.0], [1.0] * 3, top_two=True)
    assert t2.method == "thompson_normal_top_two" and sum(t2.weights) == pytest.approx(1.0)
    # Top-two splits between the two leaders instead of piling onto one.
    assert t2.weights[0] == pytest.approx(0.5, abs=0.05) and t2.weights[1] == pytest.approx(0.5, abs=0.05)
    draws = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    assert best_arm_shares(draws).tolist() == [0.5, 0.0, 0.5]
    assert best_arm_shares(draws, top_two=True).tolist() == [0.25, 0.5, 0.25]


def test_proper_prior_shrinks_and_bad_inputs_raise() -> None:
    from services.stats.bayesian import GaussianPrior

    r = thompson_weights_mean([200, 200], [0.0, 0.5], [25.0, 25.0], prior=GaussianPrior(0.0, 1e-4, proper=True))
    assert r.best_arm_probabilities[1] < 0.75  # a tight prior at 0 keeps the arms close
    with pytest.raises(ValueError):
        thompson_weights_conversion([10], [1])
    with pytest.raises(ValueError):
        thompson_weights_conversion([10, 10], [11, 1])
    with pytest.raises(ValueError):
        thompson_weights_mean([10, 0], [1.0, 0.0], [1.0, 0.0])  # an empty arm without a proper prior
