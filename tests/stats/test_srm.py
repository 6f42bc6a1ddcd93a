"""SRM against scipy.stats.chisquare, and the health checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from services.stats.srm import (
    large_lift_check,
    min_units_check,
    multiple_exposure_check,
    srm_p_values,
    srm_test,
)


@pytest.mark.parametrize(
    ("observed", "allocation"),
    [
        ((5_000, 5_200), None),
        ((10_000, 10_000), (1, 1)),
        ((4_900, 2_600, 2_500), (50, 25, 25)),
        ((1_000, 1_100, 950, 1_020), (0.25, 0.25, 0.25, 0.25)),
        ((50_500, 49_500), (0.5, 0.5)),
    ],
)
def test_matches_scipy_chisquare(observed, allocation) -> None:
    obs = np.asarray(observed, dtype=float)
    w = np.ones_like(obs) if allocation is None else np.asarray(allocation, dtype=float)
    ref = stats.chisquare(obs, f_exp=obs.sum() * w / w.sum())
    r = srm_test(observed, allocation)
    assert r.statistic == pytest.approx(ref.statistic, abs=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    assert r.df == obs.size - 1 and r.n == int(obs.sum())
    assert r.method == "chi_square_goodness_of_fit" and r.threshold == 0.001


def test_warns_only_below_0_001() -> None:
    assert srm_test([5_000, 5_200]).verdict == "ok"  # p = 0.048: a plain test would flag it, SRM does not
    bad = srm_test([50_000, 51_500])
    assert bad.p_value < 0.001 and bad.verdict == "warn" and "mismatch" in bad.message


def test_zero_weight_arm_is_left_out() -> None:
    r = srm_test([1_000, 1_010, 0], [1, 1, 0])
    ref = stats.chisquare([1_000, 1_010])
    assert r.p_value == pytest.approx(ref.pvalue, abs=1e-9) and r.df == 1
    assert r.expected == pytest.approx((1_005.0, 1_005.0, 0.0))


def test_vectorised_p_values_match_scalar() -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(900, 1100, size=(20, 3))
    p = srm_p_values(counts, (1, 1, 1))
    for i in (0, 7, 19):
        assert p[i] == pytest.approx(srm_test(counts[i], (1, 1, 1)).p_value, abs=1e-12)
    assert srm_p_values([[0, 0, 0]])[0] == 1.0


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError):
        srm_test([10], [1])
    with pytest.raises(ValueError):
        srm_test([10, 10], [1, 1, 1])
    with pytest.raises(ValueError):
        srm_test([10, -1])


def test_min_units_check() -> None:
    ok = min_units_check([150, 400])
    assert ok.passed and ok.verdict == "ok" and ok.threshold == 150
    low = min_units_check([149, 400, 80])
    assert not low.passed and low.flagged == (0, 2) and low.value == 80


def test_large_lift_check() -> None:
    assert large_lift_check([0.1, -0.3, 0.5]).passed  # exactly 50% is not over
    r = large_lift_check([0.1, -0.62, float("nan")])
    assert not r.passed and r.flagged == (1,) and r.value == pytest.approx(0.62)


def test_multiple_exposure_check() -> None:
    assert multiple_exposure_check(10_000, 100).passed  # 1.0% is at the limit
    r = multiple_exposure_check(10_000, 250)
    assert not r.passed and r.value == pytest.approx(0.025) and r.verdict == "warn"
    assert multiple_exposure_check(0, 0).passed
    with pytest.raises(ValueError):
        multiple_exposure_check(10, 11)
