"""The loop closes (SQLite and Postgres): an auto-retrain rule files a retrain request by itself through the
worker, with the alert as evidence, still needing four-eyes; asking again from the alert links the open
request; a model with an external retraining pipeline gets a signed webhook with the window and the
feedback training-set version instead of a local fit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.core import audit
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, SelfApprovalError
from services.core.roles import Actor, Role
from services.core.schema_governance import ApprovalRequest
from services.core.schema_monitoring import Alert, AlertRule
from services.governance import approvals, executor
from services.jobs import queue, transport
from services.models import alert_retrain, external, external_pipeline, registry, retraining
from services.monitoring import alerts, frames
from services.notify import delivery
from tests.services.models.test_retraining import (  # noqa: F401  (artifacts: the autouse fixture)
    ANA,
    APP,
    WINDOW,
    _label_feedback,
    _setup,
    artifacts,
)
from tests.services.monitoring.test_monitoring import synthetic
from tests.services.notify.test_notify_webhooks import SECRET, Receiver
from worker.main import Worker

ADMIN = Actor("root@test.io", Role.admin)


@pytest.fixture(autouse=True)
def _fresh_caches():
    frames.clear_caches()
    yield
    frames.clear_caches()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _alert(engine, version_id: int, auto: bool = False) -> int:
    with write_session(engine) as session:
        rule = AlertRule(name="mobile accuracy", model_name="churn", metric="accuracy", threshold=0.8,
                         auto_retrain=auto)  # fmt: skip
        session.add(rule)
        session.flush()
        window = {"start": "2026-09-01", "end": "2026-09-07"}
        alert = Alert(rule_id=rule.id, model_version_id=version_id, value=0.71,
                      window_end=datetime(2026, 9, 8, tzinfo=UTC),
                      evidence={"model": "churn", "model_version": 1, "window": window})  # fmt: skip
        session.add(alert)
        session.flush()
        return alert.id


def test_an_auto_retrain_rule_files_its_request_through_the_worker(engine):
    if engine.dialect.name == "postgresql":
        transport.ensure_procrastinate_schema(engine)
    synthetic(engine, days=24, per_day=150, shift_day=16)
    auto = alerts.create_rule(engine, ANA, name="ios accuracy", model_name="churn", metric="accuracy",
                              threshold=0.66, window="7d", cohort={"platform": "ios"}, auto_retrain=True)  # fmt: skip
    plain = alerts.create_rule(engine, ANA, name="x drifts on ios", model_name="churn", metric="drift:x",
                               threshold=0.1, window="7d", cohort={"platform": "ios"})  # fmt: skip
    assert auto.auto_retrain and not plain.auto_retrain
    opened = {a.rule_id: a for a in alerts.evaluate_rules(engine, ANA)}
    assert set(opened) == {auto.id, plain.id}
    [job] = queue.list_jobs(engine, kind="models.alert_retrain")
    assert job.payload == {"alert_id": opened[auto.id].id} and job.requested_by == alerts.ALERT_ACTOR.label

    Worker(engine, None, 30.0, 1.0).run_once()
    assert queue.get(engine, job.id).status == "succeeded"
    [request] = approvals.list_requests(engine)
    alert_id = opened[auto.id].id
    assert request.kind == "retrain" and request.status == "pending" and request.subject_id == "churn"
    assert request.payload["trigger"] == f"alert:{alert_id}" and request.requested_by == "system:alert-rules"
    assert request.evidence["alert_id"] == alert_id and request.evidence["evidence"]["cohort"] == {"platform": "ios"}
    # The page's "Request retraining" on the same alert links to the open request instead of a duplicate.
    again = alert_retrain.request_for_alert(engine, ANA, alert_id)
    assert not again.created and again.request.id == request.id and f"#{request.id}" in again.message
    assert "alert_rule.create" in set(audit.list_events(engine)["action"])

    # Opting out: later alerts of the rule queue nothing.
    alerts.set_rule_auto_retrain(engine, ANA, auto.id, False)
    assert alert_retrain.file_for_alert(engine, ANA, alert_id) is None


def test_request_retraining_from_an_alert_keeps_the_trigger_and_needs_four_eyes(engine):
    base = _setup(engine)
    alert_id = _alert(engine, base)
    with pytest.raises(PermissionDenied):
        alert_retrain.request_for_alert(engine, Actor("vic@test.io", Role.viewer), alert_id)
    filed = alert_retrain.request_for_alert(engine, ANA, alert_id)
    assert filed.created and filed.request.payload["trigger"] == f"alert:{alert_id}"
    assert filed.request.payload["base_version_id"] == base and "accuracy = 0.71" in filed.request.comment
    assert filed.request.payload["train_to"].startswith("2026-09-08")
    with pytest.raises(SelfApprovalError):
        approvals.decide(engine, Actor(ANA.label, Role.approver), filed.request.id, "approve")
    second = alert_retrain.request_for_alert(engine, Actor("bo@test.io", Role.analyst), alert_id)
    assert not second.created and second.request.id == filed.request.id
    with write_session(engine) as session:
        assert session.exec(sa.select(sa.func.count()).select_from(ApprovalRequest)).scalar_one() == 1


def test_an_external_pipeline_gets_the_signed_window_and_training_set_instead_of_a_fit(engine, receiver):
    base = _setup(engine)
    with pytest.raises(PermissionDenied):
        external_pipeline.set_pipeline(engine, ANA, "churn", receiver.url, SECRET, allow_private=True)
    with pytest.raises(InvalidInput, match="http"):
        external_pipeline.set_pipeline(engine, ADMIN, "churn", "ftp://example.com/x", SECRET)
    with pytest.raises(InvalidInput, match="private"):
        external_pipeline.set_pipeline(engine, ADMIN, "churn", receiver.url, SECRET)
    with pytest.raises(InvalidInput, match="16"):
        external_pipeline.set_pipeline(engine, ADMIN, "churn", receiver.url, "short", allow_private=True)
    view, secret = external_pipeline.set_pipeline(engine, ADMIN, "churn", receiver.url, SECRET, allow_private=True)
    assert secret == SECRET and view.url == receiver.url and not hasattr(view, "secret")
    assert SECRET not in str(audit.list_events(engine)["payload"].tolist())

    dataset_id = _label_feedback(engine, ["req-00001", "req-00002"], [1, 0])
    alert_id = _alert(engine, base)
    request = retraining.request_retrain(engine, ANA, base, *WINDOW, dataset_id, trigger=f"alert:{alert_id}",
                                         comment="iOS accuracy fell")  # fmt: skip
    approvals.decide(engine, APP, request.id, "approve")
    assert "external pipeline" in executor.preview(engine, request.id).steps[0]
    run = retraining.retrain_from_request(engine, ANA, request.id)
    assert isinstance(run, external_pipeline.ExternalRun) and "external retraining pipeline" in run.summary()
    done = approvals.get_request(engine, request.id).request
    assert done.status == "executed" and done.result["trigger"] == f"alert:{alert_id}"
    assert [v.version for v in registry.list_versions(engine, "churn")] == [1]  # nothing fitted here
    assert delivery.deliver_due(engine)["delivered"] == 1
    [got] = receiver.requests
    data = got["body"]["data"]
    assert got["valid"] and got["event"] == "retrain.external"
    assert data["training_window"] == {"start": WINDOW[0].isoformat(), "end": WINDOW[1].isoformat(),
                                       "end_exclusive": True}  # fmt: skip
    assert data["feedback_training_set"]["id"] == dataset_id and data["feedback_training_set"]["version"] == 1
    assert data["trigger"] == f"alert:{alert_id}" and data["alert_id"] == alert_id
    assert data["register"]["path"] == "/api/v1/models/churn/versions" and data["request_id"] == request.id
    assert data["register"]["body"] == {"retrain_request_id": request.id}

    # The pipeline registers what it trained, naming the request: the version records it as its trigger.
    pipeline = Actor("token:pipeline", Role.analyst)
    trained = external.ExternalVersion(feature_schema={"x": "numeric"}, metrics={"accuracy": 0.9},
                                       retrain_request_id=request.id)  # fmt: skip
    version = external.register_external_version(engine, pipeline, "churn", trained)
    assert version.trigger == f"retrain request #{request.id}, alert #{alert_id}" and version.parent_id == base
    assert version.training_data["approval_request_id"] == request.id
    assert version.training_data["request_trigger"] == f"alert:{alert_id}"
    with pytest.raises(Conflict, match="already has its version"):  # one request, one version
        external.register_external_version(engine, pipeline, "churn", trained)
    with pytest.raises(NotFound):  # a request of another model (or none) cannot be named
        external.register_external_version(engine, pipeline, "fraud", trained)
    pending = retraining.request_retrain(engine, ANA, base, *WINDOW, dataset_id, comment="again")
    with pytest.raises(InvalidInput, match="was not sent"):
        external.register_external_version(engine, pipeline, "churn", replace(trained, retrain_request_id=pending.id))
    assert [v.trigger for v in registry.list_versions(engine, "churn")][-1] == version.trigger
    plain = external.register_external_version(engine, pipeline, "churn", replace(trained, retrain_request_id=None))
    assert plain.trigger == "external" and plain.parent_id is None
    external_pipeline.remove_pipeline(engine, ADMIN, "churn")
    assert external_pipeline.get_pipeline(engine, "churn") is None
