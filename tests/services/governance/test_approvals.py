"""Four-eyes approvals: self-approval refused for every kind, required counts, reset on change."""

import json

import pytest
import sqlalchemy as sa

from services.core import audit, settings
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput, PermissionDenied, SelfApprovalError
from services.core.roles import Actor, Role
from services.core.schema_experiments import Experiment
from services.core.schema_models import Deployment
from services.governance import approvals, executor
from services.models import registry
from tests.services import factories

ANA = Actor("ana@example.com", Role.analyst)
APP1 = Actor("app1@example.com", Role.approver)
APP2 = Actor("app2@example.com", Role.approver)
ADMIN = Actor("root@example.com", Role.admin)


@pytest.fixture
def subjects(engine):
    mv = factories.model_version(engine)
    with write_session(engine) as session:
        session.add(Experiment(key="exp-1", name="Exp", variants=[{"key": "control"}, {"key": "treatment"}]))
    return {"promote": mv, "canary": mv, "rollback": "churn", "retrain": "churn", "stop-experiment": "exp-1"}


@pytest.mark.parametrize("kind", list(approvals.KINDS))
def test_requester_can_never_decide_their_own_request(engine, subjects, kind):
    for requester in (APP1, ADMIN):  # not even an approver or an admin
        row = approvals.request_change(engine, requester, kind, subjects[kind], "needed")
        for verdict in ("approve", "reject"):
            with pytest.raises(SelfApprovalError):
                approvals.decide(engine, requester, row.id, verdict, "mine")
        approvals.cancel(engine, requester, row.id)


def test_required_counts_default_two_for_promotion(engine, subjects):
    promote = approvals.request_change(engine, ANA, "promote", subjects["promote"], "beats champion")
    view = approvals.decide(engine, APP1, promote.id, "approve")
    assert view.request.status == "pending" and view.approvals == 1 and view.required == 2
    with pytest.raises(Conflict, match="already decided"):
        approvals.decide(engine, APP1, promote.id, "approve")
    view = approvals.decide(engine, APP2, promote.id, "approve")
    assert view.request.status == "approved"
    canary = approvals.request_change(engine, ANA, "canary", subjects["canary"], "try on 10%")
    assert approvals.decide(engine, APP1, canary.id, "approve").request.status == "approved"


def test_admin_sets_required_counts(engine, subjects):
    settings.set_value(engine, ADMIN, "approvals.required", {"promote": 1, "canary": 3})
    assert approvals.required_approvals(engine, "canary") == 3
    row = approvals.request_change(engine, ANA, "promote", subjects["promote"], "go")
    assert approvals.decide(engine, APP1, row.id, "approve").request.status == "approved"
    with pytest.raises(InvalidInput, match="Unknown request kind"):
        settings.set_value(engine, ADMIN, "approvals.required", {"deploy-anything": 1})


def test_a_change_to_the_subject_resets_the_approvals(engine, subjects):
    row = approvals.request_change(engine, ANA, "promote", subjects["promote"], "go")
    approvals.decide(engine, APP1, row.id, "approve")
    with engine.begin() as conn:  # the candidate's metrics change after the first approval
        conn.execute(
            sa.text("UPDATE model_version SET metrics = '{\"auc\": 0.5}' WHERE id = :i"), {"i": subjects["promote"]}
        )
    with pytest.raises(Conflict, match="approvals were reset"):
        approvals.decide(engine, APP2, row.id, "approve")
    view = approvals.get_request(engine, row.id)
    assert view.approvals == 0 and view.request.status == "pending"
    assert [d.valid for d in view.decisions] == [False]
    approvals.decide(engine, APP1, row.id, "approve")  # APP1 looks again and approves the new state
    assert approvals.decide(engine, APP2, row.id, "approve").request.status == "approved"
    assert audit.count_events(engine, audit.AuditFilter(action="approval.reset")) == 1


def test_editing_the_model_card_after_approval_resets_the_approvals(engine, subjects):
    mv = subjects["promote"]
    settings.set_value(engine, ADMIN, "approvals.required", {"promote": 1})
    row = approvals.request_change(engine, ANA, "promote", mv, "go")
    assert approvals.decide(engine, APP1, row.id, "approve").request.status == "approved"
    # an analyst edits the model card through the service after the approval
    registry.update_model_card(engine, ANA, mv, {"known_limitations": "none worth mentioning"})
    assert approvals.refresh(engine, row.id) is True
    view = approvals.get_request(engine, row.id)
    assert view.request.status == "pending" and view.approvals == 0
    assert [d.valid for d in view.decisions] == [False]
    # the approved state can no longer be executed
    with pytest.raises(Conflict, match="only approved"):
        executor.execute(engine, APP2, row.id)
    events = audit.list_events(engine, audit.AuditFilter(action="approval.reset"))
    assert [(e.subject_id, json.loads(e.payload)["invalidated_decisions"]) for e in events.itertuples()] == [
        (str(row.id), 1)
    ]
    # an unchanged card (same text again) is no change: nothing resets
    assert approvals.decide(engine, APP2, row.id, "approve").request.status == "approved"
    registry.update_model_card(engine, ANA, mv, {"known_limitations": "none worth mentioning"})
    assert approvals.refresh(engine, row.id) is False


