"""Thompson-sampling bandit weights (GrowthBook-style), deterministic given a seed.

Draw each arm's mean from its posterior many times; an arm's weight is the share of draws in which
it is the best arm (highest, or lowest when lower is better). Posteriors:
- conversions: Beta(1 + conversions, 1 + n - conversions) (uniform prior);
- means: N(mean, var / n), or the conjugate update with a proper normal prior.
(GrowthBook uses the normal approximation for every metric type; for conversions with 100+ units
per arm the two agree closely.)

Then a floor: no arm gets less than `min_weight` (0.01), so every arm keeps learning; the rest is
shared in proportion to the sampled weights. Weights are only updated once every arm has
`min_units` (100) units; before that the current weights (default: equal) are kept.
`top_two=True` gives GrowthBook's top-two Thompson weights (share of draws in which the arm is
best or second best), which explore more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.stats.abtest_results import Direction
from services.stats.bayesian import FLAT_PRIOR, GaussianPrior

DEFAULT_DRAWS = 10_000
MIN_WEIGHT = 0.01
MIN_UNITS_PER_ARM = 100


@dataclass(frozen=True)
class BanditWeights:
    """Recommended allocation. `weights` sum to 1; `updated` is False while some arm is under `min_units`."""

    method: str
    direction: Direction
    n: tuple[int, ...]
    weights: tuple[float, ...]
    best_arm_probabilities: tuple[float, ...]
    seed: int
    n_draws: int
    min_weight: float
    min_units: int
    updated: bool
    message: str


def apply_weight_floor(weights: npt.ArrayLike, min_weight: float = MIN_WEIGHT) -> np.ndarray:
    """Raise every weight to at least `min_weight`, taking the mass from the others proportionally.

    Unlike a clip-then-renormalise (which can push floored arms back under the floor), the result
    is exactly >= min_weight everywhere and sums to 1.
    """
    p = np.asarray(weights, dtype=float).copy()
    k = p.size
    if min_weight * k > 1:
        raise ValueError(f"min_weight {min_weight} is too large for {k} arms")
    p = p / p.sum()
    fixed = np.zeros(k, dtype=bool)
    while True:
        below = (p < min_weight) & ~fixed
        if not below.any():
            return p
        fixed |= below
        free_mass = 1.0 - min_weight * fixed.sum()
        p[fixed] = min_weight
        rest = p[~fixed].sum()
        p[~fixed] = p[~fixed] / rest * free_mass if rest > 0 else free_mass / max((~fixed).sum(), 1)


def best_arm_shares(draws: np.ndarray, direction: Direction = "higher", top_two: bool = False) -> np.ndarray:
    """Share of draws (rows) in which each arm (column) is best, or best-or-second with `top_two`."""
    k = draws.shape[1]
    if direction == "lower":
        draws = -draws
    if not top_two:
        return np.bincount(np.argmax(draws, axis=1), minlength=k) / draws.shape[0]
    order = np.argsort(draws, axis=1)
    counts = np.bincount(order[:, -1], minlength=k) + np.bincount(order[:, -2], minlength=k)
    return counts / counts.sum()


def _finish(
    method: str,
    draws: np.ndarray,
    n: np.ndarray,
    *,
    direction: Direction,
    seed: int,
    min_weight: float,
    min_units: int,
    top_two: bool,
    current_weights: Sequence[float] | None,
) -> BanditWeights:
    k = n.size
    best = best_arm_shares(draws, direction, top_two=False)
    enough = bool(np.all(n >= min_units))
    if enough:
        weights = apply_weight_floor(best_arm_shares(draws, direction, top_two) if top_two else best, min_weight)
        message = "updated"
    else:
        current = np.full(k, 1.0 / k) if current_weights is None else np.asarray(current_weights, dtype=float)
        if current.size != k:
            raise ValueError("current_weights needs one weight per arm")
        weights = current / current.sum()
        message = f"not updated: every arm needs at least {min_units} units (smallest has {int(n.min())})"
    return BanditWeights(
        method=method + ("_top_two" if top_two else ""),
        direction=direction,
        n=tuple(int(x) for x in n),
        weights=tuple(float(w) for w in weights),
        best_arm_probabilities=tuple(float(b) for b in best),
        seed=seed,
        n_draws=int(draws.shape[0]),
        min_weight=min_weight,
        min_units=min_units,
        updated=enough,
        message=message,
    )


def _check(n: np.ndarray, direction: str, n_draws: int) -> None:
    if n.ndim != 1 or n.size < 2:
        raise ValueError("need at least two arms")
    if np.any(n < 0):
        raise ValueError("counts must not be negative")
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    if n_draws < 1:
        raise ValueError("n_draws must be positive")


def thompson_weights_conversion(
    n: Sequence[int],
    conversions: Sequence[int],
    *,
    direction: Direction = "higher",
    seed: int = 0,
    n_draws: int = DEFAULT_DRAWS,
    min_weight: float = MIN_WEIGHT,
    min_units: int = MIN_UNITS_PER_ARM,
    top_two: bool = False,
    current_weights: Sequence[float] | None = None,
) -> BanditWeights:
    """Thompson weights for a conversion metric from (n, conversions) per arm; Beta(1, 1) prior."""
    n_arr = np.asarray(n, dtype=float)
    x = np.asarray(conversions, dtype=float)
    _check(n_arr, direction, n_draws)
    if x.shape != n_arr.shape or np.any((x < 0) | (x > n_arr)):
        raise ValueError("conversions must be between 0 and n, one per arm")
    rng = np.random.default_rng(seed)
    draws = rng.beta(1.0 + x, 1.0 + n_arr - x, size=(n_draws, n_arr.size))
    return _finish(
        "thompson_beta",
        draws,
        n_arr,
        direction=direction,
        seed=seed,
        min_weight=min_weight,
        min_units=min_units,
        top_two=top_two,
        current_weights=current_weights,
    )


def thompson_weights_mean(
    n: Sequence[int],
    mean: Sequence[float],
    var: Sequence[float],
    *,
    direction: Direction = "higher",
    prior: GaussianPrior = FLAT_PRIOR,
    seed: int = 0,
    n_draws: int = DEFAULT_DRAWS,
    min_weight: float = MIN_WEIGHT,
    min_units: int = MIN_UNITS_PER_ARM,
    top_two: bool = False,
    current_weights: Sequence[float] | None = None,
) -> BanditWeights:
    """Thompson weights for a mean metric from (n, mean, sample variance) per arm; normal posteriors."""
    n_arr = np.asarray(n, dtype=float)
    m = np.asarray(mean, dtype=float)
    v = np.asarray(var, dtype=float)
    _check(n_arr, direction, n_draws)
    if m.shape != n_arr.shape or v.shape != n_arr.shape or np.any(v < 0):
        raise ValueError("mean and var need one entry per arm; variances must not be negative")
    # Precision-weighted posterior per arm, as gbstats' Bandits (an arm with no variance adds no data).
    with np.errstate(divide="ignore", invalid="ignore"):
        data_precision = np.where(v > 0, n_arr / v, 0.0)
    prior_precision = 1.0 / prior.variance if prior.proper else 0.0
    post_precision = data_precision + prior_precision
    if np.any(post_precision <= 0):
        raise ValueError("an arm has no data and no proper prior: its posterior is undefined")
    post_var = 1.0 / post_precision
    post_mean = post_var * (prior_precision * prior.mean + data_precision * np.nan_to_num(m))
    rng = np.random.default_rng(seed)
    draws = post_mean + np.sqrt(post_var) * rng.standard_normal(size=(n_draws, n_arr.size))
    return _finish(
        "thompson_normal",
        draws,
        n_arr,
        direction=direction,
        seed=seed,
        min_weight=min_weight,
        min_units=min_units,
        top_two=top_two,
        current_weights=current_weights,
    )
