"""The Feedback page through AppTest (filters and the URL, the data editor, the bulk bar, review mode,
themes, training sets, admin settings, roles, inert text) and its pure helpers. The page's fast queue
reads, checked against one plain joined query: test_feedback_queue_reads.py."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app import format as fmt
from data import themes as demo_themes
from pages.feedback import editor_rows as er
from pages.feedback import filter_state as fs
from pages.feedback import keys, review, screen
from pages.feedback import queue as queue_view
from pages.settings import sections
from services.core import audit, settings, users
from services.core.audit import AuditFilter
from services.core.db import write_session
from services.core.roles import Actor
from services.core.schema_feedback import Feedback
from services.core.timeutil import utcnow
from services.feedback import edits as feedback_edits
from services.feedback import themes, training_sets
from services.feedback import triage as feedback
from services.feedback.edits import Edit, Patch
from services.feedback.triage import QueueFilter
from tests.pages.conftest import ROLES
from tests.services import factories

PAGE = "pages/feedback/page.py"
MARKUP = "<script>alert(1)</script> see [link](http://x.test) and **bold** <b>b</b>\n# heading"


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def labels(elements) -> list[str]:
    return [e.label for e in elements]


@pytest.fixture
def queue(page_db, make_user):
    """Twelve items on one model: eight new today, three new and five days old (overdue with the
    default SLA of 3 days), one with HTML, a script tag and markdown in its text."""
    for role in ROLES:
        make_user(role)
    mv = factories.model_version(page_db)
    request_ids = factories.predictions(page_db, mv, 6, region="eu")
    factories.outcome(page_db, request_ids[0], 1)
    pks = factories.feedback(page_db, 8, request_ids)
    pks += factories.feedback(page_db, 3, request_ids, age_days=5, source="email")
    pks += factories.feedback(page_db, 1, request_ids, source="web", text=MARKUP, rating=1)
    return pks


def open_page(signed_in, role: str = "analyst", **query):
    at = signed_in(role, PAGE, **query)
    assert not at.exception, at.exception
    return at


def actor(page_db, role: str = "analyst") -> Actor:
    return users.authenticate(page_db, f"{role}@loopdeck.test", "correct horse battery")


def editor_key(at) -> str:
    return at.data_editor[0].key


def edit(at, rows: dict) -> None:
    """Seed the keyed data editor's edit state the way the browser sends it, then rerun."""
    at.session_state[editor_key(at)] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception, at.exception


def shown_ids(at) -> list[str]:
    table = at.data_editor[0] if at.data_editor else at.dataframe[0]
    return list(table.value["feedback_id"])


def item(page_db, pk: int) -> feedback.ItemDetail:
    return feedback.get_item(page_db, pk)


# --- rendering and roles --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_view_renders_for_each_role(signed_in, queue, role):
    at = open_page(signed_in, role)
    assert texts(at.title) == ["Feedback"]
    assert {m.label: m.value for m in at.metric} == {"Matching": "12", "Overdue (SLA 3 days)": "3", "Untriaged": "12"}
    for view in screen.VIEWS:
        at.segmented_control(key=keys.VIEW).set_value(view).run()
        assert not at.exception, (view, at.exception)
        assert not at.error, (view, texts(at.error))
    pointers = [el.proto.label for el in at.get("page_link")]
    assert ("Settings moved to Settings (SLA and categories)" in pointers) == (role == "admin")


def test_a_viewer_sees_the_queue_read_only(signed_in, queue):
    at = open_page(signed_in, "viewer")
    assert not at.data_editor
    assert len(at.dataframe[0].value) == 12
    buttons = labels(at.button)
    for hidden in ("Save edits", "Apply to selected", "Discard edits", "Create"):
        assert hidden not in buttons
    at.segmented_control(key=keys.VIEW).set_value("Review").run()
    assert "Save and next" not in labels(at.button) and not at.radio
    assert "Viewers read; analysts and above triage." in texts(at.caption)
    at.segmented_control(key=keys.VIEW).set_value("Themes").run()
    assert "Re-cluster themes" not in labels(at.button)
    at.segmented_control(key=keys.VIEW).set_value("Training sets").run()
    assert "Create a new version" not in labels(at.button)


def test_overdue_rows_are_flagged(signed_in, queue):
    at = open_page(signed_in)
    table = at.data_editor[0].value
    flagged = set(table.loc[table["sla"] == er.SLA_FLAG, "feedback_id"])
    assert flagged == {f"fb-email-5-{i}" for i in range(3)}


def test_feedback_text_stays_plain_text(signed_in, queue):
    at = open_page(signed_in)
    assert MARKUP in list(at.data_editor[0].value["text"])
    at.selectbox(key=f"fb_open_{editor_key(at)}").select(queue[-1]).run()
    assert not at.exception
    assert MARKUP in texts(at.text)  # st.text: shown verbatim
    rendered = " ".join(texts(at.markdown) + texts(at.caption) + texts(at.success) + texts(at.info))
    assert "script" not in rendered and "http://x.test" not in rendered and "heading" not in rendered
    assert not at.get("html")


