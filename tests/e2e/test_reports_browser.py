"""The shareable drift report in a real browser: an analyst downloads it from the Monitoring screen's Drift
tab (a Playwright download), and the file, opened from file:// in a browser context that is offline and
refuses every network request, draws its plotly figures (plotly.js is inside the file) and names the
view it was made from.

Runs on the shared demo server (tests/e2e/conftest.py: a copy of the demo, scale 0.1, monitoring blocks
built) and drives Debian's Chromium with Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

ANALYST, PASSWORD = "analyst@loopdeck.demo", "demo-analyst-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 30_000

sync_api = harness.skip_without_browser()
expect = sync_api.expect


@pytest.fixture
def server(demo_server) -> str:
    """The shared demo server (tests/e2e/conftest.py); this module only reads."""
    return demo_server.base


def test_the_drift_report_downloads_and_draws_offline(server, browser, tmp_path):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        harness.sign_in(sync_api, page, server, ANALYST, PASSWORD)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        harness.settled(sync_api, page)
        harness.open_page(sync_api, page, "Monitoring", "Monitoring")
        expect(page.get_by_text("Features drifted", exact=True)).to_be_visible()
        button = page.get_by_test_id("stDownloadButton").filter(has_text="Download report (HTML)")
        with page.expect_download(timeout=60_000) as info:
            button.click()
        download = info.value
        assert download.suggested_filename.startswith("drift-churn-v2-") and download.suggested_filename.endswith(
            ".html"
        )
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
    assert saved.stat().st_size > 3_000_000  # plotly.js is inside

    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
    requested: list[str] = []

    def refuse(route) -> None:
        requested.append(route.request.url)
        route.abort()

    context.route("http://**/*", refuse)
    context.route("https://**/*", refuse)
    try:
        report = context.new_page()
        report.set_default_timeout(TIMEOUT_MS)
        report.goto(saved.as_uri())
        expect(report.get_by_role("heading", name="Loopdeck drift report: churn v2 (champion)")).to_be_visible()
        expect(report.get_by_text("Reference window 2026-09-15 to 2026-09-28")).to_be_visible()
        scores = report.locator("#drift-scores")
        expect(scores.locator(".main-svg").first).to_be_visible()
        expect(scores.locator(".barlayer .point").first).to_be_visible()  # the bars are drawn
        bars = scores.locator(".barlayer .point").count()
        assert bars >= 9, bars  # one per tested column (9 features and the outputs)
        expect(report.locator("#dist-0 .barlayer .point").first).to_be_visible()
        assert report.evaluate("typeof window.Plotly") == "object"
        assert report.get_by_text("sessions_per_week").count() >= 1
    finally:
        context.close()
    assert requested == [], requested
