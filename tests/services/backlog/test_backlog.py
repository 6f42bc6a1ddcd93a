"""Backlog items: create with typed evidence and pre-filled reach, edit and score, the status
machine, close with outcome, role checks, and the audit event of every change (SQLite and Postgres)."""

from datetime import timedelta

import pytest

from services.backlog import evidence as backlog_evidence
from services.backlog import items as backlog
from services.backlog.evidence import EvidenceRef
from services.core import audit
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_feedback import Theme
from services.core.timeutil import utcnow
from services.feedback import themes
from tests.services import factories

ANALYST = Actor("ana@example.com", Role.analyst)
VIEWER = Actor("vic@example.com", Role.viewer)


def test_create_by_hand_scores_with_rice(engine):
    item = backlog.create_item(
        engine, ANALYST, kind="tech_debt", title="  Move drift tests to one pass  ", reach=100, impact=1,
        confidence=0.5, effort=2, owner="ana@example.com",
    )  # fmt: skip
    assert item.title == "Move drift tests to one pass"
    assert item.status == "proposed" and item.scoring == "rice"
    assert item.score == pytest.approx(25.0)
    assert audit.verify(engine).intact


def test_reach_is_prefilled_from_a_cohort_gap(engine):
    mv = factories.model_version(engine)
    factories.predictions(engine, mv, 40, start=utcnow() - timedelta(days=2))  # 20 ios, 20 web
    item = backlog.create_item(
        engine, ANALYST, kind="model_improvement", title="Mobile gap",
        links=[EvidenceRef("cohort_gap", "churn:platform=ios", "ios below the rest",
                           {"field": "platform", "value": "ios"})],
    )  # fmt: skip
    assert item.reach == pytest.approx(20 * 7 / backlog_evidence.REACH_DAYS)
    assert "platform = ios" in item.reach_basis
    detail = backlog.get_item(engine, item.id)
    assert [(e.ref_type, e.ref_id) for e in detail.evidence] == [("cohort_gap", "churn:platform=ios")]


def test_reach_from_a_theme_is_feedback_per_week(engine):
    with write_session(engine) as session:
        theme = Theme(label="slow app", top_terms=["slow"], size=14)
        session.add(theme)
        session.flush()
        theme_id = theme.id
    pks = factories.feedback(engine, 14, rating=1)
    with write_session(engine) as session:
        from services.core.schema_feedback import Feedback

        for pk in pks:
            session.get(Feedback, pk).theme_id = theme_id
    item = themes.create_backlog_item(engine, ANALYST, title="Fix slowness", theme_id=theme_id)
    assert item.source_type == "theme" and item.reach == 14  # the theme's caller passes its item count
    refs = backlog.get_item(engine, item.id).evidence
    assert [(e.ref_type, e.ref_id) for e in refs] == [("theme", str(theme_id))]
    estimate = backlog_evidence.reach_from_evidence(engine, [EvidenceRef("theme", str(theme_id))])
    assert estimate.per_week == pytest.approx(14 * 7 / backlog_evidence.REACH_DAYS)
    assert ("theme", str(theme_id)) in backlog.linked_refs(engine)


def test_edit_recomputes_the_score_and_switches_to_wsjf(engine):
    item = backlog.create_item(engine, ANALYST, kind="data_quality", title="Dedupe events", reach=10, impact=2,
                               confidence=1, effort=4)  # fmt: skip
    assert item.score == pytest.approx(5)
    item = backlog.update_item(engine, ANALYST, item.id, {"effort": 1}, expected_version=item.version)
    assert item.score == pytest.approx(20) and item.version == 2
    item = backlog.update_item(
        engine, ANALYST, item.id,
        {"scoring": "wsjf", "business_value": 5, "time_criticality": 3, "risk_reduction": 2, "job_size": 5},
    )  # fmt: skip
    assert item.score == pytest.approx(2.0)
    with pytest.raises(Conflict):
        backlog.update_item(engine, ANALYST, item.id, {"title": "x"}, expected_version=1)
    with pytest.raises(InvalidInput, match="cannot be edited"):
        backlog.update_item(engine, ANALYST, item.id, {"status": "done"})
    with pytest.raises(InvalidInput, match="title"):
        backlog.update_item(engine, ANALYST, item.id, {"title": "   "})
    events = audit.list_events(engine, audit.AuditFilter(action="backlog.update"))
    assert len(events) == 2


