"""Backlog and Overview in a real browser: an analyst signs in on the demo (scale 0.1, monitoring blocks
built: the shared demo server, tests/e2e/conftest.py), follows three Overview tiles to their pages
(Feedback, Experiments, Backlog), and turns the mobile drift proposal into a planned item.

Drives Debian's Chromium with Playwright (tests/e2e/harness.py)."""

from __future__ import annotations

import re

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

ANALYST, PASSWORD = "analyst@loopdeck.demo", "demo-analyst-2026"  # data/scenario.py DEMO_USERS
TITLE = "Investigate the drift of app_latency_ms (churn)"  # the drift the demo's items do not cite yet
TIMEOUT_MS = 60_000  # a loaded CI box (two workers, servers and browsers) can take tens of seconds per run

sync_api = harness.skip_without_browser()
expect = sync_api.expect


@pytest.fixture
def server(demo_server) -> str:
    """The shared demo server (tests/e2e/conftest.py); this module's write: backlog item #4."""
    return demo_server.base


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        yield page


def _settled(page) -> None:
    harness.settled(sync_api, page)


def _count_in(label: str) -> int:
    """N of a tab label "Proposals (N)"."""
    found = re.search(r"\((\d+)\)", label)
    assert found, label
    return int(found.group(1))


def _overview(page) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_text("Drifted features")).to_be_visible()
    _settled(page)


def _follow_tile(page, link: str, heading: str) -> None:
    page.get_by_test_id("stMain").get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    _settled(page)


def test_overview_tiles_lead_to_their_pages_and_a_proposal_becomes_a_planned_item(server, page):
    page.goto(server)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="E-mail").fill(ANALYST)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    expect(page.get_by_text("2 of 9", exact=True)).to_be_visible()  # the mobile drift, on the drift tile
    _settled(page)

    _follow_tile(page, "Feedback queue", "Feedback")
    _overview(page)
    _follow_tile(page, "Experiments", "Experiments")
    _overview(page)
    _follow_tile(page, "Backlog", "Backlog")
    # the demo's backlog: the mobile alert filed with its evidence is on top (data/demo_acts.py)
    top = "#1 Mobile accuracy below 80% since app 5.0: retrain on corrected sessions"
    expect(page.get_by_role("heading", name=top)).to_be_visible()

    proposals_tab = page.get_by_role("tab", name="Proposals")
    proposals_tab.click()
    expect(page.get_by_text(TITLE, exact=True)).to_be_visible()
    # the drift of sessions_per_week is cited by the demo's items already: not proposed again
    expect(page.get_by_text("Investigate the drift of sessions_per_week (churn)", exact=True)).to_have_count(0)
    open_before = _count_in(proposals_tab.inner_text())
    # the proposal's own button (Streamlit tags a keyed widget's container with st-key-<key>)
    accept = page.locator(".st-key-bl_prop_plan_drift_churn_app_latency_ms")
    accept.get_by_role("button", name="Accept as planned").click()
    expect(page.get_by_text("Planned as item #4.")).to_be_visible()
    _settled(page)
    # The Proposals tab stays open (its label, with the count, changed) and no longer lists the proposal.
    # Only the open tab's panel is searched: the new item's title is now a cell of the Ranked items table.
    expect(proposals_tab).to_have_attribute("aria-selected", "true")
    assert _count_in(proposals_tab.inner_text()) == open_before - 1, proposals_tab.inner_text()
    expect(accept).to_have_count(0)
    expect(page.get_by_role("tabpanel").get_by_text(TITLE, exact=True)).to_have_count(0)

    page.get_by_role("tab", name="Ranked items").click()
    picker = page.get_by_role("combobox", name="Open item")
    picker.click()
    picker.fill("#4")
    page.get_by_role("option", name=f"#4 {TITLE}", exact=True).click()
    _settled(page)
    expect(page.get_by_role("heading", name=f"#4 {TITLE}")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").filter(has_text="Planned")).to_be_visible()