# --- filters and the URL -------------------------------------------------------------------------


def test_a_filter_changes_the_table_and_the_url(signed_in, queue):
    at = open_page(signed_in)
    assert len(at.data_editor[0].value) == 12
    at.multiselect(key="fb_source").set_value(["email"]).run()
    assert shown_ids(at) == [f"fb-email-5-{i}" for i in range(3)]
    assert at.query_params == {"source": "email"}
    at.text_input(key="fb_q").input("number 1").run()
    assert shown_ids(at) == ["fb-email-5-1"]
    at.toggle(key="fb_overdue").set_value(True).run()
    at.selectbox(key="fb_sort").select("oldest").run()
    assert at.query_params == {"source": "email", "q": "number 1", "overdue": "1", "sort": "oldest"}
    assert {m.label: m.value for m in at.metric}["Matching"] == "1"
    at.button(key="fb_clear").click().run()
    assert len(at.data_editor[0].value) == 12 and at.query_params == {}


def test_a_link_opens_the_same_view(signed_in, queue, page_db):
    at = open_page(signed_in, rating=["1", "2"], cohort="platform", value="ios", sort="oldest")
    assert at.multiselect(key="fb_rating").value == [1, 2]
    assert at.selectbox(key="fb_cohort").value == "platform" and at.multiselect(key="fb_value").value == ["ios"]
    table = at.data_editor[0].value
    expected = feedback.list_queue(page_db, QueueFilter(ratings=(1, 2), cohort=(("platform", "ios"),)), "oldest")
    assert list(table["feedback_id"]) == list(expected.rows["feedback_id"]) and len(table) > 0
    assert set(table["rating"]) <= {1, 2} and set(table["cohort_platform"]) == {"ios"}
    assert at.query_params == {"rating": ["1", "2"], "cohort": "platform", "value": "ios", "sort": "oldest"}


@pytest.mark.parametrize("values", [["ios", "android"], ["ios,android"], ["android, ios", "ios"]])
def test_a_link_with_two_cohort_values_shows_both_cohorts(signed_in, queue, page_db, values):
    """An alert rule on platform ios or android opens the queue with both values (repeated as the app
    writes them, or comma-joined as a person may type them): items of both cohorts, none of the third."""
    android = factories.predictions(page_db, factories.model_version(page_db, version=2), 2, platform="android")
    factories.feedback(page_db, 2, android, source="android-app")
    at = open_page(signed_in, cohort="platform", value=values)
    chosen = at.multiselect(key="fb_value").value
    assert sorted(chosen) == ["android", "ios"] and at.multiselect(key="fb_value").options == ["android", "ios", "web"]
    table = at.data_editor[0].value
    expected = feedback.list_queue(page_db, QueueFilter(cohort=(("platform", "ios"), ("platform", "android"))))
    assert sorted(table["feedback_id"]) == sorted(expected.rows["feedback_id"]) and expected.total == 5 + 2
    assert set(table["cohort_platform"]) == {"ios", "android"}
    assert {m.label: m.value for m in at.metric}["Matching"] == "7"
    assert at.query_params == {"cohort": "platform", "value": chosen}  # the app's own form: repeated
    # Narrowing to one value in the widget narrows the queue and the address.
    at.multiselect(key="fb_value").unselect("ios").run()
    assert set(at.data_editor[0].value["cohort_platform"]) == {"android"}
    assert at.query_params == {"cohort": "platform", "value": "android"}


def test_date_range_score_and_label_filters_come_from_the_link(signed_in, queue, page_db):
    today = datetime.now(UTC).date()
    week = {"from": str(today - timedelta(days=6)), "to": str(today - timedelta(days=4))}
    at = open_page(signed_in, **week)
    assert at.date_input(key="fb_from").value == today - timedelta(days=6)
    assert at.date_input(key="fb_to").value == today - timedelta(days=4)
    assert sorted(shown_ids(at)) == [f"fb-email-5-{i}" for i in range(3)]  # the five-day-old ones
    assert at.query_params == week

    scored = {"score_min": "0.2", "score_max": "0.3", "predicted": "0", "sort": "oldest"}
    at = open_page(signed_in, **scored)
    assert at.number_input(key="fb_score_min").value == 0.2 and at.number_input(key="fb_score_max").value == 0.3
    assert at.multiselect(key="fb_predicted").value == [0]
    expected = feedback.list_queue(
        page_db, QueueFilter(score_min=0.2, score_max=0.3, predicted_labels=(0,)), "oldest"
    ).rows  # fmt: skip
    table = at.data_editor[0].value
    assert list(table["feedback_id"]) == list(expected["feedback_id"]) and len(table) == 3
    assert set(table["score"]) == {0.2, 0.3} and set(table["predicted_label"]) == {0}
    assert at.query_params == scored

    at = open_page(signed_in, actual="1")
    assert at.multiselect(key="fb_actual").value == [1]
    table = at.data_editor[0].value
    assert len(table) == 4 and set(table["actual_label"]) == {1}  # the items on the one prediction with an outcome
    assert at.query_params == {"actual": "1"}


