"""Feedback triage services: transitions, bulk atomicity, optimistic versions, SLA, assignment, roles."""

import pytest

from services import audit, feedback, settings, users
from services.errors import Conflict, InvalidInput, PermissionDenied
from services.feedback import Edit, Patch, QueueFilter
from services.roles import Actor, Role
from tests.services import factories

ANA = Actor("ana@example.com", Role.analyst)
BOB = Actor("bob@example.com", Role.analyst)
ADMIN = Actor("root@example.com", Role.admin)


@pytest.fixture
def queue(engine):
    """Six predictions on one model, ten feedback items linked to them, two analysts and a viewer."""
    mv = factories.model_version(engine)
    request_ids = factories.predictions(engine, mv, 6)
    factories.outcome(engine, request_ids[0], 1)
    pks = factories.feedback(engine, 10, request_ids)
    for email, role in [("ana@example.com", "analyst"), ("bob@example.com", "analyst"), ("vic@example.com", "viewer")]:
        users.add_user(engine, ADMIN, email, role, "password-123")
    return pks


def versions(engine, pks):
    page = feedback.list_queue(engine, limit=1000)
    current = dict(zip(page.rows["id"], page.rows["version"], strict=True))
    return {pk: int(current[pk]) for pk in pks}


def test_queue_joins_prediction_outcome_and_cohorts(engine, queue):
    page = feedback.list_queue(engine)
    assert page.total == 10 and len(page.rows) == 10
    row = page.rows.set_index("id").loc[queue[0]]
    assert row["model_name"] == "churn" and row["model_version"] == 1
    assert row["actual_label"] == 1 and row["status"] == "new"
    assert "cohort_platform" in page.rows.columns
    assert set(page.rows["cohort_platform"]) == {"web", "ios"}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (QueueFilter(ratings=(1,)), 2),
        (QueueFilter(text="number 3"), 1),
        (QueueFilter(text="NUMBER"), 10),
        (QueueFilter(cohort=(("platform", "ios"),)), 5),
        (QueueFilter(has_outcome=True), 2),
        (QueueFilter(statuses=("labelled",)), 0),
        (QueueFilter(assignee=feedback.UNASSIGNED), 10),
    ],
)
def test_filters(engine, queue, flt, expected):
    assert feedback.list_queue(engine, flt).total == expected


def test_sorts_and_paging(engine, queue):
    newest = feedback.list_queue(engine, sort="newest", limit=3)
    oldest = feedback.list_queue(engine, sort="oldest", limit=3)
    assert newest.rows["ts"].is_monotonic_decreasing and oldest.rows["ts"].is_monotonic_increasing
    second = feedback.list_queue(engine, sort="newest", limit=3, offset=3)
    assert not set(second.rows["id"]) & set(newest.rows["id"])
    with pytest.raises(InvalidInput, match="Unknown sort"):
        feedback.list_queue(engine, sort="random")


def test_allowed_and_refused_transitions(engine, queue):
    pk = queue[0]
    feedback.update_items(engine, ANA, versions(engine, [pk]), Patch(status="in_review"))
    with pytest.raises(InvalidInput, match="needs a corrected label"):
        feedback.update_items(engine, ANA, versions(engine, [pk]), Patch(status="labelled"))
    feedback.update_items(engine, ANA, versions(engine, [pk]), Patch(status="labelled", corrected_label=1))
    with pytest.raises(InvalidInput, match="cannot move from labelled to dismissed"):
        feedback.update_items(engine, ANA, versions(engine, [pk]), Patch(status="dismissed"))
    feedback.update_items(engine, ANA, versions(engine, [pk]), Patch(status="in_review"))
    feedback.update_items(engine, ANA, versions(engine, [pk]), Patch(status="dismissed"))
    with pytest.raises(InvalidInput, match="cannot move from dismissed to labelled"):
        feedback.update_items(engine, ANA, versions(engine, [pk]), Patch(status="labelled", corrected_label=0))
    detail = feedback.get_item(engine, pk)
    assert detail.item["status"] == "dismissed" and detail.item["corrected_label"] == 1
    assert detail.item["label_set_by"] == "ana@example.com"


def test_bulk_update_is_atomic(engine, queue):
    """One item cannot move (it is dismissed): nothing changes, no audit event."""
    feedback.update_items(engine, ANA, versions(engine, [queue[9]]), Patch(status="dismissed"))
    before_events = audit.count_events(engine)
    with pytest.raises(InvalidInput, match="1 item\\(s\\) cannot be changed"):
        feedback.update_items(engine, ANA, versions(engine, queue), Patch(status="escalated", priority="high"))
    page = feedback.list_queue(engine, limit=100)
    assert set(page.rows["status"]) == {"new", "dismissed"}
    assert set(page.rows["priority"]) == {"normal"}
    assert audit.count_events(engine) == before_events


