"""Power and sample size: the published 14,745 example and statsmodels to 1e-6."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from services.stats.power import (
    allocation_from_ratio,
    bonferroni_alpha,
    expected_duration,
    mde_conversion,
    mde_mean,
    ratio_from_allocation,
    sample_size_conversion,
    sample_size_mean,
)
from services.stats.power_curves import (
    power_curve_conversion,
    power_curve_mean,
    sample_size_curve_conversion,
    sample_size_curve_mean,
)


def test_published_example_10_to_11_percent_needs_14745_per_arm() -> None:
    r = sample_size_conversion(0.10, 0.10)  # +10% relative: 10% -> 11%
    assert r.n_control == r.n_treatment == 14_745
    assert r.n_per_arm == (14_745, 14_745) and r.n_total == 29_490
    assert r.target == pytest.approx(0.11)
    assert r.method == "normal_ind_power_cohens_h"
    same = sample_size_conversion(0.10, 0.01, mde_type="absolute")
    assert same.n_control == 14_745


def test_the_convention_is_cohens_h_not_the_textbook_variance_formulas() -> None:
    # Which convention gives 14,745? Cohen's h gives 14,744.1 -> 14,745; the classic pooled/unpooled
    # z formulas give 14,751 / 14,749 after rounding up, so they are not what the example uses.
    p1, p2 = 0.10, 0.11
    za, zb = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    unpooled = (za + zb) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2
    pbar = (p1 + p2) / 2
    classic = (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / 0.01**2
    assert math.ceil(unpooled) != 14_745 and math.ceil(classic) != 14_745
    assert sample_size_conversion(0.10, 0.10).n_control_exact == pytest.approx(14_744.1048, abs=1e-3)


@pytest.mark.parametrize(
    ("baseline", "mde", "alpha", "power", "k", "ratio"),
    [
        (0.10, 0.10, 0.05, 0.8, 2, 1.0),
        (0.03, 0.2, 0.05, 0.9, 3, 1.0),
        (0.5, -0.05, 0.01, 0.8, 4, 0.5),
        (0.2, 0.15, 0.1, 0.8, 2, 2.0),
    ],
)
def test_conversion_sample_size_matches_statsmodels(baseline, mde, alpha, power, k, ratio) -> None:
    r = sample_size_conversion(baseline, mde, alpha=alpha, power=power, n_variants=k, ratio=ratio)
    h = abs(proportion_effectsize(baseline * (1 + mde), baseline))
    n = NormalIndPower().solve_power(effect_size=h, alpha=alpha / (k - 1), power=power, ratio=ratio)
    assert r.effect_size == pytest.approx(h, abs=1e-9)
    assert r.n_control_exact == pytest.approx(n, abs=1e-6)
    assert r.n_control == math.ceil(n) and r.n_treatment == math.ceil(n * ratio)
    assert len(r.n_per_arm) == k and r.n_total == r.n_control + (k - 1) * r.n_treatment
    assert r.alpha_adjusted == pytest.approx(alpha / (k - 1))


@pytest.mark.parametrize(
    ("mde", "k", "ratio", "alt"),
    [(0.05, 2, 1.0, "two-sided"), (0.02, 3, 1.0, "two-sided"), (0.1, 2, 0.25, "one-sided")],
)
def test_mean_sample_size_matches_statsmodels(mde, k, ratio, alt) -> None:
    r = sample_size_mean(50.0, 20.0, mde, n_variants=k, ratio=ratio, alternative=alt)
    d = 50.0 * mde / 20.0
    n = TTestIndPower().solve_power(
        effect_size=d,
        alpha=0.05 / (k - 1),
        power=0.8,
        ratio=ratio,
        alternative="two-sided" if alt == "two-sided" else "larger",
    )
    assert r.effect_size == pytest.approx(d, abs=1e-12)
    assert r.n_control_exact == pytest.approx(n, abs=1e-6)
    assert r.n_control == math.ceil(n)


def test_mde_inverts_sample_size() -> None:
    m = mde_conversion(0.10, 14_745)
    h = NormalIndPower().solve_power(effect_size=None, nobs1=14_745, alpha=0.05, power=0.8, ratio=1.0)
    assert m.effect_size == pytest.approx(h, abs=1e-6)
    assert m.target == pytest.approx(0.11, abs=1e-5)  # 14,745 was rounded up from 14,744.1
    assert proportion_effectsize(m.target, 0.10) == pytest.approx(h, abs=1e-9)
    down = mde_conversion(0.10, 14_745, increase=False)
    assert down.mde_absolute < 0 and proportion_effectsize(0.10, down.target) == pytest.approx(h, abs=1e-9)

    mm = mde_mean(50.0, 20.0, 2_000, n_variants=3)
    d = TTestIndPower().solve_power(effect_size=None, nobs1=2_000, alpha=0.025, power=0.8, ratio=1.0)
    assert mm.effect_size == pytest.approx(d, abs=1e-6)
    assert mm.mde_absolute == pytest.approx(d * 20.0, abs=1e-6)
    assert mm.mde_relative == pytest.approx(d * 20.0 / 50.0, abs=1e-6)
    assert sample_size_mean(50.0, 20.0, mm.mde_absolute, mde_type="absolute", n_variants=3).n_control == 2_000


def test_power_curves_match_statsmodels() -> None:
    mdes = np.linspace(0.01, 0.3, 30)
    pc = power_curve_conversion(0.1, 5_000, mdes, n_variants=3, ratio=0.5)
    h = np.abs(proportion_effectsize(0.1 * (1 + mdes), 0.1))
    expected = NormalIndPower().power(effect_size=h, nobs1=5_000, alpha=0.025, ratio=0.5)
    assert np.allclose(pc.power, expected, atol=1e-9, rtol=0)
    assert np.all(np.diff(pc.power) > 0)

    pm = power_curve_mean(50.0, 20.0, 1_000, mdes)
    with np.errstate(invalid="ignore"):
        expected_m = TTestIndPower().power(effect_size=50.0 * mdes / 20.0, nobs1=1_000, alpha=0.05, ratio=1.0)
    finite = np.isfinite(expected_m)
    assert np.allclose(pm.power[finite], expected_m[finite], atol=1e-9, rtol=0)
    # Where scipy's noncentral t gives NaN (far tail) the curve falls back to the normal power: 1.
    assert np.all(np.isfinite(pm.power)) and np.allclose(pm.power[~finite], 1.0, atol=1e-9)


def test_sample_size_curves() -> None:
    mdes = [0.05, 0.1, 0.2]
    sc = sample_size_curve_conversion(0.10, mdes)
    assert sc.n_control[1] == 14_745
    assert np.all(np.diff(sc.n_control) < 0)
    assert list(sc.n_control) == [sample_size_conversion(0.10, m).n_control for m in mdes]
    sm_ = sample_size_curve_mean(50.0, 20.0, mdes, n_variants=3)
    assert list(sm_.n_total) == [sample_size_mean(50.0, 20.0, m, n_variants=3).n_total for m in mdes]


def test_duration_from_daily_traffic_and_split() -> None:
    r = sample_size_conversion(0.10, 0.10)
    d = expected_duration(r.n_per_arm, daily_traffic=1_000)
    assert d.days_exact == pytest.approx(29.49) and d.days == 30
    # 3 arms at 50/25/25: each treatment arm fills at 250 a day and is the bottleneck.
    d3 = expected_duration((10_000, 10_000, 10_000), 1_000, allocation=(50, 25, 25))
    assert d3.days == 40 and d3.limiting_arm == 1
    assert d3.allocation == pytest.approx((0.5, 0.25, 0.25))


def test_split_helpers_and_bonferroni() -> None:
    assert bonferroni_alpha(0.05, 2) == 0.05
    assert bonferroni_alpha(0.05, 5) == pytest.approx(0.0125)
    assert ratio_from_allocation((50, 25, 25)) == 0.5
    assert allocation_from_ratio(3, 0.5) == pytest.approx((0.5, 0.25, 0.25))
    assert sample_size_conversion(0.1, 0.1, n_variants=3, ratio=0.5).allocation == pytest.approx((0.5, 0.25, 0.25))
    with pytest.raises(ValueError):
        ratio_from_allocation((50, 30, 20))
    with pytest.raises(ValueError):
        bonferroni_alpha(0.05, 1)


def test_invalid_designs_raise() -> None:
    with pytest.raises(ValueError):
        sample_size_conversion(0.95, 0.10)  # target rate above 1
    with pytest.raises(ValueError):
        sample_size_conversion(0.10, 0.0)
    with pytest.raises(ValueError):
        sample_size_mean(10.0, 0.0, 0.1)
    with pytest.raises(ValueError):
        expected_duration((100, 100), daily_traffic=0)
