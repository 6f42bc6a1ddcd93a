"""Who still counts, and for how long (SQLite and Postgres; issue 13 point 1): approvals by users later
disabled or demoted below approver stop counting, when deciding and in the executor's re-check;
requests expire (admin setting, default 14 days); a disabled or demoted user's stale actor can do
nothing its account no longer may."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.core import settings, users
from services.core.errors import Conflict, PermissionDenied
from services.core.roles import Actor
from services.core.schema_governance import ApprovalRequest
from services.core.timeutil import utcnow
from services.experiments import lifecycle as experiments
from services.governance import approvals, executor
from tests.services.experiments.test_experiments import T0, register

ROOT = Actor.system("root")


def _person(engine, email: str, role: str) -> Actor:
    view = users.add_user(engine, ROOT, email, role, "a long password")
    return users.current_actor(engine, view.id)


@pytest.fixture
def team(engine) -> dict[str, Actor]:
    people = {n: _person(engine, f"{n}@example.com", r) for n, r in
              (("ana", "analyst"), ("p1", "approver"), ("p2", "approver"), ("p3", "approver"))}  # fmt: skip
    exp = register(engine, actor=people["ana"], key="exp-1")
    experiments.start_experiment(engine, people["ana"], exp.key, at=T0)
    return people


def _stop_request(engine, team, required: int) -> int:
    settings.set_value(engine, ROOT, "approvals.required", {"stop-experiment": required})
    return experiments.request_stop(engine, team["ana"], "exp-1", "guard rail breached").id


@pytest.mark.parametrize("change", ["disable", "demote"])
def test_approvals_by_disabled_or_demoted_users_stop_counting_when_deciding(engine, team, change):
    rid = _stop_request(engine, team, required=2)
    approvals.decide(engine, team["p1"], rid, "approve")
    if change == "disable":
        users.set_disabled(engine, ROOT, team["p1"].user_id, True)
    else:
        users.change_role(engine, ROOT, team["p1"].user_id, "analyst")
    view = approvals.decide(engine, team["p2"], rid, "approve")
    assert view.approvals == 1 and view.request.status == "pending"
    assert approvals.get_request(engine, rid).approvals == 1
    approvals.decide(engine, team["p3"], rid, "approve")
    assert approvals.get_request(engine, rid).request.status == "approved"


@pytest.mark.parametrize("change", ["disable", "demote"])
def test_the_executor_recounts_without_disabled_or_demoted_approvers(engine, team, change):
    rid = _stop_request(engine, team, required=1)
    approvals.decide(engine, team["p1"], rid, "approve")
    assert approvals.get_request(engine, rid).request.status == "approved"
    if change == "disable":
        users.set_disabled(engine, ROOT, team["p1"].user_id, True)
    else:
        users.change_role(engine, ROOT, team["p1"].user_id, "viewer")
    with pytest.raises(Conflict, match="0 of 1"):
        executor.execute(engine, team["p2"], rid)
    assert experiments.get_experiment(engine, "exp-1").status == "running"


def test_a_disabled_or_demoted_users_stale_actor_can_do_nothing(engine, team):
    rid = _stop_request(engine, team, required=1)
    stale_p1, stale_ana = team["p1"], team["ana"]
    users.set_disabled(engine, ROOT, stale_p1.user_id, True)
    with pytest.raises(PermissionDenied, match="disabled"):
        approvals.decide(engine, stale_p1, rid, "approve")
    users.set_disabled(engine, ROOT, stale_ana.user_id, True)
    with pytest.raises(PermissionDenied):
        approvals.cancel(engine, stale_ana, rid)
    with pytest.raises(PermissionDenied):
        experiments.amend_experiment(engine, stale_ana, "exp-1", {"mde": 0.04}, "why")
    users.change_role(engine, ROOT, team["p2"].user_id, "analyst")
    with pytest.raises(PermissionDenied, match="approver"):
        approvals.decide(engine, team["p2"], rid, "approve")  # the actor still says approver; the account no more
    assert approvals.get_request(engine, rid).request.status == "pending"
    approvals.decide(engine, team["p3"], rid, "approve")  # the others are unaffected
    executor.execute(engine, Actor.cli(), rid)  # and so are the shell's and the system's actors
    assert experiments.get_experiment(engine, "exp-1").status == "stopped"


def _age(engine, request_id: int, days: float) -> None:
    table = ApprovalRequest.__table__
    with engine.begin() as conn:
        conn.execute(
            sa.update(table).where(table.c.id == request_id).values(requested_at=utcnow() - timedelta(days=days))
        )


def test_requests_expire(engine, team):
    assert settings.get(engine, "approvals.expiry_days") == 14
    rid = _stop_request(engine, team, required=1)
    _age(engine, rid, 15)
    with pytest.raises(Conflict, match="expired"):
        approvals.decide(engine, team["p1"], rid, "approve")
    assert approvals.get_request(engine, rid).request.status == "expired"
    assert [r.status for r in approvals.list_requests(engine) if r.id == rid] == ["expired"]
    assert [r.id for r in approvals.list_requests(engine, "expired")] == [rid]
    assert approvals.list_requests(engine, "pending") == []
    assert approvals.count_awaiting(engine, team["p1"]) == 0
    # an approved request expires too, and a new request for the same change may be made
    settings.set_value(engine, ROOT, "approvals.expiry_days", 3)
    again = experiments.request_stop(engine, team["ana"], "exp-1", "still breached").id
    approvals.decide(engine, team["p1"], again, "approve")
    _age(engine, again, 4)
    with pytest.raises(Conflict, match="expired"):
        executor.execute(engine, team["p2"], again)
    assert experiments.get_experiment(engine, "exp-1").status == "running"


def test_a_queued_jobs_requester_is_rechecked_when_the_task_runs(engine, team):
    from services.jobs import runner
    from services.jobs.schema import Job

    rid = _stop_request(engine, team, required=1)
    p1 = team["p1"]
    job = Job(kind="demo", requested_by=p1.label, requested_role="approver", requested_user_id=p1.user_id)
    users.set_disabled(engine, ROOT, p1.user_id, True)
    with pytest.raises(PermissionDenied, match="disabled"):
        approvals.decide(engine, runner.actor_of(job, engine), rid, "approve")
    assert approvals.get_request(engine, rid).request.status == "pending"