def test_status_machine_and_close_with_outcome(engine):
    item = backlog.create_item(engine, ANALYST, kind="model_improvement", title="Retrain on mobile")
    with pytest.raises(InvalidInput, match="outcome"):
        backlog.transition(engine, ANALYST, item.id, "done")
    with pytest.raises(InvalidInput, match="Only an item in progress"):
        backlog.close(engine, ANALYST, item.id, metric="accuracy", before=0.7, after=0.8)
    item = backlog.transition(engine, ANALYST, item.id, "planned")
    item = backlog.transition(engine, ANALYST, item.id, "in_progress")
    with pytest.raises(InvalidInput, match="metric"):
        backlog.close(engine, ANALYST, item.id, metric=" ", before=0.7, after=0.8)
    item = backlog.close(engine, ANALYST, item.id, metric="accuracy on mobile", before=0.71, after=0.83,
                         note="v3 fixed it")  # fmt: skip
    assert item.status == "done" and item.closed_by == ANALYST.label and item.closed_at is not None
    assert (item.outcome_metric, item.outcome_before, item.outcome_after) == ("accuracy on mobile", 0.71, 0.83)
    with pytest.raises(InvalidInput, match="can move to in_progress"):
        backlog.transition(engine, ANALYST, item.id, "planned")
    item = backlog.transition(engine, ANALYST, item.id, "in_progress")  # reopen
    assert item.closed_at is None
    with pytest.raises(InvalidInput, match="why"):
        backlog.transition(engine, ANALYST, item.id, "dropped")
    item = backlog.transition(engine, ANALYST, item.id, "dropped", comment="superseded")
    assert item.status == "dropped" and item.outcome == {"note": "superseded"}
    detail = backlog.get_item(engine, item.id)
    actions = [e.action for e in detail.history]
    assert actions == ["backlog.status", "backlog.status", "backlog.close", "backlog.status", "backlog.status",
                       "backlog.create"]  # fmt: skip
    assert audit.verify(engine).intact


@pytest.mark.parametrize("status", ["proposed", "planned", "in_progress", "done", "dropped"])
def test_every_transition_in_the_table_is_allowed_and_nothing_else(status):
    for target in backlog.STATUSES:
        allowed = target in backlog.TRANSITIONS[status]
        assert allowed == (target != status and (status, target) in {
            ("proposed", "planned"), ("proposed", "in_progress"), ("proposed", "dropped"),
            ("planned", "proposed"), ("planned", "in_progress"), ("planned", "dropped"),
            ("in_progress", "planned"), ("in_progress", "done"), ("in_progress", "dropped"),
            ("done", "in_progress"), ("dropped", "proposed"),
        })  # fmt: skip


def test_viewers_read_but_cannot_change_anything(engine):
    item = backlog.create_item(engine, ANALYST, kind="tech_debt", title="Pin versions")
    before = audit.count_events(engine)
    for call in (
        lambda: backlog.create_item(engine, VIEWER, kind="tech_debt", title="x"),
        lambda: backlog.update_item(engine, VIEWER, item.id, {"title": "y"}),
        lambda: backlog.transition(engine, VIEWER, item.id, "planned"),
        lambda: backlog.close(engine, VIEWER, item.id, metric="m", before=1, after=2),
        lambda: backlog.add_evidence(engine, VIEWER, item.id, EvidenceRef("alert", "1")),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert audit.count_events(engine) == before
    assert len(backlog.ranked(engine)) == 1  # viewers read
    assert backlog.get_item(engine, item.id).item.title == "Pin versions"


def test_evidence_links_are_typed_and_unique(engine):
    item = backlog.create_item(engine, ANALYST, kind="model_improvement", title="Gate failed")
    backlog.add_evidence(engine, ANALYST, item.id, EvidenceRef("judge_gate", "approval:4", "AUC gate failed"))
    with pytest.raises(Conflict):
        backlog.add_evidence(engine, ANALYST, item.id, EvidenceRef("judge_gate", "approval:4"))
    with pytest.raises(InvalidInput, match="Unknown evidence type"):
        backlog.add_evidence(engine, ANALYST, item.id, EvidenceRef("rumour", "1"))
    evidence = backlog.get_item(engine, item.id).evidence
    backlog.remove_evidence(engine, ANALYST, item.id, evidence[0].id)
    assert backlog.get_item(engine, item.id).evidence == []
    with pytest.raises(NotFound):
        backlog.remove_evidence(engine, ANALYST, item.id, evidence[0].id)


def test_ranked_orders_by_score_and_filters(engine):
    low = backlog.create_item(engine, ANALYST, kind="tech_debt", title="low", reach=1, impact=1, confidence=1, effort=1)
    high = backlog.create_item(engine, ANALYST, kind="data_quality", title="high", reach=9, impact=1, confidence=1,
                               effort=1, owner="o@example.com")  # fmt: skip
    none = backlog.create_item(engine, ANALYST, kind="tech_debt", title="unscored")
    assert [i.id for i in backlog.ranked(engine)] == [high.id, low.id, none.id]
    assert [i.id for i in backlog.ranked(engine, kinds=["tech_debt"])] == [low.id, none.id]
    assert [i.id for i in backlog.ranked(engine, owner="o@example.com")] == [high.id]
    assert backlog.owners(engine) == ["o@example.com"]
    backlog.transition(engine, ANALYST, low.id, "dropped", comment="no")
    flow = backlog.weekly_flow(engine)
    assert flow["created"].sum() == 3 and flow["closed"].sum() == 1
    last = flow.groupby("kind")["open"].last()
    assert last["tech_debt"] == 1 and last["data_quality"] == 1 and last["model_improvement"] == 0
