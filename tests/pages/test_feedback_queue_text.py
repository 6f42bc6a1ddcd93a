"""The queue is text first (AppTest): the feedback text is the fourth and widest column of the queue,
every other column has a bounded width, and rows are tall enough for Streamlit to wrap it; the bulk bar
resets after a successful Apply, so a second click (on the same or other ticked rows) changes nothing,
while a refused Apply keeps the choices so they can be corrected."""

from __future__ import annotations

import json

import pytest

from pages.feedback import editor_rows as er
from pages.feedback import queue as queue_view
from services.core import audit
from services.core.audit import AuditFilter
from services.feedback import triage as feedback
from services.feedback.triage import QueueFilter
from tests.pages.test_feedback_page import edit, open_page, queue, texts  # noqa: F401 (queue: a fixture)

# Streamlit's named column widths in pixels (frontend: small 75, medium 200, large 400).
NAMED_WIDTHS = {"small": 75, "medium": 200, "large": 400}
WRAP_ABOVE_PX = 64  # the grid wraps cell text only when rows are taller than 4rem


def _widths(table) -> dict[str, int]:
    """Column name -> configured width in pixels, from the element's column config as sent to the browser.
    A column without a width would size itself to its content, so every shown column must have one."""
    config = json.loads(table.proto.columns)
    shown = [c for c in table.value.columns if not config.get(c, {}).get("hidden")]
    widths = {}
    for column in shown:
        width = config.get(column, {}).get("width")
        assert width is not None, f"column {column!r} has no width: it could grow wider than the text"
        widths[column] = NAMED_WIDTHS.get(width, width)
    return widths


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_the_text_is_the_widest_column_near_the_front_and_wraps(signed_in, queue, role):  # noqa: F811
    at = open_page(signed_in, role)
    table = at.data_editor[0] if role == "analyst" else at.dataframe[0]
    columns = list(table.value.columns)
    assert columns.index("text") == (3 if role == "analyst" else 2)  # after the tick, SLA flag and id
    widths = _widths(table)
    assert widths["text"] == queue_view.TEXT_WIDTH
    assert max(w for c, w in widths.items() if c != "text") < widths["text"]
    assert table.proto.row_height == queue_view.ROW_HEIGHT > WRAP_ABOVE_PX


def test_bulk_bar_resets_after_apply_and_a_second_click_changes_nothing(signed_in, queue, page_db):  # noqa: F811
    at = open_page(signed_in)
    ids = list(at.data_editor[0].value["feedback_id"])
    chosen = ["fb-app-0-1", "fb-app-0-2", "fb-app-0-3"]
    edit(at, {ids.index(fid): {er.SELECT: True} for fid in chosen})
    at.selectbox(key="fb_bulk_status").select("escalated").run()
    at.selectbox(key="fb_bulk_priority").select("urgent").run()
    before = at.data_editor[0].key
    at.button(key="fb_bulk_apply").click().run()
    assert not at.exception
    assert texts(at.success) == ["Updated 3 of 3 selected item(s)."]
    assert audit.count_events(page_db, AuditFilter(action="feedback.update")) == 3

    # The bar is back to "(no change)" everywhere, the ticks are gone and Apply is disabled.
    for name in er.EDITABLE:
        assert at.selectbox(key=f"fb_bulk_{name}").value == er.NO_CHANGE, name
    assert at.data_editor[0].key != before
    assert "**Bulk: 0 selected row(s)**" in texts(at.markdown)
    assert at.button(key="fb_bulk_apply").disabled

    # Ticking rows again (the same and another) and clicking Apply repeats nothing.
    ids = list(at.data_editor[0].value["feedback_id"])
    edit(at, {ids.index(fid): {er.SELECT: True} for fid in [*chosen, "fb-app-0-4"]})
    at.button(key="fb_bulk_apply").click().run()
    assert texts(at.info) == ["Choose what to set first."]
    assert audit.count_events(page_db, AuditFilter(action="feedback.update")) == 3
    escalated = feedback.list_queue(page_db, QueueFilter(statuses=("escalated",))).rows
    assert sorted(escalated["feedback_id"]) == chosen and set(escalated["priority"]) == {"urgent"}


def test_a_refused_apply_keeps_the_bulk_choices(signed_in, queue, page_db):  # noqa: F811
    at = open_page(signed_in)
    edit(at, {0: {er.SELECT: True}})
    at.selectbox(key="fb_bulk_status").select("labelled").run()  # labelled needs a corrected label
    at.button(key="fb_bulk_apply").click().run()
    assert at.error and "needs a corrected label" in at.error[0].value
    assert at.selectbox(key="fb_bulk_status").value == "labelled"
    assert "**Bulk: 1 selected row(s)**" in texts(at.markdown)
    assert audit.count_events(page_db, AuditFilter(action="feedback.update")) == 0
