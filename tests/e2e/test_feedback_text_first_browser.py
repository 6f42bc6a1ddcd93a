"""The queue is text first, measured in a real browser at 1440x900: the feedback text column is the widest
column the grid draws (widths read from the grid component itself) and its three-line wrap shows long
texts; no button label and no select value on the Feedback screen is cut off (an element whose content is
wider than its box: scrollWidth > clientWidth), in the queue's default state, with a long assignee picked,
with every bulk choice set and in each other view; and clicking Apply a second time repeats nothing.

Starts `streamlit run` on a free port against a fresh SQLite file and drives Debian's Chromium with
Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pages.feedback.queue import HEADER_HEIGHT, ROW_HEIGHT
from tests.e2e import harness
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

ADMIN, PASSWORD = "admin@loopdeck.test", "correct horse battery"
ANALYST = "annabel.smith-jones@loopdeck.test"  # a longish e-mail, as teams have
TEXT = ("The export to CSV keeps failing when the report has more than ten thousand rows; I tried three times "
        "this morning and got a blank file each time.")  # fmt: skip
CATEGORY = "wrong prediction on a renewal"
TIMEOUT_MS = 20_000

# Every element of the main area whose content is wider than its box, except inside the grid (a canvas
# with its own clipping) and text inputs while empty. Buttons: the button and each of its descendants
# with text; selects: the input that shows the chosen value; multiselect tags.
TRUNCATED_JS = """
() => {
  const main = document.querySelector('[data-testid=stMain]');
  const found = [];
  const check = (el, what) => {
    if (el.closest('[data-testid=stDataFrame]') || !el.getClientRects().length) return;
    if (el.scrollWidth > el.clientWidth + 1)
      found.push(`${what}: ${JSON.stringify(el.value || el.innerText)} ${el.scrollWidth}>${el.clientWidth}`);
  };
  for (const b of main.querySelectorAll('button')) {
    check(b, 'button');
    for (const d of b.querySelectorAll('*')) if (d.innerText && d.innerText.trim()) check(d, 'button label');
  }
  for (const i of main.querySelectorAll('input[role=combobox]')) check(i, 'select ' + i.getAttribute('aria-label'));
  for (const t of main.querySelectorAll('[data-testid=stMultiSelectTag] *')) if (t.innerText) check(t, 'tag');
  return found;
}
"""

# The columns as the grid component lays them out (title, width in px), from its React props: the widths
# it draws with, after Streamlit's sizing.
GRID_COLUMNS_JS = """
(grid) => {
  const canvas = grid.querySelector('canvas');
  let fiber = canvas[Object.keys(canvas).find(k => k.startsWith('__reactFiber'))];
  for (; fiber; fiber = fiber.return) {
    const cols = fiber.memoizedProps && fiber.memoizedProps.columns;
    if (Array.isArray(cols) && cols.length && typeof cols[0] === 'object' && 'width' in cols[0])
      return cols.map(c => [c.title, c.width]);
  }
  return null;
}
"""


def _seed(url: str) -> None:
    from services.core import settings, users
    from services.core.db import make_engine, migrate
    from services.feedback import edits
    from tests.services import factories

    engine = make_engine(url)
    migrate(engine)
    users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORD)
    boss = users.authenticate(engine, ADMIN, PASSWORD)
    users.add_user(engine, boss, ANALYST, "analyst", PASSWORD, name="Annabel")
    settings.set_value(engine, boss, "feedback.categories", ["bug", "login", CATEGORY])
    mv = factories.model_version(engine)
    request_ids = factories.predictions(engine, mv, 12, region="eu")
    pks = factories.feedback(engine, 12, request_ids, age_days=1, text=TEXT)
    edits.update_items(engine, boss, {pks[-1]: 1}, edits.Patch(assignee=ANALYST))  # an assignee to pick
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("e2e_feedback_text")
    url = f"sqlite:///{folder / 'loopdeck.db'}"
    _seed(url)
    with harness.running_app(url, folder, worker=False) as running:  # triage starts no job
        yield running


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1440, height=900) as page:
        yield page


def _settled(page) -> None:
    harness.settled(sync_api, page)


def _truncated(page, where: str) -> None:
    found = page.evaluate(TRUNCATED_JS)
    assert found == [], f"cut off at 1440 px ({where}): {found}"


def _choose(page, label: str, option: str) -> None:
    select = page.get_by_role("combobox", name=label, exact=True)
    select.evaluate("input => input.scrollIntoView({block: 'center'})")  # room below for the popover
    select.click()
    page.get_by_role("listbox", name=label).get_by_role("option", name=option, exact=True).click()
    expect(select).to_have_value(option)
    _settled(page)


def _tick_rows(page, rows: list[int]) -> None:
    """Tick rows by position on the grid's canvas. Each tick reruns the script, which can move the grid
    (a message from the previous action goes away): the grid's box is read again before every click."""
    grid = page.get_by_test_id("stDataFrame").first
    for count, row in enumerate(rows, start=1):
        grid.evaluate("grid => grid.scrollIntoView({block: 'start'})")
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 20, box["y"] + HEADER_HEIGHT + ROW_HEIGHT * row + ROW_HEIGHT // 2)
        expect(page.get_by_text(f"Bulk: {count} selected row(s)")).to_be_visible()
        _settled(page)


