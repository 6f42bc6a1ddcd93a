"""Feedback triage services: transitions, bulk atomicity, optimistic versions, SLA, assignment, roles."""

import csv
import io
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from services.core import audit, settings, users
from services.core.errors import Conflict, InvalidInput, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_feedback import Feedback
from services.core.timeutil import utcnow
from services.feedback import edits as feedback_edits
from services.feedback import triage as feedback
from services.feedback.edits import Edit, Patch
from services.feedback.triage import QueueFilter
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
        # Values of one field are OR-ed (an alert rule on platform ios or android), fields AND-ed.
        (QueueFilter(cohort=(("platform", "ios"), ("platform", "web"))), 10),
        (QueueFilter(cohort=(("platform", "ios"), ("platform", "android"))), 5),
        (QueueFilter(cohort=(("platform", "ios"), ("platform", "web"), ("tier", "free"))), 0),
        (QueueFilter(has_outcome=True), 2),
        (QueueFilter(statuses=("labelled",)), 0),
        (QueueFilter(assignee=feedback.UNASSIGNED), 10),
        # The fixture's predictions score 0.0 ... 0.5 (request i scores i / 10, label 1 from 0.5 on),
        # items i link request i % 6, and only request 0 has an outcome (label 1).
        (QueueFilter(score_min=0.3), 4),
        (QueueFilter(score_max=0.1), 4),
        (QueueFilter(score_min=0.2, score_max=0.3), 4),
        (QueueFilter(score_min=0.45, score_max=0.5), 1),
        (QueueFilter(predicted_labels=(1,)), 1),
        (QueueFilter(predicted_labels=(0,)), 9),
        (QueueFilter(predicted_labels=(0, 1)), 10),
        (QueueFilter(actual_labels=(1,)), 2),
        (QueueFilter(actual_labels=(0,)), 0),
        (QueueFilter(actual_labels=(1,), predicted_labels=(0,), score_max=0.0), 2),
    ],
)
def test_filters(engine, queue, flt, expected):
    assert feedback.list_queue(engine, flt).total == expected
    assert len(feedback.queue_ids(engine, flt)) == expected  # review mode walks the same items


def test_cohort_values_are_or_ed_per_field_and_and_ed_across_fields(engine):
    """Rows of each cohort a two-value filter names, and only those; a second field narrows them."""
    free = factories.predictions(engine, factories.model_version(engine), 4, tier="free")  # web, ios, web, ios
    pro = factories.predictions(engine, factories.model_version(engine, version=2), 4, tier="pro")
    factories.feedback(engine, 8, free + pro)
    both = QueueFilter(cohort=(("platform", "ios"), ("platform", "web")))
    assert feedback.list_queue(engine, both).total == 8
    rows = feedback.queue_rows(engine, QueueFilter(cohort=(("platform", "ios"), ("tier", "free"), ("tier", "pro"))))
    assert len(rows) == 4 and set(rows["cohort_platform"]) == {"ios"} and set(rows["cohort_tier"]) == {"free", "pro"}
    counts = feedback.queue_counts(engine, QueueFilter(cohort=(("tier", "free"), ("tier", "pro"), ("tier", "x"))))
    assert counts.total == 8


def test_cohort_filter_values_are_capped(engine, queue):
    many = tuple(("platform", f"p{i}") for i in range(feedback.MAX_COHORT_VALUES + 1))
    with pytest.raises(InvalidInput, match="at most 50"):
        feedback.list_queue(engine, QueueFilter(cohort=many))
    assert feedback.list_queue(engine, QueueFilter(cohort=many[: feedback.MAX_COHORT_VALUES])).total == 0


def test_filters_pick_the_right_rows(engine, queue):
    rows = feedback.list_queue(engine, QueueFilter(score_min=0.2, score_max=0.3, actual_labels=())).rows
    assert set(rows["score"]) == {0.2, 0.3}
    rows = feedback.list_queue(engine, QueueFilter(actual_labels=(1,))).rows
    assert set(rows["id"]) == {queue[0], queue[6]} and set(rows["actual_label"]) == {1}


def test_date_range_filter(engine, queue):
    """since is inclusive, until exclusive; the queue fixture's items are minutes old."""
    old = factories.feedback(engine, 3, age_days=4, source="email")
    now = utcnow()
    assert feedback.list_queue(engine, QueueFilter(since=now - timedelta(days=1))).total == 10
    assert feedback.list_queue(engine, QueueFilter(until=now - timedelta(days=1))).total == 3
    window = QueueFilter(since=now - timedelta(days=5), until=now - timedelta(days=3))
    assert set(feedback.list_queue(engine, window).rows["id"]) == set(old)
    assert feedback.list_queue(engine, QueueFilter(since=now - timedelta(minutes=3, seconds=30))).total == 4
    assert feedback.list_queue(engine, QueueFilter(since=now + timedelta(minutes=1))).total == 0


