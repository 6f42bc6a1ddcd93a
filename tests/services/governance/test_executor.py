"""The one executor of approved requests (services.governance.executor): the two defects it removed.

1. An executed stop-experiment request recorded no executed_by, executed_at or result, and its
   hand-written execution skipped the re-check that the valid approvals still reach the required number.
2. The same approved stop request needed the approver role on the Approvals page but only analyst on
   the Experiments page.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.core.db import write_session
from services.core.errors import Conflict, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_experiments import Experiment
from services.core.schema_governance import ApprovalDecision
from services.experiments import lifecycle as experiments
from services.governance import approvals, executor

ANA = Actor("ana@example.com", Role.analyst)
BEN = Actor("ben@example.com", Role.analyst)
APPROVER = Actor("priya@example.com", Role.approver)
APPROVER2 = Actor("omar@example.com", Role.approver)


def approved_stop(engine, key: str = "exp-1") -> int:
    with write_session(engine) as session:
        session.add(Experiment(key=key, name=key, status="running",
                               variants=[{"key": "control", "allocation": 0.5},
                                         {"key": "treatment", "allocation": 0.5}],
                               primary_metric="conversion"))  # fmt: skip
    request = experiments.request_stop(engine, ANA, key, "guard rail breached")
    approvals.decide(engine, APPROVER, request.id, "approve", "agreed")
    return request.id


# Before the executor, the Approvals page executed a stop through rollout.execute and the Experiments
# page through lifecycle.stop_experiment (the two paths these tests were written against, and failed
# on). Both pages now call the one executor.
def execute_from_approvals_page(engine, actor, request_id):
    return executor.execute(engine, actor, request_id)


def execute_from_experiments_page(engine, actor, request_id):
    return executor.execute(engine, actor, request_id)


@pytest.mark.parametrize("execute", [execute_from_approvals_page, execute_from_experiments_page])
def test_an_executed_stop_request_records_who_when_and_what(engine, execute):
    request_id = approved_stop(engine)
    execute(engine, APPROVER2, request_id)
    row = approvals.get_request(engine, request_id).request
    assert row.status == "executed"
    assert row.executed_by == APPROVER2.label and row.executed_at is not None
    assert row.result and row.result["experiment"] == "exp-1" and row.result["status"] == "stopped"
    assert experiments.get_experiment(engine, "exp-1").status == "stopped"


@pytest.mark.parametrize("execute", [execute_from_approvals_page, execute_from_experiments_page])
def test_a_stop_is_refused_when_the_valid_approvals_fall_short(engine, execute):
    request_id = approved_stop(engine)
    with write_session(engine) as session:  # the one approval stops counting (e.g. found invalid later)
        session.execute(
            sa.update(ApprovalDecision).where(ApprovalDecision.request_id == request_id).values(valid=False)
        )
    with pytest.raises(Conflict, match="0 of 1 approvals"):
        execute(engine, APPROVER2, request_id)
    assert experiments.get_experiment(engine, "exp-1").status == "running"
    assert approvals.get_request(engine, request_id).request.status == "approved"


@pytest.mark.parametrize("execute", [execute_from_approvals_page, execute_from_experiments_page])
def test_executing_a_stop_needs_the_approver_role_from_every_page(engine, execute):
    request_id = approved_stop(engine)
    with pytest.raises(PermissionDenied):
        execute(engine, BEN, request_id)
    assert experiments.get_experiment(engine, "exp-1").status == "running"
    execute(engine, APPROVER2, request_id)
    assert experiments.get_experiment(engine, "exp-1").status == "stopped"