def test_the_new_filter_widgets_write_the_url(signed_in, queue):
    at = open_page(signed_in)
    today = datetime.now(UTC).date()
    at.date_input(key="fb_to").set_value(today - timedelta(days=1)).run()
    assert at.query_params == {"to": str(today - timedelta(days=1))}
    assert sorted(shown_ids(at)) == [f"fb-email-5-{i}" for i in range(3)]
    at.date_input(key="fb_to").set_value(None).run()
    at.number_input(key="fb_score_min").set_value(0.4).run()
    at.multiselect(key="fb_actual").set_value([1]).run()
    assert at.query_params == {"score_min": "0.4", "actual": "1"}
    assert len(shown_ids(at)) == 0  # the outcome is on the request that scored 0.0
    at.number_input(key="fb_score_min").set_value(None).run()
    at.multiselect(key="fb_predicted").set_value([1]).run()
    at.multiselect(key="fb_actual").set_value([]).run()
    assert at.query_params == {"predicted": "1"}
    assert set(at.data_editor[0].value["predicted_label"]) == {1} and len(shown_ids(at)) == 1
    at.button(key="fb_clear").click().run()
    assert at.query_params == {} and at.number_input(key="fb_score_min").value is None


def test_a_bad_link_still_opens(signed_in, queue):
    at = open_page(
        signed_in, status=["new", "bogus"], rating="x", theme="999", sort="random", view="nope", score_min="2",
        score_max="high", predicted=["7", "1"], actual="x", **{"from": "yesterday", "to": "2026-13-01"},
    )  # fmt: skip
    assert at.multiselect(key="fb_status").value == ["new"]
    assert at.number_input(key="fb_score_min").value is None and at.number_input(key="fb_score_max").value is None
    assert at.multiselect(key="fb_predicted").value == [1] and at.multiselect(key="fb_actual").value == []
    assert at.date_input(key="fb_from").value is None and at.date_input(key="fb_to").value is None
    assert at.multiselect(key="fb_rating").value == [] and at.multiselect(key="fb_theme").value == []
    assert at.selectbox(key="fb_sort").value == "newest"
    assert len(at.data_editor[0].value) == 1  # predicted label 1: the one item on request 5


def test_my_queue_shows_what_is_assigned_to_me(signed_in, queue, page_db):
    analyst = actor(page_db)
    feedback_edits.update_items(page_db, analyst, {queue[0]: 1, queue[1]: 1}, Patch(assignee="analyst@loopdeck.test"))
    at = open_page(signed_in)
    at.button(key="fb_my_queue").click().run()
    assert sorted(shown_ids(at)) == ["fb-app-0-0", "fb-app-0-1"]
    assert at.query_params["assignee"] == "me" and at.query_params["sort"] == "oldest"
    at.selectbox(key="fb_assignee").select(feedback.UNASSIGNED).run()
    assert len(shown_ids(at)) == 10


def test_the_view_is_in_the_url_too(signed_in, queue):
    at = open_page(signed_in, view="review", source="email")
    assert at.segmented_control(key=keys.VIEW).value == "Review"
    assert "**1 of 3**" in texts(at.markdown)
    at.segmented_control(key=keys.VIEW).set_value("Themes").run()
    assert at.query_params == {"source": "email", "view": "themes"}  # the filter waits in the URL
    at.segmented_control(key=keys.VIEW).set_value("Queue").run()
    assert at.multiselect(key="fb_source").value == ["email"] and len(shown_ids(at)) == 3


# --- triage in the table -------------------------------------------------------------------------


def test_cell_edits_are_saved_through_the_data_editor(signed_in, queue, page_db):
    at = open_page(signed_in)
    table = at.data_editor[0].value
    row = {fid: i for i, fid in enumerate(table["feedback_id"])}
    edit(at, {
        row["fb-app-0-0"]: {"status": "labelled", "corrected_label": 1},
        row["fb-app-0-1"]: {"category": "bug", "priority": "high", "assignee": "analyst@loopdeck.test"},
    })  # fmt: skip
    save = at.button(key="fb_save_edits")
    assert save.label == "Save edits (2)" and not save.disabled
    save.click().run()
    assert not at.exception
    assert texts(at.success) == ["Saved 2 item(s)."]
    first, second = item(page_db, queue[0]), item(page_db, queue[1])
    assert first.item["status"] == "labelled" and first.item["corrected_label"] == 1
    assert second.item["category"] == "bug" and second.item["priority"] == "high"
    assert second.assignee == "analyst@loopdeck.test"
    assert audit.count_events(page_db, AuditFilter(action="feedback.update")) == 2
    assert not at.session_state[editor_key(at)]["edited_rows"]  # a fresh editor after saving