@pytest.mark.parametrize(
    ("search", "expected"),
    [("50%", ["down 50% since May"]), ("5_0", ["code 5_0 again"]), ("50", ["down 50% since May", "down 500 since May"]),
     ("%", ["down 50% since May"]), ("_", ["code 5_0 again"]), ("/", ["a/b test"])],
)  # fmt: skip
def test_search_treats_percent_and_underscore_literally(engine, search, expected):
    for text in ("down 50% since May", "down 500 since May", "code 5_0 again", "code 5x0 again", "a/b test"):
        factories.feedback(engine, 1, text=text, source=text)
    rows = feedback.list_queue(engine, QueueFilter(text=search)).rows
    assert sorted(rows["text"]) == sorted(expected)


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
    feedback_edits.update_items(engine, ANA, versions(engine, [pk]), Patch(status="in_review"))
    with pytest.raises(InvalidInput, match="needs a corrected label"):
        feedback_edits.update_items(engine, ANA, versions(engine, [pk]), Patch(status="labelled"))
    feedback_edits.update_items(engine, ANA, versions(engine, [pk]), Patch(status="labelled", corrected_label=1))
    with pytest.raises(InvalidInput, match="cannot move from labelled to dismissed"):
        feedback_edits.update_items(engine, ANA, versions(engine, [pk]), Patch(status="dismissed"))
    feedback_edits.update_items(engine, ANA, versions(engine, [pk]), Patch(status="in_review"))
    feedback_edits.update_items(engine, ANA, versions(engine, [pk]), Patch(status="dismissed"))
    with pytest.raises(InvalidInput, match="cannot move from dismissed to labelled"):
        feedback_edits.update_items(engine, ANA, versions(engine, [pk]), Patch(status="labelled", corrected_label=0))
    detail = feedback.get_item(engine, pk)
    assert detail.item["status"] == "dismissed" and detail.item["corrected_label"] == 1
    assert detail.item["label_set_by"] == "ana@example.com"


def test_bulk_update_is_atomic(engine, queue):
    """One item cannot move (it is dismissed): nothing changes, no audit event."""
    feedback_edits.update_items(engine, ANA, versions(engine, [queue[9]]), Patch(status="dismissed"))
    before_events = audit.count_events(engine)
    with pytest.raises(InvalidInput, match="1 item\\(s\\) cannot be changed"):
        feedback_edits.update_items(engine, ANA, versions(engine, queue), Patch(status="escalated", priority="high"))
    page = feedback.list_queue(engine, limit=100)
    assert set(page.rows["status"]) == {"new", "dismissed"}
    assert set(page.rows["priority"]) == {"normal"}
    assert audit.count_events(engine) == before_events


