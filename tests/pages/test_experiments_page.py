"""The Experiments page through AppTest: the design view (sample size, Bonferroni, MDE, hand-over to
the register form), registering and starting (the design frozen, an amendment on the record), the read
view (health, the four readings, correction, prior, segments, CUPED, bandit), the stop proposal and its
execution after approval, concluding; viewers read and see no actions."""

from __future__ import annotations

import json

import pytest

from pages.experiments import keys
from services.core import audit
from services.core.audit import AuditFilter
from services.core.roles import Actor, Role
from services.experiments import lifecycle as experiments
from services.governance import approvals, executor
from services.monitoring import alerts as monitoring_alerts
from tests.services.experiments.test_experiment_readout import insert, make_experiment, simulate

PAGE = "pages/experiments/page.py"
APPROVER = Actor("approver@loopdeck.test", Role.approver)


def open_page(signed_in, role: str = "analyst"):
    at = signed_in(role, PAGE)
    assert not at.exception, at.exception
    return at


def view(at, name: str):
    at.segmented_control(key=keys.VIEW).set_value(name).run()
    assert not at.exception, at.exception
    return at


def button(at, label: str):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r} among {[b.label for b in at.button]}"
    return found[0]


def frame(at, column: str):
    """The first table with this column (AppTest's dataframes carry no key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with column {column!r}"
    return found[0]


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def test_design_view_sizes_and_hands_over_to_the_register_form(signed_in):
    at = view(open_page(signed_in), "Design")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Per control arm"] == "14,745" and metrics["Total"] == "29,490"
    assert metrics["Expected duration"] == "30 days"
    assert len(at.get("plotly_chart")) == 2
    at.number_input(key="exp_d_mde_relative").set_value(5.0).run()
    assert int(at.metric[0].value.replace(",", "")) > 4 * 14745 * 0.9
    at.number_input(key="exp_d_variants").set_value(3).run()
    assert any("Bonferroni" in t for t in texts(at.info))
    at.text_input(key="exp_d_split").input("50/30/20").run()
    assert any("share one traffic weight" in t for t in texts(at.error))
    at.text_input(key="exp_d_split").input("50/25/25").run()
    assert not at.error
    at.number_input(key="exp_d_n").set_value(2000).run()
    assert any("With 2,000 units in control" in t for t in texts(at.text))
    planned = max(int(m.value.replace(",", "")) for m in at.metric[:2])
    button(at, "Register an experiment with this design").click().run()
    assert at.segmented_control(key=keys.VIEW).value == "Register"
    assert at.number_input(key="exp_r_planned").value == planned
    assert at.number_input(key="exp_r_n").value == 3
    assert [at.number_input(key=f"exp_r_vshare_{i}").value for i in range(3)] == [50.0, 25.0, 25.0]


def test_register_start_freeze_amend_and_conclude(signed_in, page_db):
    at = view(open_page(signed_in), "Register")
    at.text_input(key="exp_r_key").input("checkout-v2")
    at.text_input(key="exp_r_name").input("Checkout v2")
    at.text_area(key="exp_r_hypothesis").input("The new checkout converts better")
    at.text_input(key="exp_r_primary").input("converted")
    at.text_input(key="exp_r_secondary").input("revenue")
    at.text_input(key="exp_r_bad_up").input("refunds")
    at.number_input(key="exp_r_planned").set_value(5000)
    button(at, "Register (draft)").click().run()
    assert not at.exception, at.exception
    assert any("Registered checkout-v2 as a draft" in t for t in texts(at.success))
    assert at.segmented_control(key=keys.VIEW).value == "Experiments"
    exp = experiments.get_experiment(page_db, "checkout-v2")
    assert exp.status == "draft" and exp.guardrail_metrics == [{"metric": "refunds", "bad_direction": "increase"}]

    button(at, "Start the experiment").click().run()
    assert experiments.get_experiment(page_db, "checkout-v2").status == "running"
    assert any("frozen" in t for t in texts(at.info))
    at.number_input(key="exp_amend_n_checkout-v2").set_value(6000)
    button(at, "Record the amendment").click().run()
    assert any("reason" in t for t in texts(at.error))  # no reason: refused
    at.text_area(key="exp_amend_why_checkout-v2").input("traffic doubled")
    button(at, "Record the amendment").click().run()
    assert any("Amendment to checkout-v2 recorded" in t for t in texts(at.success))
    [payload] = audit.list_events(page_db, AuditFilter(action="experiment.amend"))["payload"]
    assert json.loads(payload)["reason"] == "traffic doubled"

    at.radio(key="exp_outcome_checkout-v2").set_value("iterate")
    at.text_area(key="exp_rationale_checkout-v2").input("Flat; try a bolder variant")
    button(at, "Conclude the experiment").click().run()  # running: concluding needs an approved stop
    assert any("approved stop request" in t for t in texts(at.error))
    assert experiments.get_experiment(page_db, "checkout-v2").status == "running"
    request = experiments.request_stop(page_db, Actor("ana@x.io", Role.analyst), "checkout-v2", "flat")
    approvals.decide(page_db, Actor("priya@x.io", Role.approver), request.id, "approve")
    executor.execute(page_db, Actor("omar@x.io", Role.approver), request.id)
    at.run()
    at.radio(key="exp_outcome_checkout-v2").set_value("iterate")
    at.text_area(key="exp_rationale_checkout-v2").input("Flat; try a bolder variant")
    button(at, "Conclude the experiment").click().run()
    done = experiments.get_experiment(page_db, "checkout-v2")
    assert done.status == "concluded" and done.outcome == "iterate"


@pytest.fixture
def with_data(page_db, make_user):
    for role in ("viewer", "analyst", "approver"):
        make_user(role)
    exp = make_experiment(page_db, key="offer-ab")
    exposures, metrics = simulate(n=1500)
    insert(page_db, exp.id, exposures, metrics)
    return exp


def test_read_view_readings_and_options(signed_in, with_data):
    at = view(open_page(signed_in), "Read")
    assert at.selectbox(key="exp_pick_read").value == "offer-ab"
    assert [m.label for m in at.metric][:2] == ["Status", "Units exposed"] and at.metric[1].value == "1,500"
    assert len(at.success) + len(at.warning) >= 4  # the four health checks
    table = frame(at, "verdict")
    assert len(table) == 6 and {"lift", "95% CI", "p-value", "verdict"} <= set(table.columns)
    assert "Readout report (HTML)" in [b.label for b in at.get("download_button")]  # the shareable file
    for reading, column in (("sequential", "always-valid CI"), ("bayesian", "chance to beat control"),
                            ("cuped", "variance reduction")):  # fmt: skip
        at.segmented_control(key="exp_reading").set_value(reading).run()
        assert not at.exception, at.exception
        assert column in frame(at, "verdict").columns
    table = frame(at, "verdict")
    assert table.loc[table["metric"] == "rev", "variance reduction"].str.endswith("%").all()
    at.segmented_control(key="exp_reading").set_value("bayesian").run()
    at.toggle(key="exp_prior_on").set_value(True).run()
    at.number_input(key="exp_prior_sd").set_value(0.01).run()
    assert not at.exception
    at.segmented_control(key="exp_reading").set_value("frequentist").run()
    at.selectbox(key="exp_correction").set_value("holm").run()
    assert "adjusted p" in frame(at, "verdict").columns
    at.segmented_control(key="exp_scale").set_value("absolute").run()
    # Results by segment: the cohort fields of the exposures, one at a time.
    assert at.selectbox(key="exp_segment_by").options == ["platform", "region"]
    at.selectbox(key="exp_segment_by").set_value("region").run()
    assert set(at.selectbox(key="exp_segment").options) == {"All units", "eu", "us", "(none)"}
    by_region = frame(at, "SRM p")
    assert set(by_region["segment"]) == {"(all)", "eu", "us", "(none)"}
    at.selectbox(key="exp_segment").set_value("eu").run()
    assert not at.exception
    eu = frame(at, "verdict")
    assert len(eu) == 6 and eu["treatment"].tolist() != table["treatment"].tolist()  # not the overall means
    at.selectbox(key="exp_segment_by").set_value("platform").run()
    assert not at.exception and at.selectbox(key="exp_segment").value == "(all)"  # the segment starts over
    assert set(frame(at, "SRM p")["segment"]) == {"(all)", "web", "ios"}
    at.selectbox(key="exp_segment").set_value("ios").run()
    assert not at.exception and len(frame(at, "verdict")) == 6
    at.toggle(key="exp_bandit_history").set_value(True).run()
    assert not at.exception
    assert len(frame(at, "recommended")) == 3


def test_stop_is_proposed_approved_elsewhere_and_executed(signed_in, page_db, make_user):
    for role in ("analyst", "approver"):
        make_user(role)
    exp = make_experiment(page_db, key="broken", variants=("control", "treatment"))
    exposures, metrics = simulate(n=900, variants=("control", "treatment"))
    exposures.loc[exposures.index[:300], "variant"] = "treatment"  # a broken split: SRM
    insert(page_db, exp.id, exposures, metrics)
    at = view(open_page(signed_in), "Read")
    assert any("Sample ratio mismatch" in t for t in texts(at.error))
    # The analyst's reading raised the alert and proposed the stop (an approval request), once.
    [request] = experiments.stop_requests(page_db, "broken")
    assert request.status == "pending" and request.evidence["alerts"][0]["kind"] == "srm"
    assert request.payload["automatic"] is True
    assert any(f"stop request #{request.id} proposed" in t.replace("\\", "") for t in texts(at.warning))
    at.run()
    assert not at.exception, at.exception
    assert len(experiments.stop_requests(page_db, "broken")) == 1
    assert any(f"Stop request #{request.id} is waiting" in t for t in texts(at.info))
    assert "Request approval to stop" not in [b.label for b in at.button]
    alerts = audit.list_events(page_db, AuditFilter(action="experiment.alert"))
    assert len(alerts) == 1 and "srm::" in json.loads(alerts.iloc[0]["payload"])["signatures"]
    # A real alert: in Monitoring's list, pointed at from the Read view.
    [srm_alert] = [v.alert for v in monitoring_alerts.list_alerts(page_db, "open") if v.alert.signature == "srm::"]
    assert any(f"#{srm_alert.id} (open)" in t and "Monitoring" in t for t in texts(at.caption))
    approvals.decide(page_db, APPROVER, request.id, "approve", "agreed")
    at.run()
    # Executing needs the approver role here as on the Approvals page (it was analyst here before).
    assert f"Stop the experiment (request #{request.id})" not in [b.label for b in at.button]
    assert any("An approver executes it" in t for t in texts(at.caption))
    at = view(open_page(signed_in, "approver"), "Read")
    button(at, f"Stop the experiment (request #{request.id})").click().run()
    assert experiments.get_experiment(page_db, "broken").status == "stopped"
    executed = approvals.get_request(page_db, request.id).request
    assert executed.status == "executed" and executed.executed_by and executed.executed_at and executed.result


def test_a_viewer_reads_but_sees_no_actions(signed_in, with_data):
    at = open_page(signed_in, "viewer")
    labels = [b.label for b in at.button]
    assert "Start the experiment" not in labels and not [e for e in at.expander if "Amend" in e.label]
    view(at, "Read")
    assert frame(at, "verdict").shape[0] == 6
    assert "Request approval to stop" not in [b.label for b in at.button]
    view(at, "Register")
    assert any("needs the analyst role" in t for t in texts(at.info))
    view(at, "Design")
    assert "Register an experiment with this design" not in [b.label for b in at.button]


def test_read_card_progress_bar_and_cuped_without_pre_period(signed_in, with_data, page_db):
    at = view(open_page(signed_in), "Read")
    metrics = {m.label: m.value for m in at.metric}
    # 1,500 units exposed; 1,000 planned per arm x 3 arms: the same 50% on the card, bar and table.
    assert metrics["Of planned sample"] == "50%"
    [bar] = at.get("progress")
    assert bar.proto.value == 50 and bar.proto.text == "50% of planned sample (1,500 of 3,000 units)"
    assert set(frame(at, "verdict")["of planned sample"]) == {"50%"}
    # An experiment whose metrics have no pre-period values: CUPED says so, not "no metric observations".
    exp = make_experiment(page_db, key="no-pre")
    exposures, metrics_ = simulate(n=600, seed=4)
    insert(page_db, exp.id, exposures, metrics_.assign(pre_value=float("nan")))
    at.run()
    at.selectbox(key="exp_pick_read").set_value("no-pre").run()
    at.segmented_control(key="exp_reading").set_value("cuped").run()
    assert not at.exception, at.exception
    lift = json.loads(at.get("plotly_chart")[0].proto.spec)
    text = lift["layout"]["annotations"][0]["text"]
    assert text.startswith("No metric has pre-period values") and "no metric observations" not in text
    assert set(frame(at, "verdict")["CUPED lift"]) == {"no pre-period data"}
