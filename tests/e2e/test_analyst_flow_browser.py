"""The flow a new analyst follows, in a real browser, counted in clicks: signed in as the demo analyst, from
the Overview to the cohort that regressed (top of the cohort ranking), the alert on it, a retrain request
filed from the alert, the cohort's drifted features and the feedback that names the cause, in at most
six clicks. Only links, tabs, rows and buttons: no address is typed after signing in.

    Overview --1 "Performance in Monitoring"--> cohort ranking (iOS or Android first)
             --2 tab "Alerts"--> --3 the champion's alert row--> the alert (its cohort = the regressed one)
             --4 "Request retraining"--> retrain request #R, trigger alert:N
             --5 "Open drift for this cohort"--> app_latency_ms and sessions_per_week drifted
             --6 "Open feedback for platform = ..."--> the cohort's feedback, themed "... since the update"

Runs on the shared demo server (tests/e2e/conftest.py: a copy of the demo, scale 0.1, monitoring blocks
built) and drives Debian's Chromium with Playwright (tests/e2e/harness.py); a failure leaves screenshots in
harness.artifacts_folder().
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

ANALYST, PASSWORD = "analyst@loopdeck.demo", "demo-analyst-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 30_000
MAX_CLICKS = 6
MOBILE = ("ios", "android")
DRIFTED = ("app_latency_ms", "sessions_per_week")  # what the app update changed (data/scenario.py)
# The cause in the users' words: data/themes.py, theme "mobile_app" ("... slow since the update").
CAUSE = re.compile(r"update|new version|version 5\.0", re.IGNORECASE)

sync_api = harness.skip_without_browser()
expect = sync_api.expect


@dataclass
class Clicks:
    """Every click of the flow goes through here, so the test can count them."""

    page: object
    done: list[str] = field(default_factory=list)

    def on(self, locator, what: str) -> None:
        locator.click()
        self.done.append(what)
        harness.settled(sync_api, self.page, what)

    def at(self, x: float, y: float, what: str) -> None:
        self.page.mouse.click(x, y)
        self.done.append(what)
        harness.settled(sync_api, self.page, what)


@pytest.fixture
def server(demo_server) -> harness.Server:
    """The shared demo server (tests/e2e/conftest.py); this module's write: the churn model's one open
    retrain request."""
    return demo_server


def _engine(server: harness.Server):
    from services.core.db import make_engine

    return make_engine(server.db_url)


def _ranking_rows(page) -> list[str]:
    """The cohort ranking's rows as text, in the order shown (the grid is a canvas; its cells are in the
    accessibility tree)."""
    grid = page.get_by_test_id("stDataFrame").filter(
        has=page.get_by_role("columnheader", name="why this rank", include_hidden=True)
    )
    expect(grid.get_by_role("gridcell", name="1", exact=True, include_hidden=True).first).to_be_attached()
    rows = grid.get_by_role("row", include_hidden=True)
    return [rows.nth(i).text_content() or "" for i in range(1, min(rows.count(), 4))]


def _scroll_right_until(page, grid, target, steps: int = 8) -> None:
    """Scroll a canvas grid to the right (the mouse wheel, not a click) until `target` is drawn: the grid
    puts only the columns on screen in the accessibility tree."""
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


def _champion_alert(server: harness.Server) -> tuple[int, int]:
    """(row index in the open alerts table, alert id) of the open alert on the champion's mobile cohort."""
    from services.monitoring import alerts
    from services.overview import summary

    engine = _engine(server)
    try:
        views = alerts.list_alerts(engine, "open")
        champion = next(c for c in summary.champions(engine) if c.model_name == "churn")
        for index, view in enumerate(views):
            if view.alert.model_version_id == champion.model_version_id and view.rule.cohort:
                return index, view.alert.id
    finally:
        engine.dispose()
    raise AssertionError("the demo has no open alert on the champion's cohort")


