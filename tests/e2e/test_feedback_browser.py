"""The Feedback page in a real browser: an analyst triages three items in review mode (two with the "1"
key, one with the mouse), bulk-edits five in the queue, finds the eight audit events on the Audit log
page; a feedback text with a script tag, HTML and a markdown link shows as literal text (no alert, no link).

Starts `streamlit run` on a free port against a fresh SQLite file and drives Debian's Chromium with
Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pages.feedback.queue import HEADER_HEIGHT, ROW_HEIGHT
from tests.e2e import harness
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

ADMIN, ANALYST, PASSWORD = "admin@loopdeck.test", "ann@loopdeck.test", "correct horse battery"
MARKUP = "Export broken <script>alert(1)</script> <b>bold</b> see [the screenshot](http://example.test/shot)"
TIMEOUT_MS = 20_000


def _seed(url: str) -> None:
    """An admin, an analyst, one model with twelve predictions and twelve new feedback items,
    the oldest of which carries markup."""
    from services.core import users
    from services.core.db import make_engine, migrate
    from tests.services import factories

    engine = make_engine(url)
    migrate(engine)
    users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORD)
    boss = users.authenticate(engine, ADMIN, PASSWORD)
    users.add_user(engine, boss, ANALYST, "analyst", PASSWORD, name="Ann Analyst")
    mv = factories.model_version(engine)
    request_ids = factories.predictions(engine, mv, 12)
    factories.feedback(engine, 11, request_ids, age_days=1)
    factories.feedback(engine, 1, request_ids[-1:], age_days=2, source="web", text=MARKUP, rating=1)
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("e2e_feedback")
    url = f"sqlite:///{folder / 'loopdeck.db'}"
    _seed(url)
    with harness.running_app(url, folder, worker=False) as running:  # triage starts no job
        yield running


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1400) as page:
        yield page


def _settled(page) -> None:
    harness.settled(sync_api, page)


def _sign_in(page, base: str) -> None:
    harness.sign_in(sync_api, page, base, ANALYST, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _settled(page)


def _open(page, link: str, heading: str) -> None:
    harness.open_page(sync_api, page, link, heading)


def _choose(page, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()
    _settled(page)


def _multi(page, label: str, option: str) -> None:
    page.get_by_test_id("stMultiSelect").filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    _settled(page)


def _tick_rows(page, rows: list[int]) -> None:
    """Tick the selection checkbox (the first column) of these rows in the queue's data editor.
    The grid is drawn on a canvas: click by position (the queue's header and row heights)."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    for count, row in enumerate(rows, start=1):
        page.mouse.click(box["x"] + 20, box["y"] + HEADER_HEIGHT + ROW_HEIGHT * row + ROW_HEIGHT // 2)
        expect(page.get_by_text(f"Bulk: {count} selected row(s)")).to_be_visible()
    _settled(page)


def test_analyst_triages_in_review_mode_and_in_bulk_and_finds_the_audit_events(server, page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, server.base)
    _open(page, "Feedback", "Feedback")
    expect(page.get_by_test_id("stMetric").filter(has_text="Matching")).to_contain_text("12")

    # Review mode: two items by keyboard (the "1" key labels and moves on), one by mouse.
    page.get_by_role("radio", name="Review mode").click()
    expect(page).to_have_url(re.compile(r"view=review"))
    _settled(page)
    for position in (1, 2):
        expect(page.get_by_text(f"{position} of 12", exact=True)).to_be_visible()
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("1")
        expect(page.get_by_text(f"{position + 1} of 12", exact=True)).to_be_visible()
        _settled(page)
    form = page.get_by_test_id("stForm")
    form.get_by_test_id("stRadioGroup").get_by_text("1", exact=True).click()
    form.get_by_role("button", name="Save and next").click()
    expect(page.get_by_text("4 of 12", exact=True)).to_be_visible()
    _settled(page)
    expect(page.get_by_test_id("stAlertContentSuccess").filter(has_text="Saved.")).to_be_visible()

    # The queue: three are labelled now; tick five new ones and escalate them in one go.
    page.get_by_role("radio", name="Queue").click()
    _settled(page)
    _multi(page, "Status", "new")
    expect(page).to_have_url(re.compile(r"status=new"))
    expect(page.get_by_test_id("stMetric").filter(has_text="Matching")).to_contain_text("9")
    _tick_rows(page, [0, 1, 2, 3, 4])
    _choose(page, "Set status", "escalated")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.get_by_text("Updated 5 of 5 selected item(s).")).to_be_visible()
    _settled(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Matching")).to_contain_text("4")

    # The audit log has one event per item changed: 3 + 5.
    _open(page, "Audit log", "Audit log")
    _choose(page, "Action", "feedback.update")
    expect(page.get_by_text("8 matching event(s), newest first.")).to_be_visible()

    # Markup in a feedback text stays text: in the table and in the item's detail.
    _open(page, "Feedback", "Feedback")
    page.get_by_role("textbox", name="Search").fill("alert")
    page.get_by_role("textbox", name="Search").press("Enter")
    _settled(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Matching")).to_contain_text("1")
    # The grid draws on a canvas; its accessible table (hidden from view) carries the cell texts.
    cell = page.get_by_test_id("stDataFrame").locator("td[role=gridcell]").filter(has_text="alert(1)")
    expect(cell).to_have_count(1)
    expect(cell).to_have_text(MARKUP)
    picker = page.get_by_role("combobox", name="Open an item")
    picker.click()
    picker.fill("fb-web-2-0")
    expect(page.get_by_role("option", name=f"fb-web-2-0 · new · {MARKUP[:69]}…", exact=True)).to_be_visible()
    picker.press("Enter")
    expect(page.get_by_role("heading", name="Prediction")).to_be_visible()
    _settled(page)
    detail = page.get_by_test_id("stText").filter(has_text="<script>alert(1)</script>")
    expect(detail).to_have_text(MARKUP)
    main = page.get_by_test_id("stMain")
    expect(main.locator('a[href="http://example.test/shot"]')).to_have_count(0)
    expect(main.locator("script")).to_have_count(0)
    expect(main.locator("b", has_text="bold")).to_have_count(0)
    assert dialogs == []