def test_a_refused_edit_keeps_the_edits_and_says_why(signed_in, queue, page_db):
    at = open_page(signed_in)
    row = list(at.data_editor[0].value["feedback_id"]).index("fb-app-0-0")
    edit(at, {row: {"status": "labelled"}})  # labelled needs a label
    at.button(key="fb_save_edits").click().run()
    assert texts(at.error) == [fmt.md_escape("1 item(s) cannot be changed, so nothing was saved: item fb-app-0-0: "
                                            "a labelled item needs a corrected label")]  # fmt: skip
    assert item(page_db, queue[0]).item["status"] == "new"
    assert at.button(key="fb_save_edits").label == "Save edits (1)"


def test_a_row_someone_else_changed_is_refused(signed_in, queue, page_db):
    at = open_page(signed_in)
    row = list(at.data_editor[0].value["feedback_id"]).index("fb-app-0-0")
    edit(at, {row: {"priority": "low"}})
    feedback_edits.update_items(page_db, actor(page_db, "approver"), {queue[0]: 1}, Patch(priority="urgent"))
    at.button(key="fb_save_edits").click().run()
    expected = "were changed by someone else since you loaded them: fb-app-0-0 (by approver@loopdeck.test)"
    assert fmt.md_escape(expected) in at.error[0].value
    assert item(page_db, queue[0]).item["priority"] == "urgent"  # not overwritten
    assert list(at.data_editor[0].value.set_index("feedback_id").loc[["fb-app-0-0"], "priority"]) == ["urgent"]


def test_pending_edits_keep_the_rows_they_were_made_on(signed_in, queue, page_db):
    """Rows drawn before someone else's change keep their old version while edits are pending,
    so saving cannot overwrite that change silently."""
    at = open_page(signed_in)
    row = list(at.data_editor[0].value["feedback_id"]).index("fb-app-0-2")
    edit(at, {row: {"select": True}})
    feedback_edits.update_items(page_db, actor(page_db, "admin"), {queue[2]: 1}, Patch(status="escalated"))
    at.run()
    assert at.data_editor[0].value["status"].iloc[row] == "new"
    at.selectbox(key="fb_bulk_status").select("dismissed").run()
    at.button(key="fb_bulk_apply").click().run()
    assert "changed by someone else" in at.error[0].value.replace("\\", "")
    assert item(page_db, queue[2]).item["status"] == "escalated"


def test_bulk_bar_sets_the_selected_rows(signed_in, queue, page_db):
    at = open_page(signed_in)
    ids = list(at.data_editor[0].value["feedback_id"])
    chosen = ["fb-app-0-3", "fb-app-0-4", "fb-app-0-5", "fb-app-0-6", "fb-app-0-7"]
    edit(at, {ids.index(fid): {"select": True} for fid in chosen})
    assert "**Bulk: 5 selected row(s)**" in texts(at.markdown)
    at.selectbox(key="fb_bulk_status").select("in_review").run()
    at.selectbox(key="fb_bulk_category").select("wrong prediction").run()
    at.selectbox(key="fb_bulk_assignee").select(fs.ME).run()
    at.selectbox(key="fb_bulk_corrected_label").select(0).run()
    at.button(key="fb_bulk_apply").click().run()
    assert not at.exception
    assert texts(at.success) == ["Updated 5 of 5 selected item(s)."]
    page = feedback.list_queue(page_db, QueueFilter(statuses=("in_review",)))
    assert sorted(page.rows["feedback_id"]) == chosen
    assert set(page.rows["assignee"]) == {"analyst@loopdeck.test"} and set(page.rows["corrected_label"]) == {0}
    assert set(page.rows["category"]) == {"wrong prediction"}
    events = audit.list_events(page_db, AuditFilter(action="feedback.update"))
    assert len(events) == 5 and set(events["actor"]) == {"analyst@loopdeck.test"}


def test_bulk_bar_refuses_while_cell_edits_are_pending(signed_in, queue, page_db):
    at = open_page(signed_in)
    edit(at, {0: {"select": True}, 1: {"priority": "low"}})
    at.selectbox(key="fb_bulk_priority").select("urgent").run()
    at.button(key="fb_bulk_apply").click().run()
    assert texts(at.warning) == ["Save or discard your cell edits first."]
    assert audit.count_events(page_db, AuditFilter(action="feedback.update")) == 0


def test_backlog_item_from_selected_rows(signed_in, queue, page_db):
    at = open_page(signed_in)
    edit(at, {0: {"select": True}, 1: {"select": True}})
    at.text_input(key="fb_sel_backlog_title").input("Fix the [login](http://x) bug").run()
    at.button(key="fb_sel_backlog_create").click().run()
    assert not at.exception
    (message,) = texts(at.success)
    assert message.startswith("Backlog item #1 created from 2 feedback item(s): ")
    assert "[login](http" not in message  # escaped: stays text
    assert audit.count_events(page_db, AuditFilter(action="backlog.create")) == 1