def test_bulk_update_writes_one_audit_event_per_item(engine, queue):
    result = feedback.update_items(
        engine, ANA, versions(engine, queue[:5]), Patch(status="in_review", category="bug", assignee="bob@example.com")
    )
    assert result.changed == 5
    events = audit.list_events(engine, audit.AuditFilter(action="feedback.update"))
    assert len(events) == 5 and set(events["actor"]) == {"ana@example.com"}
    assert '"assignee":[null,"bob@example.com"]' in events["payload"].iloc[0]
    assert feedback.list_queue(engine, QueueFilter(assignee="bob@example.com")).total == 5
    assert audit.verify(engine).intact


def test_second_save_of_the_same_item_is_refused(engine, queue):
    pk = queue[0]
    seen_by_ana = versions(engine, [pk])
    seen_by_bob = versions(engine, [pk])
    feedback.update_items(engine, ANA, seen_by_ana, Patch(corrected_label=1))
    with pytest.raises(Conflict, match="changed by someone else.*ana@example.com"):
        feedback.update_items(engine, BOB, seen_by_bob, Patch(corrected_label=0))
    assert feedback.get_item(engine, pk).item["corrected_label"] == 1


def test_per_row_edits_from_the_data_editor(engine, queue):
    v = versions(engine, queue[:2])
    result = feedback.apply_edits(
        engine,
        ANA,
        [Edit(queue[0], v[queue[0]], Patch(priority="urgent")), Edit(queue[1], v[queue[1]], Patch(category="other"))],
    )
    assert result.changed == 2
    rows = feedback.list_queue(engine, limit=100).rows.set_index("id")
    assert rows.loc[queue[0], "priority"] == "urgent" and rows.loc[queue[1], "category"] == "other"


def test_unchanged_rows_are_not_audited(engine, queue):
    result = feedback.update_items(engine, ANA, versions(engine, queue[:3]), Patch(priority="normal"))
    assert result.changed == 0 and result.unchanged == 3
    assert audit.count_events(engine, audit.AuditFilter(action="feedback.update")) == 0


def test_assignment_rules(engine, queue):
    with pytest.raises(InvalidInput, match="viewer"):
        feedback.update_items(engine, ANA, versions(engine, queue[:1]), Patch(assignee="vic@example.com"))
    with pytest.raises(InvalidInput, match="not an active Loopdeck user"):
        feedback.update_items(engine, ANA, versions(engine, queue[:1]), Patch(assignee="ghost@example.com"))
    feedback.update_items(engine, ANA, versions(engine, queue[:2]), Patch(assignee="ana@example.com"))
    feedback.update_items(engine, ANA, versions(engine, queue[:1]), Patch(assignee=""))
    assert feedback.list_queue(engine, QueueFilter(assignee="ana@example.com")).total == 1


def test_unknown_category_and_priority(engine, queue):
    with pytest.raises(InvalidInput, match="unknown category"):
        feedback.update_items(engine, ANA, versions(engine, queue[:1]), Patch(category="nonsense"))
    with pytest.raises(InvalidInput, match="unknown priority"):
        feedback.update_items(engine, ANA, versions(engine, queue[:1]), Patch(priority="whenever"))
    settings.set_value(engine, ADMIN, "feedback.categories", ["nonsense", "bug"])
    feedback.update_items(engine, ANA, versions(engine, queue[:1]), Patch(category="nonsense"))


def test_sla_flags_old_untriaged_items(engine, queue):
    old = factories.feedback(engine, 3, age_days=4, source="email")
    page = feedback.list_queue(engine, limit=100)
    assert page.sla_days == 3 and page.overdue == 3
    assert set(page.rows.loc[page.rows["overdue"], "id"]) == set(old)
    feedback.update_items(engine, ANA, versions(engine, old[:1]), Patch(status="in_review"))
    assert feedback.list_queue(engine, QueueFilter(overdue_only=True)).total == 2
    settings.set_value(engine, ADMIN, "feedback.sla_days", 5)
    assert feedback.list_queue(engine).overdue == 0


def test_roles(engine, queue):
    viewer = Actor("vic@example.com", Role.viewer)
    with pytest.raises(PermissionDenied):
        feedback.update_items(engine, viewer, versions(engine, queue[:1]), Patch(priority="high"))
    with pytest.raises(PermissionDenied):
        settings.set_value(engine, ANA, "feedback.sla_days", 7)
    with pytest.raises(InvalidInput, match="outside"):
        settings.set_value(engine, ADMIN, "feedback.sla_days", 0)


def test_item_detail_and_export(engine, queue):
    detail = feedback.get_item(engine, queue[0])
    assert detail.prediction["model"] == "churn v1"
    assert detail.prediction["features"]["plan"] == "pro"
    assert detail.outcome["actual_label"] == 1
    csv = feedback.export_csv(engine, QueueFilter(ratings=(5,))).decode()
    assert csv.count("\n") == 3  # header + 2 items rated 5
    facets = feedback.facets(engine)
    assert facets.assignees == ["ana@example.com", "bob@example.com"]  # viewers cannot be assigned
    assert facets.cohort_fields["platform"] == ["ios", "web"]