def _audit_count(url: str) -> int:
    from services.core import audit
    from services.core.audit import AuditFilter
    from services.core.db import make_engine

    engine = make_engine(url)
    try:
        return audit.count_events(engine, AuditFilter(action="feedback.update"))
    finally:
        engine.dispose()


def test_the_queue_is_text_first_at_1440_and_apply_does_not_repeat(server, page):
    harness.sign_in(sync_api, page, server.base, ANALYST, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _settled(page)
    harness.open_page(sync_api, page, "Feedback", "Feedback")
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid.locator("td[role=gridcell]").filter(has_text="blank file each time").first).to_have_text(TEXT)

    # The text column is the widest the grid draws, wide and tall enough to show this text whole:
    # at most three lines of ~7.5 px characters (a generous average for the grid's 14 px font).
    columns = dict(grid.evaluate(GRID_COLUMNS_JS))
    assert max(columns, key=columns.get) == "text", columns
    assert all(width < columns["text"] for title, width in columns.items() if title != "text"), columns
    assert len(TEXT) * 7.5 <= 3 * (columns["text"] - 2 * 8), (len(TEXT), columns["text"])
    assert ROW_HEIGHT > 64  # Streamlit wraps only rows taller than 4rem
    _truncated(page, "the queue")

    # A long assignee in the filter ("My queue" picks me), then back.
    page.get_by_role("button", name="My queue").click()
    _settled(page)
    expect(page.get_by_role("combobox", name="Assignee", exact=True)).to_have_value("me")
    _truncated(page, "My queue")
    page.get_by_role("button", name="Clear filters").click()
    _settled(page)
    page.get_by_text("More filters").click()
    _truncated(page, "more filters open")

    # Every bulk choice set, the longest option of each, then Apply.
    before = _audit_count(server.db_url)
    _tick_rows(page, [0, 1, 2])
    for label, option in (("Set status", "escalated"), ("Set category", CATEGORY), ("Set assignee", ANALYST),
                          ("Set priority", "urgent"), ("Set label", "(clear)")):  # fmt: skip
        _choose(page, label, option)
    _truncated(page, "the bulk bar, every choice set")
    apply = page.get_by_role("button", name="Apply to selected")
    apply.click()
    expect(page.get_by_text("Updated 3 of 3 selected item(s).")).to_be_visible()
    _settled(page)
    assert _audit_count(server.db_url) == before + 3

    # The bar is reset: every choice back to "(no change)", no row ticked, Apply disabled; ticking rows
    # again and clicking Apply changes nothing.
    for label in ("Set status", "Set category", "Set assignee", "Set priority", "Set label"):
        expect(page.get_by_role("combobox", name=label, exact=True)).to_have_value("(no change)")
    expect(page.get_by_text("Bulk: 0 selected row(s)")).to_be_visible()
    expect(apply).to_be_disabled()
    _tick_rows(page, [0, 1])
    apply.click()
    expect(page.get_by_text("Choose what to set first.")).to_be_visible()
    _settled(page)
    assert _audit_count(server.db_url) == before + 3

    # The other views.
    for view in ("Review mode", "Themes", "Training sets"):
        page.get_by_test_id("stMain").get_by_test_id("stButtonGroup").get_by_text(view, exact=True).click()
        _settled(page)
        _truncated(page, view)
