"""Experiments service: pre-registration (a started design is frozen; amendments are on the record
with their reason), the role x action table, stopping only through an approved request, conclusion
with an outcome, audit events in the same transaction. Runs on SQLite and Postgres."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.core import audit
from services.core.audit import AuditFilter
from services.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role
from services.experiments import lifecycle as experiments
from services.experiments import readout_service
from services.governance import approvals, executor

ANA = Actor("ana@example.com", Role.analyst)
BEN = Actor("ben@example.com", Role.analyst)
APPROVER = Actor("priya@example.com", Role.approver)
VIEWER = Actor("vic@example.com", Role.viewer)
ROOT = Actor("root@example.com", Role.admin)
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _variants(shares=(0.5, 0.5)):
    keys = ["control", "treatment", "treatment-2"][: len(shares)]
    return [{"key": k, "allocation": s, "model_version_id": None} for k, s in zip(keys, shares, strict=True)]


def _stop(engine, key: str) -> None:
    """Stop a running experiment the four-eyes way: requested, approved, executed."""
    request = experiments.request_stop(engine, ANA, key, "enough data")
    approvals.decide(engine, APPROVER, request.id, "approve")
    executor.execute(engine, APPROVER, request.id)


def register(engine, actor: Actor = ANA, key: str = "exp-1", **kw):
    args: dict[str, Any] = dict(
        name="Offer",
        hypothesis="The offer keeps customers",
        variants=_variants(),
        primary_metric="retained_30d",
        secondary_metrics=["revenue_30d"],
        guardrail_metrics=[{"metric": "support_contacts", "bad_direction": "increase"}],
        metric_type="conversion",
        mde=0.03,
        alpha=0.05,
        power=0.8,
        planned_sample_size=7320,
        stopping_rule="fixed",
        design={"baseline": 0.7, "daily_traffic": 1000},
    )
    args.update(kw)
    return experiments.register_experiment(engine, actor, key, **args)


def events(engine, action: str) -> list[dict[str, Any]]:
    frame = audit.list_events(engine, AuditFilter(action=action))
    return [json.loads(p) for p in frame["payload"]]


# --- pre-registration ------------------------------------------------------------------------------


def test_a_draft_can_be_edited_and_a_started_design_is_frozen(engine):
    exp = register(engine)
    assert exp.status == "draft" and exp.design == {"baseline": 0.7, "daily_traffic": 1000}
    edited = experiments.update_draft(engine, ANA, "exp-1", {"planned_sample_size": 8000, "hypothesis": "Sharper"})
    assert edited.planned_sample_size == 8000
    [edit] = events(engine, "experiment.edit")
    assert edit["before"] == {"planned_sample_size": 7320, "hypothesis": "The offer keeps customers"}
    assert edit["after"] == {"planned_sample_size": 8000, "hypothesis": "Sharper"}

    started = experiments.start_experiment(engine, ANA, exp.id, at=T0)
    assert started.status == "running" and started.start_at.replace(tzinfo=UTC) == T0
    before = audit.count_events(engine)
    for changes in ({"planned_sample_size": 100}, {"mde": 0.01}, {"primary_metric": "revenue_30d"}):
        with pytest.raises(Conflict, match="frozen"):
            experiments.update_draft(engine, ANA, "exp-1", changes)
    with pytest.raises(Conflict, match="already exists"):
        register(engine)
    assert audit.count_events(engine) == before  # refused edits write nothing
    assert experiments.get_experiment(engine, "exp-1").planned_sample_size == 8000


def test_an_amendment_needs_a_reason_and_is_recorded_with_before_and_after(engine):
    exp = register(engine)
    with pytest.raises(InvalidInput, match="draft"):
        experiments.amend_experiment(engine, ANA, exp.key, {"mde": 0.05}, "too early")
    experiments.start_experiment(engine, ANA, exp.key, at=T0)
    for reason in ("", "   "):
        with pytest.raises(InvalidInput, match="reason"):
            experiments.amend_experiment(engine, ANA, exp.key, {"planned_sample_size": 9000}, reason)
    with pytest.raises(InvalidInput, match="allocation only"):
        experiments.amend_experiment(engine, ANA, exp.key, {"variants": _variants((0.4, 0.3, 0.3))}, "add an arm")
    with pytest.raises(InvalidInput, match="start time"):
        experiments.amend_experiment(engine, ANA, exp.key, {"start_at": T0 + timedelta(days=1)}, "moved")
    with pytest.raises(InvalidInput, match="Nothing to amend"):
        experiments.amend_experiment(engine, ANA, exp.key, {"planned_sample_size": 7320}, "same")
    with pytest.raises(InvalidInput, match="cannot be changed"):
        experiments.amend_experiment(engine, ANA, exp.key, {"status": "concluded"}, "sneaky")

    amended = experiments.amend_experiment(
        engine, BEN, exp.key, {"planned_sample_size": 9000, "variants": _variants((0.4, 0.6))},
        "traffic was lower than planned; a 40/60 split reaches the sample in time",
    )  # fmt: skip
    assert amended.planned_sample_size == 9000 and [v["allocation"] for v in amended.variants] == [0.4, 0.6]
    [amend] = events(engine, "experiment.amend")
    assert amend["reason"].startswith("traffic was lower")
    assert amend["before"]["planned_sample_size"] == 7320 and amend["after"]["planned_sample_size"] == 9000
    assert [v["allocation"] for v in amend["before"]["variants"]] == [0.5, 0.5]
    row = audit.list_events(engine, AuditFilter(action="experiment.amend")).iloc[0]
    assert row["actor"] == BEN.label and row["subject_id"] == str(exp.id)

    _stop(engine, exp.key)
    experiments.conclude(engine, ANA, exp.key, "Ship it", outcome="ship")
    with pytest.raises(Conflict, match="concluded"):
        experiments.amend_experiment(engine, ANA, exp.key, {"planned_sample_size": 1}, "after the fact")
    assert audit.verify(engine).intact


def test_register_validates_like_before(engine):
    with pytest.raises(InvalidInput, match="key"):
        register(engine, key="Bad Key")
    with pytest.raises(InvalidInput, match="add up to 1"):
        register(engine, variants=_variants((0.6, 0.6)))
    with pytest.raises(NotFound):
        register(engine, variants=[{"key": "a", "allocation": 0.5, "model_version_id": 999},
                                   {"key": "b", "allocation": 0.5}])  # fmt: skip
    with pytest.raises(InvalidInput, match="design record"):
        register(engine, design=["not", "a", "mapping"])
    assert experiments.list_experiments(engine) == []


# --- stopping through approvals -------------------------------------------------------------------


def test_stop_only_through_an_approved_request_in_one_transaction(engine):
    exp = register(engine)
    with pytest.raises(Conflict, match="running"):
        experiments.request_stop(engine, ANA, exp.key, "guardrail")
    experiments.start_experiment(engine, ANA, exp.key, at=T0)
    with pytest.raises(InvalidInput, match="approval request"):
        experiments.set_status(engine, ANA, exp.key, "stopped")
    evidence = {"alerts": [{"kind": "guardrail", "message": "support_contacts worse"}]}
    request = experiments.request_stop(engine, ANA, exp.key, "support contacts are up", evidence)
    assert request.kind == "stop-experiment" and request.subject_id == exp.key and request.evidence == evidence
    with pytest.raises(Conflict, match="pending"):
        executor.execute(engine, APPROVER, request.id)
    approvals.decide(engine, APPROVER, request.id, "approve", "agreed")
    with pytest.raises(NotFound):
        executor.execute(engine, APPROVER, 9999)

    before = audit.count_events(engine)
    executor.execute(engine, APPROVER, request.id)  # the governance executor, as every page and the shell
    stopped = experiments.get_experiment(engine, exp.key)
    assert stopped.status == "stopped" and stopped.end_at is not None
    assert approvals.get_request(engine, request.id).request.status == "executed"
    assert audit.count_events(engine) == before + 2
    last = audit.list_events(engine, limit=2)
    assert list(last["action"]) == ["approval.execute", "experiment.stop"]
    assert json.loads(last.iloc[1]["payload"])["request_id"] == request.id
    with pytest.raises(Conflict):
        executor.execute(engine, APPROVER, request.id)
    assert [r.id for r in experiments.stop_requests(engine, exp.key)] == [request.id]

    with pytest.raises(InvalidInput, match="comment"):
        experiments.set_status(engine, ANA, exp.key, "running")
    resumed = experiments.set_status(engine, ANA, exp.key, "running", comment="logging fixed")
    assert resumed.status == "running" and resumed.end_at is None
    assert audit.verify(engine).intact


def test_an_amendment_after_approval_resets_it(engine):
    exp = register(engine)
    experiments.start_experiment(engine, ANA, exp.key)
    request = experiments.request_stop(engine, ANA, exp.key, "SRM")
    approvals.decide(engine, APPROVER, request.id, "approve")
    experiments.amend_experiment(engine, ANA, exp.key, {"planned_sample_size": 12000}, "more power")
    with pytest.raises(Conflict, match="reset"):
        executor.execute(engine, APPROVER, request.id)
    assert experiments.get_experiment(engine, exp.key).status == "running"
    assert approvals.get_request(engine, request.id).request.status == "pending"


def test_conclude_records_outcome_and_rationale(engine):
    exp = register(engine)
    experiments.start_experiment(engine, ANA, exp.key, at=T0)
    with pytest.raises(InvalidInput, match="outcome"):
        experiments.conclude(engine, ANA, exp.key, "hmm", outcome="maybe")
    with pytest.raises(InvalidInput, match="decision"):
        experiments.conclude(engine, ANA, exp.key, " ", outcome="ship")
    request = experiments.request_stop(engine, ANA, exp.key, "enough data")
    approvals.decide(engine, APPROVER, request.id, "approve")
    # an approver concludes the running experiment: its approved stop is executed first
    done = experiments.conclude(engine, APPROVER, exp.key, "Retention up 5%; ship to all flagged customers.",
                                at=T0 + timedelta(days=30), outcome="win")  # fmt: skip
    assert done.status == "concluded" and done.outcome == "ship" and done.decision.startswith("Retention")
    [event] = events(engine, "experiment.conclude")
    assert event["outcome"] == "ship" and event["from"] == "stopped"
    with pytest.raises(Conflict):
        experiments.start_experiment(engine, ANA, exp.key)
    history = experiments.history(engine, exp.key)
    assert list(history["action"]) == [
        "experiment.conclude", "experiment.stop", "experiment.status", "experiment.register",
    ]  # fmt: skip


# --- who may do what -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    minimum: Role
    run: Callable[[Any, Actor, dict], Any]
    state: str = "draft"  # draft, running, requested / approved (running with a stop request), stopped


def _setup(engine, state: str, key: str) -> dict:
    exp = register(engine, actor=ROOT, key=key)
    out = {"key": exp.key, "id": exp.id}
    if state in ("running", "requested", "approved", "stopped"):
        experiments.start_experiment(engine, ROOT, exp.key, at=T0)
    if state in ("requested", "approved", "stopped"):
        out["request_id"] = experiments.request_stop(engine, ROOT, exp.key, "guardrail").id
    if state in ("approved", "stopped"):
        approvals.decide(engine, APPROVER, out["request_id"], "approve")
    if state == "stopped":
        executor.execute(engine, ROOT, out["request_id"])
    return out


ACTIONS = [
    Action("read the list", Role.viewer, lambda e, a, s: experiments.list_experiments(e)),
    Action("read the readout", Role.viewer, lambda e, a, s: readout_service.read_experiment(e, s["key"]), "running"),
    Action("register", Role.analyst, lambda e, a, s: register(e, actor=a, key=f"new-{a.role.name}")),
    Action("edit a draft", Role.analyst, lambda e, a, s: experiments.update_draft(e, a, s["key"], {"mde": 0.04})),
    Action("start", Role.analyst, lambda e, a, s: experiments.start_experiment(e, a, s["key"])),
    Action(
        "amend",
        Role.analyst,
        lambda e, a, s: experiments.amend_experiment(e, a, s["key"], {"mde": 0.04}, "why"),
        "running",
    ),  # fmt: skip
    Action("propose a stop", Role.analyst, lambda e, a, s: experiments.request_stop(e, a, s["key"], "why"), "running"),
    Action(
        "approve a stop", Role.approver, lambda e, a, s: approvals.decide(e, a, s["request_id"], "approve"), "requested"
    ),  # fmt: skip
    Action(
        "execute an approved stop",
        Role.approver,  # the kind's role, the same from every page and the shell
        lambda e, a, s: executor.execute(e, a, s["request_id"]),
        "approved",
    ),  # fmt: skip
    Action(
        "resume",
        Role.analyst,
        lambda e, a, s: experiments.set_status(e, a, s["key"], "running", comment="fixed"),
        "stopped",
    ),  # fmt: skip
    Action(
        "conclude",
        Role.analyst,
        lambda e, a, s: experiments.conclude(e, a, s["key"], "done", outcome="iterate"),
        "stopped",  # a running one needs an approved stop first (test_conclude_approval.py)
    ),  # fmt: skip
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_role_table(engine, action: Action):
    """Every action against every role (one database per action, one experiment per role)."""
    for role in Role:
        subject = _setup(engine, action.state, key=f"roles-{role.name}")
        actor = Actor(f"{role.name}@example.com", role)
        before = audit.count_events(engine)
        if role >= action.minimum:
            action.run(engine, actor, subject)
        else:
            with pytest.raises(PermissionDenied, match=action.minimum.name):
                action.run(engine, actor, subject)
            assert audit.count_events(engine) == before, f"{role.name}: a refused {action.name} wrote an event"