def test_bulk_update_writes_one_audit_event_per_item(engine, queue):
    result = feedback_edits.update_items(
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
    feedback_edits.update_items(engine, ANA, seen_by_ana, Patch(corrected_label=1))
    with pytest.raises(Conflict, match="changed by someone else.*ana@example.com"):
        feedback_edits.update_items(engine, BOB, seen_by_bob, Patch(corrected_label=0))
    assert feedback.get_item(engine, pk).item["corrected_label"] == 1


def test_per_row_edits_from_the_data_editor(engine, queue):
    v = versions(engine, queue[:2])
    result = feedback_edits.apply_edits(
        engine,
        ANA,
        [Edit(queue[0], v[queue[0]], Patch(priority="urgent")), Edit(queue[1], v[queue[1]], Patch(category="other"))],
    )
    assert result.changed == 2
    rows = feedback.list_queue(engine, limit=100).rows.set_index("id")
    assert rows.loc[queue[0], "priority"] == "urgent" and rows.loc[queue[1], "category"] == "other"


def test_unchanged_rows_are_not_audited(engine, queue):
    result = feedback_edits.update_items(engine, ANA, versions(engine, queue[:3]), Patch(priority="normal"))
    assert result.changed == 0 and result.unchanged == 3
    assert audit.count_events(engine, audit.AuditFilter(action="feedback.update")) == 0


def test_assignment_rules(engine, queue):
    with pytest.raises(InvalidInput, match="viewer"):
        feedback_edits.update_items(engine, ANA, versions(engine, queue[:1]), Patch(assignee="vic@example.com"))
    with pytest.raises(InvalidInput, match="not an active Loopdeck user"):
        feedback_edits.update_items(engine, ANA, versions(engine, queue[:1]), Patch(assignee="ghost@example.com"))
    feedback_edits.update_items(engine, ANA, versions(engine, queue[:2]), Patch(assignee="ana@example.com"))
    feedback_edits.update_items(engine, ANA, versions(engine, queue[:1]), Patch(assignee=""))
    assert feedback.list_queue(engine, QueueFilter(assignee="ana@example.com")).total == 1


def test_unknown_category_and_priority(engine, queue):
    with pytest.raises(InvalidInput, match="unknown category"):
        feedback_edits.update_items(engine, ANA, versions(engine, queue[:1]), Patch(category="nonsense"))
    with pytest.raises(InvalidInput, match="unknown priority"):
        feedback_edits.update_items(engine, ANA, versions(engine, queue[:1]), Patch(priority="whenever"))
    settings.set_value(engine, ADMIN, "feedback.categories", ["nonsense", "bug"])
    feedback_edits.update_items(engine, ANA, versions(engine, queue[:1]), Patch(category="nonsense"))


def test_sla_flags_old_untriaged_items(engine, queue):
    old = factories.feedback(engine, 3, age_days=4, source="email")
    page = feedback.list_queue(engine, limit=100)
    assert page.sla_days == 3 and page.overdue == 3
    assert set(page.rows.loc[page.rows["overdue"], "id"]) == set(old)
    feedback_edits.update_items(engine, ANA, versions(engine, old[:1]), Patch(status="in_review"))
    assert feedback.list_queue(engine, QueueFilter(overdue_only=True)).total == 2
    settings.set_value(engine, ADMIN, "feedback.sla_days", 5)
    assert feedback.list_queue(engine).overdue == 0


def test_roles(engine, queue):
    viewer = Actor("vic@example.com", Role.viewer)
    with pytest.raises(PermissionDenied):
        feedback_edits.update_items(engine, viewer, versions(engine, queue[:1]), Patch(priority="high"))
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


def test_export_binds_no_parameter_per_row(engine, queue):
    """The export is one joined query: its bound parameters do not grow with the number of items
    (an id list would; Postgres refuses more than 65,535 parameters in a statement)."""
    factories.feedback(engine, 150, source="bulk")
    largest = []

    def count(conn, cursor, statement, parameters, context, executemany):
        largest.append(len(parameters) if isinstance(parameters, (dict, list, tuple)) else 0)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        data = feedback.export_csv(engine, QueueFilter(sources=("bulk", "app")))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    frame = pd.read_csv(io.BytesIO(data))
    assert len(frame) == 160 and max(largest) < 20
    first = feedback.list_queue(engine, QueueFilter(), limit=3).rows
    assert list(frame["feedback_id"][:3]) == list(first["feedback_id"])  # the view's order
    assert {"score", "predicted_label", "actual_label", "age_days", "overdue", "cohort_platform"} <= set(frame.columns)


def test_export_of_more_items_than_postgres_takes_parameters(engine):
    """70,000 items in one view (Postgres binds at most 65,535 parameters a statement)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the parameter limit is Postgres's; SQLite runs the bound-parameter test above")
    now = utcnow()
    rows = [
        {"feedback_id": f"bulk-{i}", "ts": now - timedelta(seconds=i), "text": f"item {i}", "status": "new",
         "priority": "normal", "version": 1, "updated_at": now, "updated_by": "", "redactions": 0, "source": "app"}
        for i in range(70_000)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(Feedback.__table__), rows)
    frame = pd.read_csv(io.BytesIO(feedback.export_csv(engine, sort="oldest")))
    assert len(frame) == 70_000
    assert frame["feedback_id"].iloc[0] == "bulk-69999" and frame["feedback_id"].iloc[-1] == "bulk-0"


def test_export_defuses_spreadsheet_formulas(engine):
    texts = ['=HYPERLINK("http://evil.test")', "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "fine = ok", "a-b\r\nc"]
    for i, text in enumerate(texts):
        factories.feedback(engine, 1, text=text, source=f"s{i}", rating=None)
    factories.feedback(engine, 1, text="plain", source="=cmd|' /C calc'!A0")
    data = feedback.export_csv(engine, sort="oldest").decode()
    header, *records = csv.reader(io.StringIO(data, newline=""))  # as a spreadsheet reads it
    assert len(records) == 9
    frame = pd.DataFrame(records, columns=header)
    exported = dict(zip(frame["source"], frame["text"], strict=True))
    for i, text in enumerate(texts[:6]):
        assert exported[f"s{i}"] == "'" + text, text
    assert exported["s6"] == "fine = ok" and exported["s7"] == "a-b\r\nc"
    assert "'=cmd|' /C calc'!A0" in set(frame["source"])
    assert feedback.defuse_formulas(pd.DataFrame({"score": [-0.5]}))["score"].tolist() == [-0.5]
