"""Four-eyes holds in the services, not only on the page (SQLite and Postgres; issue 13 point 1).

An approved request authorises exactly the change it describes, once: only the governance executor
turns it into a change, executing consumes it, and a direct call of the deployment functions with the
request (any version, stage or share) deploys nothing."""

from __future__ import annotations

import pytest

from services.core import audit, settings
from services.core.db import write_session
from services.core.errors import Conflict, PermissionDenied
from services.governance import approvals, executor
from services.models import registry, rollout
from tests.services.models.test_rollout import ADMIN, APP1, APP2, T0, _approved, _register

REFUSED = (PermissionDenied, Conflict)


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(registry.ARTIFACT_DIR_ENV, str(tmp_path / "artifacts"))
    monkeypatch.setenv(rollout.ROUTING_DIR_ENV, str(tmp_path / "routing"))


@pytest.fixture
def churn(engine) -> list[int]:
    """v1 serving full since T0, v2 and v3 candidates; one approval each kind needs."""
    ids = [_register(engine, s) for s in (0, 1, 2)]
    registry.record_deployment(engine, ADMIN, ids[0], "full", 1.0, started_at=T0, reason="first model")
    settings.set_value(engine, ADMIN, "approvals.required", {k: 1 for k in approvals.KINDS})
    return ids


def _state(engine) -> tuple[int, list[tuple[int, str, float]]]:
    open_rows = [d for d in registry.list_deployments(engine, "churn") if d.ended_at is None]
    return audit.count_events(engine), sorted((d.model_version_id, d.stage, d.traffic_share) for d in open_rows)


def _refused(engine, call) -> None:
    before = _state(engine)
    with pytest.raises(REFUSED), write_session(engine) as session:
        call(session)
    assert _state(engine) == before, "a refused call changed what serves or the audit log"


def test_an_approved_canary_does_not_let_an_approver_make_its_version_champion(engine, churn):
    v1, _, v3 = churn
    rid = _approved(engine, "canary", v3, {"stage": "canary", "traffic_share": 0.05})
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v3, "full", 1.0, approval_request_id=rid))
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v3, "canary", 0.5, approval_request_id=rid))
    _refused(engine, lambda s: registry.deploy_in_session(s, ADMIN, v3, "full", 1.0, approval_request_id=rid))
    # even the change it describes is the executor's to make, not a direct call's
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v3, "canary", 0.05, approval_request_id=rid))
    assert registry.aliases(engine, "churn").champion.id == v1
    assert approvals.get_request(engine, rid).request.status == "approved"
    done = executor.execute(engine, APP2, rid)
    assert done.request.status == "executed"
    assert _state(engine)[1] == [(v1, "full", 1.0), (v3, "canary", 0.05)]


def test_a_rollback_request_does_not_put_another_version_on_a_canary(engine, churn):
    v1, v2, v3 = churn
    executor.execute(engine, APP2, _approved(engine, "promote", v2, {"stage": "full"}))
    executor.execute(engine, APP2, _approved(engine, "promote", v3, {"stage": "full"}))
    rid = _approved(engine, "rollback", "churn", {"to_version_id": v2, "to_version": 2})
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v1, "canary", 0.5, approval_request_id=rid))
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v1, "full", 1.0, approval_request_id=rid))
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v2, "canary", 0.5, approval_request_id=rid))
    assert registry.aliases(engine, "churn").champion.id == v3
    executor.execute(engine, APP1, rid)
    assert registry.aliases(engine, "churn").champion.id == v2


def test_a_rollback_of_one_canary_ends_that_canary_only(engine, churn):
    v1, v2, v3 = churn
    executor.execute(engine, APP2, _approved(engine, "canary", v2, {"stage": "canary", "traffic_share": 0.1}))
    executor.execute(engine, APP2, _approved(engine, "canary", v3, {"stage": "canary", "traffic_share": 0.1}))
    open_ids = {d.model_version_id: d.id for d in registry.list_deployments(engine, "churn") if d.ended_at is None}
    rid = _approved(engine, "rollback", "churn", {"end_deployment_id": open_ids[v2]})
    _refused(engine, lambda s: registry.end_in_session(s, APP1, open_ids[v3], approval_request_id=rid))
    _refused(engine, lambda s: registry.end_in_session(s, APP1, open_ids[v2], approval_request_id=rid))
    executor.execute(engine, APP1, rid)
    assert sorted(v for v, _, _ in _state(engine)[1]) == [v1, v3]


def test_executing_consumes_the_request(engine, churn):
    v1, v2, _ = churn
    rid = _approved(engine, "canary", v2, {"stage": "canary", "traffic_share": 0.05})
    executor.execute(engine, APP2, rid)
    with pytest.raises(Conflict, match="already executed"):
        executor.execute(engine, APP1, rid)
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v2, "full", 1.0, approval_request_id=rid))
    _refused(engine, lambda s: registry.deploy_in_session(s, APP1, v2, "canary", 0.05, approval_request_id=rid))
    assert registry.aliases(engine, "churn").champion.id == v1
    assert approvals.get_request(engine, rid).request.status == "executed"
