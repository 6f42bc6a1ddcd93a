"""Monitoring links in a real browser: a Monitoring URL opened directly (typed into the address bar, and in
a new tab of the signed-in browser) shows the tab and the cohort it names, and the address bar follows what the user
picks; an Overview tile opens the Monitoring tab it names.

Runs on the shared demo server (tests/e2e/conftest.py: a copy of the demo, scale 0.1, monitoring blocks
built) and drives Debian's Chromium with Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

VIEWER, PASSWORD = "viewer@loopdeck.demo", "demo-viewer-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 30_000

sync_api = harness.skip_without_browser()
expect = sync_api.expect


@pytest.fixture
def server(demo_server) -> str:
    """The shared demo server (tests/e2e/conftest.py); a viewer changes nothing in it."""
    return demo_server.base


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _selected_tab(page, name: str) -> None:
    expect(page.get_by_role("tab", name=name, exact=True)).to_have_attribute("aria-selected", "true")


def test_a_monitoring_link_opens_its_tab_and_cohort_directly(server, browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        harness.sign_in(sync_api, page, server, VIEWER, PASSWORD)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        harness.settled(sync_api, page)
        # Typed into the address bar (a full load: a new session, signed in by the cookie).
        page.goto(f"{server}/monitor?tab=alerts&cohort=platform&value=ios")
        expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        _selected_tab(page, "Alerts")
        caption = page.get_by_test_id("stCaptionContainer").filter(has_text="Days are UTC")
        # The header names the cohort every tab is restricted to.
        expect(caption).to_contain_text("current 2026-10-02 to 2026-10-29, platform = ios.")
        query = _query(page)
        assert query["tab"] == ["alerts"] and query["cohort"] == ["platform"] and query["value"] == ["ios"]
        assert query["model"] == ["churn"] and query["window"] == ["last28"]

        # A new tab of the same browser (a new session; the cookie signs it in): the web cohort's drift.
        other = harness.another_tab(sync_api, page.context, TIMEOUT_MS)
        other.goto(f"{server}/monitor?tab=drift&cohort=platform&value=web")
        expect(other.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
        harness.settled(sync_api, other)
        _selected_tab(other, "Drift")
        expect(other.get_by_test_id("stCaptionContainer").filter(has_text="Days are UTC")).to_contain_text(
            "current 2026-10-02 to 2026-10-29, platform = web."
        )
        expect(other.get_by_test_id("stMetric").filter(has_text="Features drifted")).to_contain_text("0 of 9")

        # Picking another tab rewrites the address: the URL is the view.
        other.get_by_role("tab", name="Performance", exact=True).click()
        harness.settled(sync_api, other)
        expect(other).to_have_url(re.compile(r"[?&]tab=performance(&|$)"))
        assert _query(other)["value"] == ["web"]


def test_an_overview_tile_opens_the_monitoring_tab_it_names(server, browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        harness.sign_in(sync_api, page, server, VIEWER, PASSWORD)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        harness.settled(sync_api, page)
        page.get_by_role("link", name="Performance in Monitoring").click()
        expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        _selected_tab(page, "Performance")
        expect(page.get_by_text("predictions have outcomes", exact=False)).to_be_visible()
        assert _query(page)["tab"] == ["performance"]

        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Overview").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        harness.settled(sync_api, page)
        page.get_by_role("link", name="Drift in Monitoring").click()
        expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        _selected_tab(page, "Drift")
        expect(page.get_by_test_id("stMetric").filter(has_text="Features drifted")).to_contain_text("2 of 9")


def test_a_monitoring_link_opened_signed_out_opens_its_view_after_signing_in(server, browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        page.goto(f"{server}/monitor?model=churn&version=2&tab=drift")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        harness.settled(sync_api, page)
        expect(page.get_by_text("Page not found")).to_have_count(0)
        page.get_by_role("textbox", name="E-mail").fill(VIEWER)
        page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        _selected_tab(page, "Drift")
        query = _query(page)
        assert query["model"] == ["churn"] and query["version"] == ["2"] and query["tab"] == ["drift"]


@pytest.fixture
def demo(demo_server) -> Iterator[object]:
    """The database of the shared demo server, read as the page reads it."""
    from services.core.db import make_engine

    engine = make_engine(demo_server.db_url)
    yield engine
    engine.dispose()


def _two_value_alert(engine) -> tuple[int, int, str, list[str]]:
    """(row in the open alerts table, alert id, field, values) of the demo's open alert on a cohort of two
    values (platform ios or android)."""
    from services.monitoring import alerts

    for index, view in enumerate(alerts.list_alerts(engine, "open")):
        for field, values in (view.rule.cohort or {}).items():
            if isinstance(values, list) and len(values) == 2:
                return index, view.alert.id, field, values
    raise AssertionError("the demo has no open alert on a two-value cohort")


def _queue_total(engine, field: str, values: list[str]) -> int:
    from services.feedback import triage

    return triage.queue_counts(engine, triage.QueueFilter(cohort=tuple((field, v) for v in values))).total


def test_an_alert_on_two_cohorts_opens_the_feedback_of_both(server, browser, demo):
    """An alert whose rule names platform ios or android: "Open feedback for this cohort" opens the queue
    filtered to both values (not the first only), and the queue shows items of both cohorts."""
    row, alert_id, field, values = _two_value_alert(demo)
    both, first = _queue_total(demo, field, values), _queue_total(demo, field, values[:1])
    assert both > first > 0
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        harness.sign_in(sync_api, page, server, VIEWER, PASSWORD)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        harness.settled(sync_api, page)
        page.goto(f"{server}/monitor?tab=alerts")
        expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        table = page.locator('[data-testid="stDataFrame"]:visible').first
        table.scroll_into_view_if_needed()
        box = table.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 20, box["y"] + 35 * (row + 1) + 17)  # the alert's row
        harness.settled(sync_api, page, "alert row")
        detail = page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(rf"^Alert {alert_id} · open"))
        expect(detail).to_be_visible()

        page.get_by_role("link", name="Open feedback for this cohort").click()
        expect(page.get_by_role("heading", name="Feedback", exact=True)).to_be_visible()
        harness.settled(sync_api, page, "Open feedback for this cohort")
        query = _query(page)
        assert query["cohort"] == [field] and query["value"] == values
        chosen = page.get_by_test_id("stMultiSelect").filter(has_text="Cohort values")
        for value in values:
            expect(chosen).to_contain_text(value)
        expect(page.get_by_test_id("stMetric").filter(has_text="Matching")).to_contain_text(f"{both:,}")
        grids = page.get_by_test_id("stDataFrame")
        text_header = page.get_by_role("columnheader", name="text", include_hidden=True)
        expect(grids.filter(has=text_header)).to_have_count(1)
        # The queue by position: a filter on its "text" header stops matching once scrolled out of view.
        queue = grids.nth(next(i for i in range(grids.count()) if grids.nth(i).locator(text_header).count()))
        for value in values:  # rows of each cohort are in the queue (its cohort column, scrolled into view)
            cell = queue.get_by_role("gridcell", name=value, exact=True, include_hidden=True)
            _scroll_right_until(page, queue, cell)


def _scroll_right_until(page, grid, target, steps: int = 10) -> None:
    """Scroll a canvas grid right (the mouse wheel) until `target` is drawn: the grid puts only the cells on
    screen in the accessibility tree."""
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + min(box["height"] / 2, 120))
    for _ in range(steps):
        if target.count():
            return
        page.mouse.wheel(600, 0)
        page.wait_for_timeout(200)
    expect(target.first).to_be_attached()