@pytest.fixture
def downloads(monkeypatch):
    """The data callables the page hands st.download_button, by the file id its element carries
    (AppTest does not click a deferred download, so the test calls what the click would)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    registered: dict[str, Any] = {}
    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        registered[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return registered


def exported(at, downloads) -> pd.DataFrame:
    button = at.download_button(key="fb_export")
    assert button.label == "Export CSV"
    data = downloads[button.proto.deferred_file_id]()
    return pd.read_csv(io.BytesIO(data), keep_default_na=False)


def test_export_offers_the_current_view(signed_in, queue, downloads):
    at = open_page(signed_in, source="email")
    frame = exported(at, downloads)
    assert list(frame["feedback_id"]) == [f"fb-email-5-{i}" for i in range(3)]  # newest first, as shown
    at.multiselect(key="fb_source").set_value(["web"]).run()
    frame = exported(at, downloads)
    assert list(frame["feedback_id"]) == ["fb-web-0-0"] and frame["text"].tolist() == [MARKUP]
    assert frame["cohort_region"].tolist() == ["eu"] and frame["score"].tolist() == [0.0]


def test_export_follows_the_new_filters(signed_in, queue, downloads, page_db):
    at = open_page(signed_in, predicted="0", score_min="0.2", score_max="0.3")
    frame = exported(at, downloads)
    expected = feedback.list_queue(page_db, QueueFilter(predicted_labels=(0,), score_min=0.2, score_max=0.3)).rows
    assert list(frame["feedback_id"]) == list(expected["feedback_id"]) and len(frame) == 3
    assert set(frame["score"]) == {0.2, 0.3}


def test_export_csv_matches_the_filter(page_db, queue):
    # The page hands export_csv the same QueueFilter it shows (the download itself needs a browser).
    flt = fs.queue_filter(fs.state_from_params({"source": "email"}), "me@x")
    frame = pd.read_csv(__import__("io").BytesIO(feedback.export_csv(page_db, flt)))
    assert sorted(frame["feedback_id"]) == [f"fb-email-5-{i}" for i in range(3)]


def test_paging_through_a_long_queue(signed_in, page_db, make_user):
    make_user("analyst")
    factories.feedback(page_db, queue_view.PAGE_SIZE + 5)
    at = open_page(signed_in)
    assert len(at.data_editor[0].value) == queue_view.PAGE_SIZE
    assert at.pagination
    at.pagination[0].select(2).run()
    assert len(at.data_editor[0].value) == 5
    assert "Rows 101-105 of 105." in texts(at.caption)


def test_open_an_item_beside_its_prediction(signed_in, queue, page_db):
    with write_session(page_db) as session:  # a near-duplicate pair and a theme
        for pk in queue[:2]:
            row = session.get(Feedback, pk)
            row.duplicate_group = queue[0]
            session.add(row)
    at = open_page(signed_in)
    at.selectbox(key=f"fb_open_{editor_key(at)}").select(queue[0]).run()
    assert not at.exception
    assert {"Feedback", "Prediction", "Similar items"} <= set(texts(at.subheader))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Outcome"] == "1" and metrics["Predicted label"] == "0"
    assert any("platform: web" in t and "region: eu" in t for t in texts(at.text))
    assert any(t.startswith("1 near-duplicate(s): the same text up to a typo") for t in texts(at.caption))


# --- review mode -----------------------------------------------------------------------------------


def test_review_save_and_next_changes_the_item_and_advances(signed_in, queue, page_db):
    at = open_page(signed_in, view="review", status="new", sort="oldest")
    assert "**1 of 12**" in texts(at.markdown)
    first = at.session_state[keys.REVIEW_ITEM]
    at.radio(key=f"fb_rv_{first}_1_label").set_value(1)
    at.selectbox(key=f"fb_rv_{first}_1_category").select("wrong prediction")
    at.button(key="FormSubmitter:" + f"fb_rv_{first}_1_form-Save and next").click().run()
    assert not at.exception, at.exception
    saved = item(page_db, first)
    assert saved.item["status"] == "labelled" and saved.item["corrected_label"] == 1
    assert saved.item["category"] == "wrong prediction" and saved.item["label_set_by"] == "analyst@loopdeck.test"
    # The saved item left the "new" filter: the next one is now first of 11.
    assert "**1 of 11**" in texts(at.markdown)
    assert at.session_state[keys.REVIEW_ITEM] != first
    assert audit.count_events(page_db, AuditFilter(action="feedback.update", subject_id=str(first))) == 1


def test_review_label_buttons_save_and_advance(signed_in, queue, page_db):
    at = open_page(signed_in, view="review", sort="oldest")
    first = at.session_state[keys.REVIEW_ITEM]
    shortcuts = {b.label: b.proto.shortcut for b in at.button if b.label.endswith("and next")}
    assert shortcuts == {"Save and next": "ctrl+enter", "Label 0 and next": "0", "Label 1 and next": "1"}
    next(b for b in at.button if b.label == "Label 0 and next").click().run()
    assert not at.exception
    saved = item(page_db, first)
    assert (saved.item["status"], saved.item["corrected_label"]) == ("labelled", 0)
    assert "**2 of 12**" in texts(at.markdown)  # no status filter: the item stays in the list


def test_review_previous_and_next(signed_in, queue):
    at = open_page(signed_in, view="review")
    start = at.session_state[keys.REVIEW_ITEM]
    at.button(key="fb_rv_next").click().run()
    assert "**2 of 12**" in texts(at.markdown)
    at.button(key="fb_rv_prev").click().run()
    assert at.session_state[keys.REVIEW_ITEM] == start and "**1 of 12**" in texts(at.markdown)
    at.button(key="fb_rv_prev").click().run()
    assert "**12 of 12**" in texts(at.markdown)  # wraps around


def test_review_refuses_a_stale_item(signed_in, queue, page_db):
    at = open_page(signed_in, view="review", sort="oldest")
    first = at.session_state[keys.REVIEW_ITEM]
    feedback_edits.update_items(page_db, actor(page_db, "approver"), {first: 1}, Patch(status="escalated"))
    at.radio(key=f"fb_rv_{first}_1_label").set_value(0)
    at.button(key="FormSubmitter:" + f"fb_rv_{first}_1_form-Save and next").click().run()
    assert "changed by someone else" in at.error[0].value.replace("\\", "")
    assert item(page_db, first).item["status"] == "escalated"
    assert at.session_state[keys.REVIEW_ITEM] == first  # stays, now showing the current version
    assert at.radio(key=f"fb_rv_{first}_2_label")


# --- themes, training sets, admin ----------------------------------------------------------------


@pytest.fixture
def themed(page_db, make_user):
    """120 texts from four demo themes, half linked to predictions."""
    make_user("analyst")
    rng = np.random.default_rng(5)
    keys = ["mobile_app", "pricing", "support_response", "data_export"]
    mv = factories.model_version(page_db)
    request_ids = factories.predictions(page_db, mv, 60)
    with write_session(page_db) as session:
        for i in range(120):
            key = keys[i % 4]
            session.add(
                Feedback(
                    feedback_id=f"fb-{i}", ts=utcnow(), text=demo_themes.compose(demo_themes.THEMES[key], rng),
                    rating=1 if key == "mobile_app" else 4, request_id=request_ids[i] if i < 60 else None,
                )
            )  # fmt: skip


def test_recluster_rename_and_backlog_from_a_theme(signed_in, themed, page_db):
    at = open_page(signed_in, view="themes")
    assert texts(at.info) == ["No themes yet. Re-cluster to find them."]
    at.slider(key="fb_n_themes").set_value(4).run()
    at.button(key="fb_recluster").click().run()
    assert not at.exception, at.exception
    assert at.status and "4 themes over 120 texts" in at.status[0].label
    table = at.dataframe[0].value
    assert len(table) == 4 and table["items"].sum() == 120
    assert len(at.get("plotly_chart")) == 3  # negative share, volume, mix
    theme_id = at.selectbox(key="fb_theme_pick").value
    next(t for t in at.text_input if t.label == "New name").input("Mobile <b>trouble</b>")
    next(b for b in at.button if b.label == "Rename theme").click().run()
    assert not at.exception
    assert "Mobile <b>trouble</b>" in list(at.dataframe[0].value["label"])
    at.selectbox(key="fb_theme_pick").select(theme_id).run()
    next(b for b in at.button if b.label == "Create backlog item").click().run()
    (message,) = texts(at.success)
    assert message.startswith("Backlog item #1 created")
    assert audit.count_events(page_db, AuditFilter(action="theme.rename")) == 1
    at.button(key="fb_theme_to_queue").click().run()
    assert at.segmented_control(key=keys.VIEW).value == "Queue"
    assert at.multiselect(key="fb_theme").value == [theme_id]
    assert at.query_params["theme"] == str(theme_id)
    assert len(at.data_editor[0].value) == themes.list_themes(page_db).set_index("id").loc[theme_id, "items"]
    # Re-clustering replaces the themes: the old theme id leaves the filter, the renamed name carries over.
    at.segmented_control(key=keys.VIEW).set_value("Themes").run()
    at.button(key="fb_recluster").click().run()
    assert not at.exception, at.exception
    assert "Mobile <b>trouble</b>" in list(at.dataframe[0].value["label"])
    at.segmented_control(key=keys.VIEW).set_value("Queue").run()
    assert not at.exception and at.multiselect(key="fb_theme").value == []


def test_training_set_from_eligible_and_from_selected_rows(signed_in, queue, page_db):
    analyst = actor(page_db)
    feedback_edits.update_items(
        page_db, analyst, {pk: 1 for pk in queue[:4]}, Patch(status="labelled", corrected_label=1)
    )
    at = open_page(signed_in, view="datasets")
    assert {m.label: m.value for m in at.metric}["Eligible labelled items"] == "4"
    form_name = next(t for t in at.text_input if t.label == "Name")
    form_name.input("churn-corrections")
    next(b for b in at.button if b.label == "Create a new version").click().run()
    assert not at.exception
    assert texts(at.success) == ["Created churn\\-corrections version 1 with 4 items."]
    assert any(t == "churn-corrections  v1" for t in texts(at.text))
    next(b for b in at.button if b.label == "Verify").click().run()
    assert texts(at.success)[0].startswith("Intact: the 4 rows hash to")
    # From rows ticked in the Queue: two of the labelled ones.
    at.segmented_control(key=keys.VIEW).set_value("Queue").run()
    ids = list(at.data_editor[0].value["feedback_id"])
    edit(at, {ids.index("fb-app-0-0"): {"select": True}, ids.index("fb-app-0-1"): {"select": True}})
    at.segmented_control(key=keys.VIEW).set_value("Training sets").run()
    next(t for t in at.text_input if t.label == "Name").input("churn-corrections")
    next(r for r in at.radio if r.label == "Items").set_value("selected")
    next(b for b in at.button if b.label == "Create a new version").click().run()
    assert texts(at.success) == ["Created churn\\-corrections version 2 with 2 items."]
    versions = training_sets.list_datasets(page_db)
    assert [(d.version, d.item_count) for d in versions] == [(2, 2), (1, 4)]


def test_admin_sets_the_sla_and_categories_on_settings_and_the_queue_uses_them(signed_in, queue, page_db):
    at = open_page(signed_in, "admin")
    assert "login" not in at.selectbox(key="fb_bulk_category").options  # the categories are cached here now
    at = at.switch_page("pages/settings/page.py").run()
    at.number_input(key="set_sla").set_value(10)
    next(b for b in at.button if b.label == "Save SLA").click().run()
    assert settings.get(page_db, "feedback.sla_days") == 10
    at.text_area(key="set_categories").input("bug\nlogin\nbilling")
    next(b for b in at.button if b.label == "Save categories").click().run()
    assert settings.get(page_db, "feedback.categories") == ["bug", "login", "billing"]
    assert audit.count_events(page_db, AuditFilter(action="setting.change")) == 2
    at = at.switch_page(PAGE).run()
    assert {m.label: m.value for m in at.metric}["Overdue (SLA 10 days)"] == "0"
    assert "login" in at.selectbox(key="fb_bulk_category").options


# --- pure helpers ------------------------------------------------------------------------------------


def test_filter_state_round_trips_through_the_url():
    state_ = fs.FilterState(
        statuses=("new", "escalated"), sources=("email",), ratings=(1, 2), categories=("bug",), theme_ids=(3,),
        assignee=fs.ME, priorities=("high",), model_ids=(7,), cohort_field="platform",
        cohort_values=("ios", "android"), outcome="no", overdue=True, text="logs me out", sort="oldest",
        since=date(2026, 9, 1), until=date(2026, 9, 30), score_min=0.25, score_max=0.9, predicted=(1,), actual=(0, 1),
    )  # fmt: skip
    params = fs.params_from_state(state_)
    assert params["status"] == ["new", "escalated"] and params["overdue"] == "1" and params["q"] == "logs me out"
    assert params["from"] == "2026-09-01" and params["to"] == "2026-09-30"
    assert params["score_min"] == "0.25" and params["score_max"] == "0.9"
    assert params["predicted"] == ["1"] and params["actual"] == ["0", "1"]
    assert params["cohort"] == "platform" and params["value"] == ["ios", "android"]
    assert fs.state_from_params(params) == state_
    assert fs.params_from_state(fs.FilterState()) == {}
    assert fs.state_from_widgets(fs.widget_values(state_)) == state_


def test_queue_filter_from_the_state():
    flt = fs.queue_filter(
        fs.FilterState(assignee=fs.ME, cohort_field="platform", cohort_values=("ios",), outcome="yes", text=" x "),
        "a@b",
    )
    assert flt == QueueFilter(assignee="a@b", cohort=(("platform", "ios"),), has_outcome=True, text="x")
    both = fs.queue_filter(fs.FilterState(cohort_field="platform", cohort_values=("ios", "android")), "a@b")
    assert both.cohort == (("platform", "ios"), ("platform", "android"))
    assert fs.queue_filter(fs.FilterState(cohort_field="platform"), "a@b").cohort == ()
    assert fs.queue_filter(fs.FilterState(assignee=feedback.UNASSIGNED), "a@b").assignee == feedback.UNASSIGNED
    dated = fs.queue_filter(
        fs.FilterState(since=date(2026, 9, 1), until=date(2026, 9, 30), score_min=0.5, predicted=(1,), actual=(0,)),
        "a@b",
    )
    assert dated.since == datetime(2026, 9, 1, tzinfo=UTC)
    assert dated.until == datetime(2026, 10, 1, tzinfo=UTC)  # the "to" day is included
    assert (dated.score_min, dated.score_max, dated.predicted_labels, dated.actual_labels) == (0.5, None, (1,), (0,))


def test_sanitize_drops_values_the_widgets_cannot_show():
    facets = feedback.QueueFacets(
        sources=["app"], categories=["bug"], themes=[(1, "t")], assignees=["a@b"], model_versions=[(2, "m v1")],
        cohort_fields={"platform": ["ios", "web"]},
    )  # fmt: skip
    dirty = fs.FilterState(
        sources=("app", "fax"), categories=("bug", "gone"), theme_ids=(1, 9), model_ids=(2, 3), assignee="x@y",
        cohort_field="platform", cohort_values=("tv", "web"),
    )  # fmt: skip
    clean = fs.sanitize(dirty, facets)
    assert clean == fs.FilterState(
        sources=("app",),
        categories=("bug",),
        theme_ids=(1,),
        model_ids=(2,),
        cohort_field="platform",
        cohort_values=("web",),
    )
    assert fs.sanitize(fs.FilterState(cohort_field="tier", cohort_values=("pro",)), facets).cohort_field == ""
    # Comma-joined values (a typed link) are split where the whole is not a value; unknown parts drop.
    typed = fs.state_from_params({"cohort": "platform", "value": ["web,ios", "tv, web", "ios"]})
    assert typed.cohort_values == ("web,ios", "tv, web", "ios")
    assert fs.sanitize(typed, facets).cohort_values == ("web", "ios")
    comma = replace(facets, cohort_fields={"city": ["Paris, FR", "Paris"]})
    assert fs.sanitize(fs.FilterState(cohort_field="city", cohort_values=("Paris, FR",)), comma).cohort_values == (
        "Paris, FR",
    )
    many = fs.state_from_params({"cohort": "platform", "value": [f"v{i}" for i in range(80)]})
    assert len(many.cohort_values) == fs.MAX_COHORT_VALUES


SNAP = [
    {"id": 10, "version": 3, "feedback_id": "a", "status": "new", "category": None, "assignee": None,
     "priority": "normal", "corrected_label": None},
    {"id": 11, "version": 1, "feedback_id": "b", "status": "labelled", "category": "bug", "assignee": "a@b",
     "priority": "high", "corrected_label": 1},
]  # fmt: skip


def test_edited_rows_become_edits_with_the_drawn_versions():
    edits = er.edits_from_editor(
        {"0": {"status": "labelled", "corrected_label": 1.0, "select": True}, 1: {"category": None, "assignee": ""}},
        SNAP,
    )
    assert edits == [
        Edit(10, 3, Patch(status="labelled", corrected_label=1)),
        Edit(11, 1, Patch(category="", assignee="")),
    ]


def test_edits_that_change_nothing_are_no_edits():
    assert er.edits_from_editor({0: {"select": True}}, SNAP) == []
    assert er.edits_from_editor({1: {"status": "labelled", "priority": "high", "corrected_label": 1}}, SNAP) == []
    assert er.edits_from_editor({0: {"status": None, "priority": None}}, SNAP) == []  # cannot be emptied
    assert er.edits_from_editor({5: {"status": "dismissed"}}, SNAP) == []  # a row that is not there
    assert er.edits_from_editor({1: {"corrected_label": None}}, SNAP) == [Edit(11, 1, Patch(clear_label=True))]


def test_selection_and_pending_edits():
    rows = {0: {"select": True}, 1: {"select": False, "priority": "low"}}
    assert er.selected(rows, SNAP) == {10: 3}
    assert er.pending_cell_edits(rows) == 1
    assert er.pending_cell_edits({0: {"select": True}}) == 0


def test_bulk_patch_from_the_bar():
    assert er.bulk_patch().is_empty()
    assert er.bulk_patch(status="dismissed", category=er.NONE, assignee=fs.ME, me="a@b") == Patch(
        status="dismissed", category="", assignee="a@b"
    )
    assert er.bulk_patch(assignee=feedback.UNASSIGNED, label=er.CLEAR) == Patch(assignee="", clear_label=True)
    assert er.bulk_patch(priority="urgent", label=0) == Patch(priority="urgent", corrected_label=0)


def test_review_helpers():
    assert review.review_status_options("labelled") == ["labelled", "in_review"]
    assert review.review_default_status("new") == "labelled"
    assert review.review_default_status("dismissed") == "dismissed"
    assert review.next_after([1, 2, 3], 3) == 1 and review.previous_before([1, 2, 3], 1) == 3
    assert review.next_after([1], 1) is None and review.next_after([4, 5], 9) == 4
    assert review.review_position([4, 5], 5) == 1 and review.review_position([4, 5], 9) == 0


def test_md_escape_makes_markup_inert():
    escaped = fmt.md_escape("**x** [a](http://b) <script> :red[y] `z`")
    assert "**" not in escaped.replace("\\*", "") and "](" not in escaped.replace("\\]\\(", "")
    assert escaped.startswith("\\*\\*x\\*\\*")


def test_queue_table_of_no_rows_keeps_its_columns():
    columns = [c.key for c in feedback.QUEUE_COLUMNS if c.key != "cohorts"]
    frame = pd.DataFrame(columns=[*columns, "age_days", "overdue"])
    table = er.queue_table(frame)
    assert table.empty and list(table.columns[:4]) == [er.SELECT, "sla", "feedback_id", "text"]
    assert table[er.SELECT].dtype == bool and table["corrected_label"].dtype == "Int64"


def test_an_empty_queue_renders(signed_in, page_db):
    at = open_page(signed_in)
    assert len(at.data_editor[0].value) == 0
    assert texts(at.info) == ["No feedback matches this filter."]


def test_categories_from_the_admin_box():
    assert sections.categories_from_text("bug\n login ,\n\nbilling") == ["bug", "login", "billing"]