def test_a_change_to_the_training_data_snapshot_resets_the_approvals(engine, subjects):
    mv = subjects["canary"]
    row = approvals.request_change(engine, ANA, "canary", mv, "try on 10%")
    assert approvals.decide(engine, APP1, row.id, "approve").request.status == "approved"
    with engine.begin() as conn:  # the lineage is rewritten behind the approvers' back
        conn.execute(sa.text("UPDATE model_version SET training_data = '{\"rows\": 1}' WHERE id = :i"), {"i": mv})
    assert approvals.refresh(engine, row.id) is True
    assert approvals.get_request(engine, row.id).request.status == "pending"


def test_a_rollout_in_between_resets_a_rollback_request(engine, subjects):
    row = approvals.request_change(engine, ANA, "rollback", "churn", "v2 hurts mobile")
    with write_session(engine) as session:
        session.add(Deployment(model_version_id=subjects["promote"], stage="full", traffic_share=1.0))
    assert approvals.refresh(engine, row.id) is True
    assert approvals.refresh(engine, row.id) is False


def test_rejection_needs_a_comment_and_closes_the_request(engine, subjects):
    row = approvals.request_change(engine, ANA, "stop-experiment", "exp-1", "guardrail breached")
    with pytest.raises(InvalidInput, match="needs a comment"):
        approvals.decide(engine, APP1, row.id, "reject")
    assert approvals.decide(engine, APP1, row.id, "reject", "not significant yet").request.status == "rejected"
    with pytest.raises(Conflict, match="only pending"):
        approvals.decide(engine, APP2, row.id, "approve")


def test_roles_and_inputs(engine, subjects):
    viewer = Actor("vic@example.com", Role.viewer)
    with pytest.raises(PermissionDenied):
        approvals.request_change(engine, viewer, "promote", subjects["promote"], "x")
    row = approvals.request_change(engine, ANA, "promote", subjects["promote"], "x")
    with pytest.raises(PermissionDenied):
        approvals.decide(engine, Actor("bob@example.com", Role.analyst), row.id, "approve")
    with pytest.raises(Conflict, match="still pending"):
        approvals.request_change(engine, ANA, "promote", subjects["promote"], "again")
    with pytest.raises(InvalidInput, match="needs a comment"):
        approvals.request_change(engine, ANA, "canary", subjects["canary"], "  ")
    with pytest.raises(SelfApprovalError):
        approvals.cancel(engine, Actor("bob@example.com", Role.analyst), row.id)


def test_awaiting_list_for_an_approver(engine, subjects):
    a = approvals.request_change(engine, ANA, "promote", subjects["promote"], "x")
    b = approvals.request_change(engine, APP1, "stop-experiment", "exp-1", "y")
    assert [r.id for r in approvals.list_requests(engine, awaiting=APP1)] == [a.id]
    assert [r.id for r in approvals.list_requests(engine, awaiting=APP2)] == [b.id, a.id]
    assert approvals.count_awaiting(engine, APP1) == 1 and approvals.count_awaiting(engine, APP2) == 2
    assert approvals.count_awaiting(engine, ANA) == 0  # below the approver role
    approvals.decide(engine, APP2, a.id, "approve")
    assert [r.id for r in approvals.list_requests(engine, awaiting=APP2)] == [b.id]
    assert approvals.count_awaiting(engine, APP2) == 1  # decided: no longer counted (promote needs 2)
    approvals.decide(engine, APP2, b.id, "reject", "no")
    assert approvals.count_awaiting(engine, APP2) == 0 and approvals.count_awaiting(engine, APP1) == 1


def test_racing_approvers_produce_one_consistent_outcome(engine, subjects):
    """Two approvers approve at once, 20 rounds: the row lock lets both count, never a lost decision."""
    from concurrent.futures import ThreadPoolExecutor

    settings.set_value(engine, ADMIN, "approvals.required", {"canary": 2})
    for _ in range(20):
        row = approvals.request_change(engine, ANA, "canary", subjects["canary"], "race")
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda who, rid=row.id: approvals.decide(engine, who, rid, "approve"), (APP1, APP2)))
        view = approvals.get_request(engine, row.id)
        assert view.approvals == 2 and view.request.status == "approved"
        approvals.cancel(engine, ANA, row.id)
    assert audit.verify(engine).intact
