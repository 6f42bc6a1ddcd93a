"""Monitoring links in a real browser: a Monitoring URL opened directly (typed into the address bar, and in
a new tab of the signed-in browser) shows the tab and the cohort it names, and the address bar follows what the user
picks; an Overview tile opens the Monitoring tab it names.

Starts `streamlit run` on a free port against a copy of the demo (scale 0.1, monitoring blocks built)
and drives Debian's Chromium with Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

VIEWER, PASSWORD = "viewer@loopdeck.demo", "demo-viewer-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 30_000

sync_api = harness.skip_without_browser()
expect = sync_api.expect


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    from tests.services.monitoring.test_monitoring import demo_database

    folder = tmp_path_factory.mktemp("e2e-monitoring-links")
    path = folder / "loopdeck.db"
    shutil.copyfile(demo_database(folder.parent / "monitoring-demo"), path)
    with harness.running_app(f"sqlite:///{path}", folder) as running:
        yield running.base


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