def test_a_new_analyst_reaches_cohort_drift_feedback_and_retrain_in_six_clicks(server, browser):
    from services.models import alert_retrain

    engine = _engine(server)
    assert alert_retrain.open_retrain_request(engine, "churn") is None, "the demo starts with no retrain request"
    row, alert_id = _champion_alert(server)
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        harness.sign_in(sync_api, page, server.base, ANALYST, PASSWORD)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        harness.settled(sync_api, page, "Overview")
        clicks = Clicks(page)

        # 1. The Overview's headline tile -> Performance: the cohort ranking, new regressions first.
        clicks.on(page.get_by_role("link", name="Performance in Monitoring"), "Performance in Monitoring")
        expect(page.get_by_role("tab", name="Performance", exact=True)).to_have_attribute("aria-selected", "true")
        top = _ranking_rows(page)[0]
        regressed = next((m for m in MOBILE if f"platform = {m}" in top), None)
        assert regressed is not None, f"the top of the cohort ranking is not iOS or Android: {top!r}"

        # 2-3. The Alerts tab, the champion's open alert: on the mobile cohort, so on the regressed one.
        clicks.on(page.get_by_role("tab", name="Alerts", exact=True), "tab Alerts")
        table = page.locator('[data-testid="stDataFrame"]:visible').first
        table.scroll_into_view_if_needed()
        box = table.bounding_box()
        assert box is not None
        clicks.at(box["x"] + 20, box["y"] + 35 * (row + 1) + 17, f"alert row {row + 1}")
        detail = page.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(rf"^Alert {alert_id} · open"))
        expect(detail).to_contain_text("platform")
        expect(detail).to_contain_text(regressed)

        # 4. The alert requests a retrain: an approval request with the alert as its trigger.
        clicks.on(page.get_by_role("button", name="Request retraining"), "Request retraining")
        expect(page.get_by_text(f"trigger alert:{alert_id}", exact=False)).to_be_visible()
        request = alert_retrain.open_retrain_request(engine, "churn")
        assert request is not None and request.kind == "retrain"
        assert (request.payload or {}).get("trigger") == f"alert:{alert_id}"
        assert request.requested_by == ANALYST

        # 5. The cohort's drift: the features the update changed have drifted.
        clicks.on(page.get_by_role("link", name="Open drift for this cohort"), "Open drift for this cohort")
        expect(page.get_by_role("tab", name="Drift", exact=True)).to_have_attribute("aria-selected", "true")
        caption = page.get_by_test_id("stCaptionContainer").filter(has_text="Days are UTC")
        expect(caption).to_contain_text(regressed)
        drift = page.get_by_test_id("stDataFrame").filter(
            has=page.get_by_role("columnheader", name="verdict", include_hidden=True)
        )
        for column in DRIFTED:
            cell = page.get_by_role("gridcell", name=column, exact=True, include_hidden=True)
            expect(drift.locator(cell)).to_be_attached()
            row_text = drift.get_by_role("row", include_hidden=True).filter(has=cell).text_content() or ""
            assert "drifted" in row_text and "no drift" not in row_text, f"{column} did not drift: {row_text!r}"

        # 6. What the cohort's users write: their feedback, themed by its cause (the app update).
        label = re.compile(r"^Open feedback for platform = (ios|android)( or (ios|android))?$")  # every value
        feedback_link = page.get_by_role("link", name=label)
        clicks.on(feedback_link, "Open feedback for the cohort")
        expect(page.get_by_role("heading", name="Feedback", exact=True)).to_be_visible()
        expect(page).to_have_url(re.compile(r"[?&]cohort=platform&value=(ios|android)(&|$)"))
        queue = page.get_by_test_id("stDataFrame").filter(
            has=page.get_by_role("columnheader", name="text", include_hidden=True)
        )
        themed = queue.locator(page.get_by_role("gridcell", name=CAUSE, include_hidden=True))
        _scroll_right_until(page, queue, themed)
        assert CAUSE.search(themed.first.text_content() or ""), "no feedback of the cohort is themed by its cause"

        assert len(clicks.done) <= MAX_CLICKS, f"{len(clicks.done)} clicks: {clicks.done}"
    engine.dispose()
