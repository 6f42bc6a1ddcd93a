"""Concluding a running experiment stops it, so it needs the same approval as stopping it (SQLite and
Postgres; issue 13 point 1): an approved stop request that the governance executor carries out (and
consumes). Concluding a stopped experiment stays an analyst's act."""

from __future__ import annotations

import pytest

from services.core import audit
from services.core.errors import Conflict, PermissionDenied
from services.core.roles import Actor, Role
from services.experiments import lifecycle as experiments
from services.governance import approvals, executor
from tests.services.experiments.test_experiments import ANA, APPROVER, T0, register

APPROVER2 = Actor("omar@example.com", Role.approver)
ADMIN_PERSON = Actor("root@example.com", Role.admin, user_id=1)
REFUSED = (PermissionDenied, Conflict)


def _running(engine, key: str = "exp-1") -> str:
    exp = register(engine, key=key)
    experiments.start_experiment(engine, ANA, exp.key, at=T0)
    return exp.key


@pytest.mark.parametrize("who", [ANA, APPROVER, ADMIN_PERSON], ids=lambda a: a.role.name)
def test_concluding_a_running_experiment_without_an_approved_stop_is_refused(engine, who):
    key = _running(engine)
    before = audit.count_events(engine)
    with pytest.raises(REFUSED, match="stop"):
        experiments.conclude(engine, who, key, "Ship it", outcome="ship")
    assert experiments.get_experiment(engine, key).status == "running"
    assert audit.count_events(engine) == before
    # a pending stop request does not count either
    request = experiments.request_stop(engine, ANA, key, "guard rail breached")
    with pytest.raises(REFUSED):
        experiments.conclude(engine, who, key, "Ship it", outcome="ship")
    assert experiments.get_experiment(engine, key).status == "running"
    assert approvals.get_request(engine, request.id).request.status == "pending"


def test_an_approved_stop_lets_an_approver_conclude_and_is_consumed(engine):
    key = _running(engine)
    request = experiments.request_stop(engine, ANA, key, "guard rail breached")
    approvals.decide(engine, APPROVER, request.id, "approve")
    with pytest.raises(PermissionDenied):  # executing the stop is an approver's, as from the Approvals page
        experiments.conclude(engine, ANA, key, "Ship it", outcome="ship")
    assert experiments.get_experiment(engine, key).status == "running"
    done = experiments.conclude(engine, APPROVER2, key, "Ship it", outcome="ship")
    assert done.status == "concluded" and done.end_at is not None
    assert approvals.get_request(engine, request.id).request.status == "executed"
    with pytest.raises(Conflict, match="already executed"):
        executor.execute(engine, APPROVER2, request.id)
    actions = audit.list_events(engine, limit=3)["action"].tolist()
    assert actions[:3] == ["experiment.conclude", "approval.execute", "experiment.stop"]


def test_concluding_a_stopped_experiment_is_as_before(engine):
    key = _running(engine)
    request = experiments.request_stop(engine, ANA, key, "enough data")
    approvals.decide(engine, APPROVER, request.id, "approve")
    executor.execute(engine, APPROVER, request.id)
    done = experiments.conclude(engine, ANA, key, "Flat; iterate", outcome="iterate")
    assert done.status == "concluded" and done.outcome == "iterate"
