"""Roll out and roll back (SQLite and Postgres): approved requests execute as one transaction with the
request's status and the audit events; four-eyes and required counts hold up to execution; a change
after approval resets it; the history is never overwritten; rollback goes back one step; two
approvers racing to execute, 50 rounds: exactly one champion at every read, no lost audit event."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from services.core import audit, settings
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, PermissionDenied, SelfApprovalError
from services.core.roles import Actor, Role
from services.core.schema_experiments import Experiment
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import Deployment, ModelVersion, ShadowScore
from services.governance import approvals, executor
from services.models import registry, rollout

ANA = Actor("ana@test.io", Role.analyst)
APP1 = Actor("app1@test.io", Role.approver)
APP2 = Actor("app2@test.io", Role.approver)
ADMIN = Actor("root@test.io", Role.admin)
T0 = datetime(2026, 8, 1, tzinfo=UTC)
SCHEMA = {"x": "numeric", "y": "numeric"}


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(registry.ARTIFACT_DIR_ENV, str(tmp_path / "artifacts"))
    monkeypatch.setenv(rollout.ROUTING_DIR_ENV, str(tmp_path / "routing"))
    return tmp_path / "routing"


def _model(seed: int) -> Pipeline:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    return Pipeline([("clf", LogisticRegression())]).fit(x, (x["x"] + rng.normal(size=200) > 0).astype(int))


def _register(engine, seed: int = 0) -> int:
    return registry.register_model_version(
        engine, ANA, "churn", _model(seed), feature_schema=SCHEMA, params={}, metrics={"roc_auc": 0.7 + seed / 100},
        training_data={"window_end": "2026-07-31T00:00:00+00:00"}, model_card={},
    ).id  # fmt: skip


@pytest.fixture
def churn(engine):
    """v1 serving full since T0, v2 and v3 candidates; one approval each kind needs."""
    ids = [_register(engine, s) for s in (0, 1, 2)]
    registry.record_deployment(engine, ADMIN, ids[0], "full", 1.0, started_at=T0, reason="first model")
    settings.set_value(engine, ADMIN, "approvals.required", {k: 1 for k in approvals.KINDS})
    return ids


def _approved(engine, kind, subject, payload=None, comment="go", approvers=(APP1,)) -> int:
    row = approvals.request_change(engine, ANA, kind, subject, comment, payload)
    for approver in approvers:
        approvals.decide(engine, approver, row.id, "approve")
    return row.id


def _champions(engine) -> tuple[int, int]:
    """(versions with status champion, open full deployments) of churn, each in one statement."""
    mv, d = ModelVersion.__table__.c, sa.table("deployment", sa.column("stage"), sa.column("ended_at"))
    with engine.connect() as conn:
        statuses = conn.execute(
            sa.select(sa.func.count()).where(mv.model_name == "churn", mv.status == "champion")
        ).scalar_one()
        open_full = conn.execute(
            sa.select(sa.func.count()).select_from(d).where(d.c.stage == "full", d.c.ended_at.is_(None))
        ).scalar_one()
    return statuses, open_full


def _deployment(engine, deployment_id: int) -> Deployment:
    with read_session(engine) as session:
        return session.get(Deployment, deployment_id)


def test_promotion_executes_in_one_transaction_with_its_audit_events(engine, churn, folders):
    v1, v2, _ = churn
    rid = _approved(engine, "promote", v2, {"stage": "full"})
    plan = rollout.plan(engine, rid)
    assert plan.executable and plan.deploy == {"model_version_id": v2, "version": 2, "stage": "full",
                                               "traffic_share": 1.0}  # fmt: skip
    assert plan.steps[0] == "churn v2 starts serving full traffic (100%) as the champion."
    assert "churn v1 stops serving full traffic" in plan.steps[1] and "archived" in plan.steps[1]
    before = audit.count_events(engine)
    done = executor.execute(engine, APP2, rid, expected_digest=plan.digest)
    assert done.request.status == "executed" and done.request.executed_by == APP2.label
    deployment = _deployment(engine, done.result["deployment_id"])
    assert deployment.approval_request_id == rid and deployment.reason.startswith(f"Request #{rid}")
    actions = audit.list_events(engine, limit=10)["action"].tolist()
    assert audit.count_events(engine) == before + 2 and set(actions[:2]) == {"model.deploy", "approval.execute"}
    statuses = {v.id: v.status for v in registry.list_versions(engine, "churn")}
    assert statuses[v2] == "champion" and statuses[v1] == "archived"
    history = registry.list_deployments(engine, "churn")
    assert [(d.model_version_id, d.ended_at is None) for d in history] == [(v1, False), (v2, True)]
    assert history[0].ended_by == APP2.label and "replaced by a full deployment of v2" in history[0].end_reason
    routing = json.loads((folders / "churn.json").read_text())
    assert routing["champion"]["version"] == 2 and routing["champion"]["traffic_share"] == 1.0
    assert routing == {**rollout.current_routing(engine, "churn").as_dict(), "as_of": routing["as_of"]}
    assert audit.verify(engine).intact


def test_four_eyes_and_required_counts_hold_up_to_execution(engine, churn):
    _, v2, v3 = churn
    settings.set_value(engine, ADMIN, "approvals.required", {"promote": 2})
    row = approvals.request_change(engine, APP1, "promote", v2, "mine")
    with pytest.raises(SelfApprovalError):
        approvals.decide(engine, APP1, row.id, "approve")
    with pytest.raises(Conflict, match="pending"):
        executor.execute(engine, APP1, row.id)  # nobody approved yet
    approvals.decide(engine, APP2, row.id, "approve")
    with pytest.raises(Conflict, match="pending"):
        executor.execute(engine, APP2, row.id)  # 1 of 2
    approvals.decide(engine, ADMIN, row.id, "approve")
    with pytest.raises(PermissionDenied):
        executor.execute(engine, ANA, row.id)  # analysts request, approvers execute
    executor.execute(engine, APP1, row.id)
    with pytest.raises(Conflict, match="already executed"):
        executor.execute(engine, APP2, row.id)
    rejected = approvals.request_change(engine, ANA, "canary", v3, "try", {"stage": "canary", "traffic_share": 0.1})
    approvals.decide(engine, APP1, rejected.id, "reject", "not yet")
    with pytest.raises(Conflict, match="rejected"):
        executor.execute(engine, APP1, rejected.id)


def test_a_change_after_approval_resets_it_and_nothing_executes(engine, churn):
    _, v2, v3 = churn
    promote = _approved(engine, "promote", v2)
    rollback = _approved(engine, "rollback", "churn", {"to_version_id": churn[0]})
    # Something else happens to the subject after approval: v2 starts a shadow (its status changes).
    shadow = _approved(engine, "canary", v2, {"stage": "shadow", "traffic_share": 0.0})
    executor.execute(engine, APP1, shadow)
    with pytest.raises(Conflict, match="reset"):
        executor.execute(engine, APP1, promote)
    view = approvals.get_request(engine, promote)
    assert view.request.status == "pending" and view.approvals == 0
    with pytest.raises(Conflict, match="reset"):  # the model's serving state changed too
        executor.execute(engine, APP1, rollback)
    assert _champions(engine) == (1, 1) and registry.aliases(engine, "churn").champion.version == 1
    # A plan confirmed on an older state is refused.
    approvals.decide(engine, APP2, promote, "approve")
    stale = rollout.plan(engine, promote).digest
    canary = _approved(engine, "canary", v3, {"stage": "canary", "traffic_share": 0.2})
    executor.execute(engine, APP1, canary)
    approvals.refresh(engine, promote)  # v2's own fingerprint did not change: still approved
    assert approvals.get_request(engine, promote).request.status == "approved"
    with pytest.raises(Conflict, match="changed since you confirmed"):
        executor.execute(engine, APP1, promote, expected_digest=stale)
    done = executor.execute(engine, APP1, promote, expected_digest=rollout.plan(engine, promote).digest)
    assert _deployment(engine, done.result["deployment_id"]).traffic_share == pytest.approx(
        0.8
    )  # v3's canary keeps its 20%


def test_canary_shadow_rollback_and_the_history(engine, churn, folders):
    v1, v2, v3 = churn
    executor.execute(engine, APP1, _approved(engine, "canary", v2, {"stage": "shadow", "traffic_share": 0.0}))
    canary = _approved(engine, "canary", v2, {"stage": "canary", "traffic_share": 0.25})
    plan = rollout.plan(engine, canary)
    assert "starts a canary: 25% of traffic" in plan.steps[0] and "serves the rest (75%)" in plan.steps[1]
    assert any("Its earlier shadow" in s for s in plan.steps)
    executor.execute(engine, APP1, canary)
    routing = rollout.current_routing(engine, "churn")
    assert routing.champion.version == 1 and routing.champion.traffic_share == 0.75
    assert [(c.version, c.stage, c.traffic_share) for c in routing.challengers] == [(2, "canary", 0.25)]
    executor.execute(engine, APP1, _approved(engine, "promote", v2))
    # One step back: v1 (the previous champion) serves again; v2 is archived.
    request = rollout.request_rollback(engine, ANA, "churn", "v2 hurts the web cohort")
    assert request.payload == {"to_version_id": v1, "to_version": 1}
    approvals.decide(engine, APP2, request.id, "approve")
    steps = rollout.plan(engine, request.id).steps
    assert steps[0].startswith("churn goes back to v1") and any("single commit" in s for s in steps)
    executor.execute(engine, APP2, request.id)
    assert {v.version: v.status for v in registry.list_versions(engine, "churn")} == {
        1: "champion", 2: "archived", 3: "candidate"
    }  # fmt: skip
    history = registry.list_deployments(engine, "churn")
    assert [(d.model_version_id, d.stage) for d in history] == [
        (v1, "full"), (v2, "shadow"), (v2, "canary"), (v2, "full"), (v1, "full")
    ]  # fmt: skip
    assert [d.ended_at is None for d in history] == [False, False, False, False, True]
    assert json.loads((folders / "churn.json").read_text())["champion"]["version"] == 1
    # Any earlier version, and ending a canary.
    executor.execute(engine, APP1, _approved(engine, "canary", v3, {"stage": "canary", "traffic_share": 0.1}))
    end = rollout.request_rollback(engine, ANA, "churn", "stop v3", end_deployment_id=history[-1].id + 1)
    approvals.decide(engine, APP1, end.id, "approve")
    executor.execute(engine, APP1, end.id)
    assert registry.get_version(engine, v3).status == "archived" and not registry.aliases(engine, "churn").challengers
    to_v2 = rollout.request_rollback(engine, ANA, "churn", "back to v2", to_version_id=v2)
    approvals.decide(engine, APP1, to_v2.id, "approve")
    executor.execute(engine, APP1, to_v2.id)
    assert registry.aliases(engine, "churn").champion.id == v2 and _champions(engine) == (1, 1)


def test_plans_that_cannot_run(engine, churn):
    v1, v2, _ = churn
    assert not rollout.plan(engine, _approved(engine, "promote", v1)).executable  # already the champion
    with pytest.raises(InvalidInput, match="no earlier champion"):
        rollout.request_rollback(engine, ANA, "churn", "nothing to go back to")
    bad = _approved(engine, "canary", v2, {"stage": "canary", "traffic_share": 1.5})
    assert "between 0 and 100%" in rollout.plan(engine, bad).blocker
    with pytest.raises(Conflict, match="cannot be executed now"):
        executor.execute(engine, APP1, bad)
    assert approvals.get_request(engine, bad).request.status == "approved"  # nothing happened
    # a retrain request runs its training job through the same executor: this one names no window
    with pytest.raises(InvalidInput, match="does not say what to train"):
        executor.execute(engine, APP1, _approved(engine, "retrain", "churn", {"base_version_id": v1}))


def test_stop_experiment_is_executed_by_the_same_executor(engine, churn):
    with write_session(engine) as session:
        session.add(Experiment(key="exp-1", name="Exp", status="running", start_at=T0, primary_metric="m",
                               variants=[{"key": "control"}, {"key": "treatment"}]))  # fmt: skip
    rid = _approved(engine, "stop-experiment", "exp-1")
    assert executor.preview(engine, rid).steps[0].startswith("Experiment exp-1 stops")
    done = executor.execute(engine, APP1, rid)
    assert done.request.status == "executed"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM experiment WHERE key = 'exp-1'")).scalar_one() == "stopped"


def _served(engine, version_id: int, n: int, start: datetime, correct_every: int) -> None:
    rng = np.random.default_rng(version_id)
    with write_session(engine) as session:
        for i in range(n):
            rid = f"req-{version_id}-{i}"
            session.add(Prediction(request_id=rid, model_version_id=version_id, ts=start + timedelta(minutes=i),
                                   score=0.9, predicted_label=1,
                                   features={"x": float(rng.normal()), "y": float(rng.normal())}))  # fmt: skip
            session.flush()
            label = int(i % correct_every != 0)  # predicted 1: right unless i is a multiple of correct_every
            session.add(Outcome(request_id=rid, ts=start + timedelta(days=20), actual_label=label))


def test_guard_rails_and_shadow_scores(engine, churn):
    from services.monitoring import alerts

    v1, v2, v3 = churn
    executor.execute(engine, APP1, _approved(engine, "canary", v2, {"stage": "canary", "traffic_share": 0.1}))
    shadow = _approved(engine, "canary", v3, {"stage": "shadow", "traffic_share": 0.0,
                                              "guardrail": rollout.guardrail_condition(0.6, "roc_auc")})  # fmt: skip
    assert any("roc_auc may be at most 0.6 below the champion" in s for s in rollout.plan(engine, shadow).steps)
    executor.execute(engine, APP1, shadow)
    start = registry.list_deployments(engine, "churn")[-1].started_at.replace(tzinfo=UTC) + timedelta(seconds=1)
    _served(engine, v1, 300, start, correct_every=20)  # champion: 95% right
    _served(engine, v2, 300, start, correct_every=3)  # canary: 67% right
    assert rollout.record_shadow_scores(engine, ANA, "churn") == 600
    assert rollout.record_shadow_scores(engine, ANA, "churn") == 0  # once per request
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ShadowScore)).scalar_one() == 600
    checks = {c.version: c for c in rollout.check_guardrails(engine, ANA, "churn", max_drop=0.02, min_rows=200)}
    assert checks[2].breached and checks[2].request_id is not None and "BREACHED" in checks[2].message()
    assert checks[3].enough_data and checks[3].max_drop == 0.6 and checks[3].source == "stage"
    assert checks[3].metric == "roc_auc" and checks[3].champion == pytest.approx(0.5)  # constant champion scores
    assert not checks[3].breached and checks[3].alert_id is None
    assert checks[2].max_drop == 0.02 and checks[2].source == "default" and checks[2].metric == "accuracy"
    # The breach raised an alert (critical, on v2), readable and actionable through services.monitoring.alerts.
    view = alerts.get_alert(engine, checks[2].alert_id)
    assert view.alert.state == "open" and view.alert.model_version_id == v2 and view.rule.severity == "critical"
    evidence = view.alert.evidence
    assert evidence["kind"] == "guardrail" and evidence["rollback_request_id"] == checks[2].request_id
    assert "accuracy" in view.summary and not view.rule.enabled  # never evaluated by the monitoring rules
    assert f"Alert #{checks[2].alert_id} raised" in checks[2].message()
    assert [a.alert.id for a in alerts.list_alerts(engine, "open", "churn")] == [checks[2].alert_id]
    request = approvals.get_request(engine, checks[2].request_id).request
    assert request.kind == "rollback" and request.payload["end_deployment_id"] == checks[2].deployment_id
    assert request.evidence["kind"] == "guardrail" and request.evidence["champion"] == pytest.approx(0.95)
    again = rollout.check_guardrails(engine, ANA, "churn", max_drop=0.02, min_rows=200)
    assert next(c for c in again if c.version == 2).request_id == request.id  # not proposed twice
    assert next(c for c in again if c.version == 2).alert_id == checks[2].alert_id  # nor alerted twice
    assert len(alerts.list_alerts(engine, model_name="churn")) == 1
    assert audit.count_events(engine, audit.AuditFilter(action="alert.open")) == 1
    with pytest.raises(InvalidInput, match="A guard rail is"):
        approvals.request_change(engine, ANA, "canary", v3, "x", {"stage": "canary", "guardrail": {"drop": 1}})
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        approvals.request_change(engine, ANA, "canary", v3, "x", {"stage": "canary", "guardrail": {"max_drop": 2}})
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        rollout.guardrail_condition(-0.1)
    with pytest.raises(InvalidInput, match="watch"):
        rollout.guardrail_condition(0.1, "f1")
    breaches = sum(c.breached for c in checks.values()) + sum(c.breached for c in again)
    assert audit.count_events(engine, audit.AuditFilter(action="rollout.guardrail_breach")) == breaches
    # The scheduled command does the same and exits 1 on a breach (the open alert is not raised again).
    from services.cli.main import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOOPDECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        assert main(["guardrails", "--model", "churn"]) == 1
    assert len(alerts.list_alerts(engine, model_name="churn")) == 1


def test_racing_executions_keep_exactly_one_champion(engine, churn):
    """Two approvers execute the same approved request at once, 50 rounds, alternating a promotion and
    a one-step rollback to v1, while a reader counts champions: one success and one refusal each round,
    never zero or two champions, and every audit event is there."""
    v1, v2, _ = churn
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def reader() -> None:
        while not stop.is_set():
            seen.append(_champions(engine))

    watcher = threading.Thread(target=reader)
    watcher.start()
    executed = 0
    try:
        for round_ in range(50):
            if round_ % 2 == 0:
                rid = _approved(engine, "promote", v2, comment=f"round {round_}")
            else:
                rid = rollout.request_rollback(engine, ANA, "churn", f"round {round_}").id
                approvals.decide(engine, APP1, rid, "approve")
            before = audit.count_events(engine)

            def run(actor, rid=rid):
                try:
                    executor.execute(engine, actor, rid)
                    return "ok"
                except Conflict:
                    return "refused"

            with ThreadPoolExecutor(max_workers=2) as pool:
                outcomes = sorted(pool.map(run, (APP1, APP2)))
            assert outcomes == ["ok", "refused"], round_
            assert audit.count_events(engine) == before + 2  # model.deploy + approval.execute, nothing lost
            executed += 1
    finally:
        stop.set()
        watcher.join()
    assert len(seen) > 50 and set(seen) == {(1, 1)}
    assert audit.count_events(engine, audit.AuditFilter(action="approval.execute")) == executed == 50
    assert audit.verify(engine).intact
    assert len(registry.list_deployments(engine, "churn")) == 51  # nothing overwritten
