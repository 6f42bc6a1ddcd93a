"""RICE and WSJF: the formulas, the validation, and the 'incomplete -> no score' rule."""

import pytest

from services.backlog import scoring
from services.core.errors import InvalidInput


def test_rice_is_reach_times_impact_times_confidence_over_effort():
    s = scoring.rice(reach=1200, impact=2, confidence=0.8, effort=3)
    assert s.method == "rice"
    assert s.value == pytest.approx(1200 * 2 * 0.8 / 3, rel=1e-12)
    assert "= 640" in s.formula


def test_intercom_worked_example():
    # Intercom's article: reach 500/quarter, impact 2, confidence 80%, effort 2 person-months -> 400
    assert scoring.rice(500, 2, 0.8, 2).value == pytest.approx(400)


def test_wsjf_is_cost_of_delay_over_job_size():
    s = scoring.wsjf(business_value=8, time_criticality=5, risk_reduction=3, job_size=4)
    assert s.value == pytest.approx((8 + 5 + 3) / 4)
    assert s.method == "wsjf"


@pytest.mark.parametrize(
    "args, message",
    [
        ((100, 1, 0.5, 0), "Effort must be greater than 0"),
        ((100, 1, 80, 1), "between 0 and 1"),
        ((-1, 1, 0.5, 1), "Reach must be at least 0"),
        ((100, float("nan"), 0.5, 1), "finite"),
        ((100, "a lot", 0.5, 1), "must be a number"),
    ],
)
def test_rice_refuses_bad_inputs(args, message):
    with pytest.raises(InvalidInput, match=message):
        scoring.rice(*args)


def test_wsjf_refuses_zero_job_size():
    with pytest.raises(InvalidInput, match="Job size"):
        scoring.wsjf(1, 1, 1, 0)


def test_score_of_needs_every_field_of_its_method():
    rice_fields = {"reach": 10.0, "impact": 1.0, "confidence": 1.0, "effort": 2.0}
    assert scoring.score_of("rice", rice_fields).value == pytest.approx(5.0)
    assert scoring.score_of("rice", {**rice_fields, "effort": None}) is None
    assert scoring.score_of("wsjf", rice_fields) is None
    wsjf_fields = {"business_value": 3, "time_criticality": 2, "risk_reduction": 1, "job_size": 2}
    assert scoring.score_of("wsjf", wsjf_fields).value == pytest.approx(3.0)
    with pytest.raises(InvalidInput):
        scoring.score_of("ice", rice_fields)
