"""AppTest of the Models page on the demo (scale 0.1, loaded once per test process into a template file
that each test copies): registry with lineage, model card and artifact check; deployment history;
retraining in the background; the judge and the requests it leads to; what each role may do."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from app import state
from app.jobs import job_board
from pages.models import keys
from pages.models.judge_tables import gate_backlog_key
from services.core import audit
from services.core.db import make_engine
from services.core.schema_models import ModelVersion
from services.governance import approvals
from services.models import registry, rollout
from tests import demo_cache
from tests.pages.helpers import button_keys, ok, opener_by_role, run_worker_once

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "streamlit_app.py"
_TEMPLATE: dict[str, Path] = {}


def demo_template(tmp_path_factory) -> Path:
    """A migrated SQLite file with the demo loaded (the run's, tests/demo_cache.py)."""
    return demo_cache.sqlite_demo(0.1, blocks=False)


@pytest.fixture
def demo_db(tmp_path_factory, tmp_path, monkeypatch) -> Iterator[Engine]:
    yield from engine_on_a_copy(demo_template(tmp_path_factory), tmp_path, monkeypatch)


def engine_on_a_copy(template: Path, tmp_path: Path, monkeypatch) -> Iterator[Engine]:
    """The app under test on a private copy of `template`, its artifact and routing folders the test's own."""
    path = tmp_path / "loopdeck.db"
    shutil.copyfile(template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    monkeypatch.setenv(registry.ARTIFACT_DIR_ENV, str(tmp_path / "artifacts"))
    monkeypatch.setenv(rollout.ROUTING_DIR_ENV, str(tmp_path / "routing"))
    engine = make_engine(url)
    yield engine
    engine.dispose()
    state.get_engine.clear()


@pytest.fixture
def open_as(demo_db) -> Callable[..., AppTest]:
    return opener_by_role(demo_db, "pages/models/page.py", timeout=60)


def _view(at: AppTest, view: str) -> AppTest:
    return ok(at.segmented_control(key=keys.VIEW).set_value(view).run())


def _table(at: AppTest, column: str):
    """The first table with this column (AppTest's dataframes carry no key)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def test_a_viewer_sees_every_view_and_no_actions(open_as):
    at = ok(open_as("viewer"))
    assert at.title[0].value == "Models"
    assert "**Champion:** v2" in at.markdown[0].value and "v1 canary 10%" in at.markdown[0].value
    versions = _table(at, "estimator")
    assert list(versions["version"]) == ["v2", "v1"] and list(versions["alias"]) == ["champion", "challenger"]
    lineage = _table(at, "")
    assert "Training window" in set(lineage[""]) and "v1" in set(lineage["value"])  # v2's parent
    assert any("Intended use" in m.value for m in at.markdown)
    _view(at, "Deployments")
    history = _table(at, "share")
    assert len(history) == 4 and list(history["to"]).count("serving") == 2
    assert "mdl_rollback_request" not in button_keys(at)
    _view(at, "Retrain")
    assert any("analyst role" in i.value for i in at.info) and "mdl_rt_submit" not in button_keys(at)
    _view(at, "Judge")
    at.selectbox(key="mdl_jd_resamples").set_value(200)
    at = ok(at.button(key="mdl_jd_run").click().run())
    assert at.success[0].value.startswith("Verdict: ")  # v1 vs v2: a viewer may look
    assert "mdl_req_promote" not in button_keys(at)


def test_artifact_check_passes_and_catches_a_changed_file(open_as, demo_db, tmp_path):
    at = ok(open_as("analyst"))
    at = ok(at.button(key="mdl_verify_2").click().run())
    assert "Checksum matches" in at.success[0].value
    # Point v2 at a copy of its file and change one byte: the check (and any load) refuses it.
    with demo_db.connect() as conn:
        uri = conn.execute(sa.text("SELECT artifact_uri FROM model_version WHERE id = 2")).scalar_one()
    copy = tmp_path / "v2.skops"
    data = bytearray(Path(uri).read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    with demo_db.begin() as conn:
        conn.execute(sa.update(ModelVersion.__table__).where(ModelVersion.__table__.c.id == 2)
                     .values(artifact_uri=str(copy)))  # fmt: skip
    at = at.button(key="mdl_verify_2").click().run()
    assert any("does not match its registered checksum" in e.value for e in at.error)


def test_the_artifacts_server_path_is_shown_to_admins_only(open_as, demo_db):
    with demo_db.connect() as conn:
        uri = conn.execute(sa.text("SELECT artifact_uri FROM model_version WHERE id = 2")).scalar_one()
    for role in ("viewer", "analyst", "approver"):
        shown = " ".join(t.value for t in ok(open_as(role)).text)
        assert uri not in shown and "stored on the server" in shown, role
    assert uri in " ".join(t.value for t in ok(open_as("admin")).text)


def test_an_analyst_retrains_in_the_background_and_the_candidate_appears(open_as, demo_db):
    at = _view(open_as("analyst"), "Retrain")
    assert at.date_input(key="mdl_rt_to").value.isoformat() == "2026-10-08"  # leaves a labelled holdout
    at = ok(at.button(key="mdl_rt_submit").click().run())
    job_id = at.session_state[keys.JOB]
    run_worker_once(demo_db)
    job = job_board().wait(job_id, timeout=120)
    assert job.done and job.error is None and job.crash is None and "Registered churn v3" in job.value.summary()
    at = ok(at.run())
    assert any("Registered churn v3 (candidate, parent v2)" in s.value for s in at.success)
    at = _view(at, "Registry")
    assert list(_table(at, "estimator")["version"])[0] == "v3"
    v3 = registry.find_version(demo_db, "churn", 3)
    assert v3.parent_id == 2 and v3.trigger == "manual" and v3.created_by == "analyst@loopdeck.demo"


def test_the_judge_panel_leads_to_a_promotion_request_with_its_evidence(open_as, demo_db):
    from datetime import UTC, datetime

    from services.core.roles import Actor, Role
    from services.models import retraining

    analyst = Actor("analyst@loopdeck.demo", Role.analyst)
    retraining.retrain(demo_db, analyst, 2, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC))
    at = _view(open_as("analyst"), "Judge")
    at.selectbox(key="mdl_jd_resamples").set_value(200)
    at = ok(at.button(key="mdl_jd_run").click().run())
    assert at.success[0].value.startswith("Verdict: PASS. churn v3 passes all ")
    assert at.success[0].value.endswith(" gates against churn v2.")
    gates = _table(at, "rule")
    assert set(gates["result"]) <= {"✅ pass", "➖ not checked"} and "platform=ios" in set(gates["scope"])
    assert len(at.get("plotly_chart")) == 2
    at.text_area(key="mdl_req_comment").input("v3 fixes the mobile cohort")
    at = ok(at.button(key="mdl_req_promote").click().run())
    assert any("Promotion requested (#1)" in s.value for s in at.success)
    request = approvals.get_request(demo_db, 1).request
    assert (request.kind, request.subject_id, request.requested_by) == ("promote", "3", "analyst@loopdeck.demo")
    assert request.evidence["verdict"] == "pass" and request.evidence["holdout"]["rows"] > 500
    at = at.button(key="mdl_req_promote").click().run()  # the same change again: refused, shown as a message
    assert not at.exception and [e.value for e in at.error] == ["Request \\#1 for the same change is still pending\\."]
    at.selectbox(key="mdl_req_guardrail_metric").set_value("roc_auc")
    at.number_input(key="mdl_req_guardrail").set_value(0.01)
    at = ok(at.button(key="mdl_req_canary").click().run())
    canary = approvals.get_request(demo_db, 2).request
    assert canary.kind == "canary" and canary.payload == {
        "stage": "canary", "traffic_share": 0.05, "guardrail": {"metric": "roc_auc", "max_drop": 0.01}}  # fmt: skip


def test_rollback_request_and_model_card_edit(open_as, demo_db):
    at = _view(open_as("analyst"), "Deployments")
    assert at.get("plotly_chart")
    assert at.selectbox(key="mdl_rollback_to").value == 1  # v1 was the previous champion
    assert any(t.value.startswith("v1: canary 10%") and t.value.endswith(
        "guard rail: accuracy at most 0.02 below the champion (default)") for t in at.text)  # fmt: skip
    at.text_input(key="mdl_rollback_reason").input("v2 misreads mobile sessions")
    at = ok(at.button(key="mdl_rollback_request").click().run())
    request = approvals.list_requests(demo_db)[0]
    assert request.kind == "rollback" and request.payload == {"to_version_id": 1, "to_version": 1}
    at = _view(at, "Registry")
    at.text_area(key="mdl_card_2_limitations").input("Misreads sessions from mobile app 5.0 (since 2026-09-30).")
    at = ok(at.button(key="mdl_card_save_2").click().run())
    assert registry.get_version(demo_db, 2).model_card["limitations"].startswith("Misreads sessions")
    assert audit.count_events(demo_db, audit.AuditFilter(action="model.card")) == 1


def test_an_alert_leads_to_a_retrain_request_with_the_alert_attached(open_as, demo_db):
    from services.core.db import write_session
    from services.core.schema_monitoring import Alert, AlertRule

    with write_session(demo_db) as session:  # an alert as the monitoring evaluation opens it
        rule = AlertRule(name="mobile accuracy", model_name="churn", metric="accuracy", threshold=0.8,
                         cohort={"platform": ["ios", "android"]})  # fmt: skip
        session.add(rule)
        session.flush()
        alert = Alert(
            rule_id=rule.id,
            model_version_id=2,
            value=0.74,
            evidence={
                "model": "churn",
                "model_version": 2,
                "threshold": 0.8,
                "comparison": "<",
                "window": {"start": "2026-10-01", "end": "2026-10-07"},
                "cohort": {"platform": ["ios", "android"]},
            },
        )
        session.add(alert)
        session.flush()
        session.expunge(alert)
    at = _view(open_as("analyst"), "Retrain")
    options = at.selectbox(key="mdl_rt_trigger").options
    assert options[:2] == ["By hand", "Schedule"] and any(o.startswith(f"Alert #{alert.id}") for o in options)
    at.selectbox(key="mdl_rt_trigger").set_value(f"alert:{alert.id}")
    at.text_area(key="mdl_rt_comment").input("the mobile accuracy alert: retrain with the corrected labels")
    at = ok(at.button(key="mdl_rt_request").click().run())
    assert any("Retraining requested (#1)" in s.value for s in at.success)
    request = approvals.get_request(demo_db, 1).request
    assert request.kind == "retrain" and request.payload["trigger"] == f"alert:{alert.id}"
    assert request.evidence["kind"] == "alert" and request.evidence["alert_id"] == alert.id
    assert keys.JOB not in at.session_state  # nothing runs before it is approved


def test_the_judges_default_gates_moved_to_settings(open_as, demo_db):
    """The Judge view edits gates for one run; admins save everyone's default on the Settings screen."""
    at = _view(open_as("analyst"), "Judge")
    assert any("an admin sets the defaults" in c.value for c in at.caption)
    at = _view(open_as("admin"), "Judge")
    assert "Settings moved to Settings (everyone's default gates)" in [el.proto.label for el in at.get("page_link")]
    assert not [b for b in at.button if "default" in (b.label or "")]


def test_a_failed_judge_gate_becomes_a_backlog_item_with_its_evidence(open_as, demo_db):
    """Strict gates (v1 must beat v2 by 0.2 in accuracy and in ROC AUC) fail; the analyst files the ROC
    AUC one from the judge panel: a proposed item linked to the gate ("judge_gate"), reach from it."""
    from services.backlog import items as backlog
    from services.core import settings
    from services.core.roles import Actor, Role
    from services.models import judge

    lenient = {"min_relative_change": -1.0, "greater_is_better": False}
    strict = {"overall": {"accuracy": {"min_absolute_change": 0.2}, "roc_auc": {"min_absolute_change": 0.2},
                          "log_loss": lenient}, "cohort": {}}  # fmt: skip
    settings.set_value(demo_db, Actor("root@example.com", Role.admin), judge.SETTING_KEY, strict)
    before = {i.id for i in backlog.ranked(demo_db, statuses=())}
    viewer = _view(open_as("viewer"), "Judge")  # a viewer sees the failed gates, not the backlog form
    viewer.selectbox(key="mdl_jd_resamples").set_value(200)
    viewer = viewer.button(key="mdl_jd_run").click().run()
    assert not viewer.exception and viewer.error[0].value.startswith("Verdict: FAIL. churn v1 fails 2 of 3 gates")
    assert not any(b.label == "Create backlog item" for b in viewer.button)

    at = _view(open_as("analyst"), "Judge")
    assert (at.selectbox(key="mdl_jd_candidate").value, at.selectbox(key="mdl_jd_champion").value) == (1, 2)
    at.selectbox(key="mdl_jd_resamples").set_value(200)
    at = at.button(key="mdl_jd_run").click().run()
    verdict = "Verdict: FAIL. churn v1 fails 2 of 3 gates against churn v2."
    assert not at.exception and [e.value for e in at.error] == [verdict]
    chooser = at.selectbox(key="mdl_jd_backlog_gate")
    assert [o.split(" (")[0] for o in chooser.options] == [
        "overall: accuracy >= champion + 0.2", "overall: roc_auc >= champion + 0.2"]  # fmt: skip
    at = chooser.set_value(1).run()
    panel = at.session_state[keys.PANEL]
    gate = panel.failed[1]
    key = gate_backlog_key(panel, gate)
    assert at.text_input(key=f"bl_from_title_{key}").value == "churn v1 fails the roc_auc gate overall against v2"
    at = next(b for b in at.button if b.label == "Create backlog item").click().run()
    assert not at.exception and [e.value for e in at.error] == [verdict]  # the panel stays; no refusal
    created = [i for i in backlog.ranked(demo_db, statuses=()) if i.id not in before]
    assert len(created) == 1
    item = created[0]
    assert any(s.value == f"Backlog item #{item.id} created." for s in at.success)
    assert (item.title, item.kind, item.status, item.created_by) == (
        "churn v1 fails the roc_auc gate overall against v2", "model_improvement", "proposed",
        "analyst@loopdeck.demo")  # fmt: skip
    assert item.description.startswith("The judge's roc_auc gate (overall) failed for churn v1 against churn v2")
    assert item.reach and item.reach > 0 and item.reach_basis == "predictions per week (last 28 days)"
    [evidence] = backlog.get_item(demo_db, item.id).evidence
    assert (evidence.ref_type, evidence.ref_id) == ("judge_gate", "churn:v1-vs-v2:overall:roc_auc")
    assert evidence.label.startswith("churn v1 fails the roc_auc gate overall against v2: ")
    d = evidence.detail
    assert (d["candidate_version"], d["champion_version"], d["scope"], d["metric"], d["passed"], d["cohort"]) == (
        1, 2, "overall", "roc_auc", False, None)  # fmt: skip
    assert d["rule"] == "roc_auc >= champion + 0.2" and d["candidate"] < d["champion"] + 0.2
    assert d["candidate"] == pytest.approx(gate.candidate, abs=1e-6) and d["holdout"]["rows"] == panel.holdout.rows
    assert audit.count_events(demo_db, audit.AuditFilter(action="backlog.create", subject_id=str(item.id))) == 1
