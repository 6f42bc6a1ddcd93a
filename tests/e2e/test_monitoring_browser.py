"""Monitoring in a real browser: an analyst opens Monitoring on the demo (scale 0.1, in a temp SQLite
file), changes the current window and sees the Performance tab follow it (the window, the number of
predictions and outcomes, the rows of the flagged iOS cohort all change) with the mobile cohort flagged
in both windows, new since the reference in the longer one; the drift over time names the release
day. On the Alerts tab an analyst evaluates a mobile-accuracy rule, selects the alert it opens,
acknowledges it with a comment and files it to the backlog.

Starts `streamlit run` on a free port and drives Debian's Chromium with Playwright
(tests/e2e/harness.py). The demo's monitoring blocks are left unbuilt, so the page builds them on first view
behind its progress box, as it would after an upgrade.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.jobs import expect_after_jobs

pytestmark = pytest.mark.e2e

ANALYST, PASSWORD = "analyst@loopdeck.demo", "demo-analyst-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 30_000

sync_api = harness.skip_without_browser()
expect = sync_api.expect
HEIGHT = 1000


def _demo_without_blocks(folder: Path) -> str:
    import sqlalchemy as sa

    from services.core.db import make_engine
    from services.core.roles import Actor, Role
    from services.monitoring import alerts
    from tests.services.monitoring.test_monitoring import demo_database

    path = folder / "loopdeck.db"
    shutil.copyfile(demo_database(folder.parent / "monitoring-demo"), path)
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # forget the blocks: the page builds them on first view
        conn.execute(sa.text("DELETE FROM monitoring_block"))
        conn.execute(sa.text("DELETE FROM monitoring_sync"))
    # A rule another analyst set up; the browser evaluates it and works the alert.
    alerts.create_rule(engine, Actor("lead@loopdeck.demo", Role.analyst), name="Mobile accuracy",
                       model_name="churn", metric="accuracy", threshold=0.82, window="7d",
                       cohort={"platform": ["ios", "android"]})  # fmt: skip
    engine.dispose()
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("e2e-monitoring")
    url = _demo_without_blocks(folder)
    with harness.running_app(url, folder) as running:
        yield running.base


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=HEIGHT) as page:
        yield page


def _settled(page) -> None:
    harness.settled(sync_api, page)


def _click_first_row(page, attempts: int = 3) -> None:
    """Click the first row's selection marker in the page's first table (the grid is a canvas, so by
    position). A run still drawing can replace the table under the locator: settle, look it up again."""
    for attempt in range(attempts):
        _settled(page)
        grid = page.get_by_test_id("stDataFrame").first
        try:
            grid.scroll_into_view_if_needed(timeout=10_000)
            box = grid.bounding_box()
        except sync_api.Error:
            if attempt == attempts - 1:
                raise
            continue
        if box is None and attempt < attempts - 1:
            continue
        page.mouse.click(box["x"] + 20, box["y"] + 35 + 17)
        _settled(page)
        return


def _choose(page, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()
    _settled(page)


def _sign_in_to_monitoring(page, base: str) -> None:
    page.goto(base)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="E-mail").fill(ANALYST)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _settled(page)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Monitoring").click()
    expect(page.get_by_role("heading", name="Monitoring", exact=True)).to_be_visible()


PERFORMANCE_CAPTION = re.compile(r"Current window (\S+ to \S+): ([\d,]+) of ([\d,]+) predictions have outcomes")
IOS_FLAGGED = re.compile(r"platform = ios: accuracy ([\d.]+) on ([\d,]+) rows")


def _performance_readout(page, window: str) -> tuple[str, int, int, float, int]:
    """(window, labelled, predictions, ios accuracy, ios rows) as the Performance tab shows them, once it
    shows `window`."""
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="predictions have outcomes")
    expect(caption).to_contain_text(f"Current window {window}:")
    found = PERFORMANCE_CAPTION.search(caption.inner_text())
    assert found, caption.inner_text()
    flagged = page.get_by_test_id("stAlertContentError").filter(has_text="Flagged cohorts")
    expect(flagged).to_contain_text("platform = ios")
    ios = IOS_FLAGGED.search(flagged.inner_text())
    assert ios, flagged.inner_text()
    return found.group(1), _count(found.group(2)), _count(found.group(3)), float(ios.group(1)), _count(ios.group(2))


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def test_analyst_changes_the_window_and_sees_the_mobile_cohort_flagged(server, page):
    _sign_in_to_monitoring(page, server)
    # First view: the blocks are built behind a progress box, then the drift tab shows the story.
    expect_after_jobs(sync_api, page, page.get_by_text("Monitoring data refreshed"))
    expect(page.get_by_text("2 of 9", exact=True)).to_be_visible()
    _settled(page)

    # The default current window (the last 28 days): iOS is flagged there already.
    page.get_by_role("tab", name="Performance", exact=True).click()
    _settled(page)
    before = _performance_readout(page, "2026-10-02 to 2026-10-29")

    # A longer window, from the day after the reference: every number on the tab follows it.
    _choose(page, "Current window", "Everything after the reference")
    expect(page.get_by_text("current 2026-09-29 to 2026-10-29", exact=False)).to_be_visible()
    after = _performance_readout(page, "2026-09-29 to 2026-10-29")
    flagged = page.get_by_test_id("stAlertContentError").filter(has_text="Flagged cohorts")
    expect(flagged).to_contain_text("new since the reference window")
    # Four more days: more predictions, more labelled ones, and more iOS rows behind the flag.
    assert after[2] > before[2] and after[1] > before[1], (before, after)
    assert after[4] > before[4], (before, after)

    page.get_by_role("tab", name="Drift over time", exact=True).click()
    _settled(page)
    expect(page.get_by_text("Started drifting", exact=False)).to_be_visible()
    expect(page.get_by_text("sessions_per_week from 2026-09-30", exact=False)).to_be_visible()


def test_analyst_evaluates_the_rules_acknowledges_the_alert_and_files_it_to_the_backlog(server, page):
    _sign_in_to_monitoring(page, server)
    _settled(page)
    page.get_by_role("tab", name="Alerts", exact=True).click()
    _settled(page)
    # the demo's own rule has its alerts open already (alerts 1 and 2); evaluating opens only the new rule's
    expect(page.get_by_text("No open alerts.")).to_have_count(0)
    page.get_by_role("button", name="Evaluate rules now").click()
    _settled(page)
    expect(page.get_by_text("1 new alert(s).")).to_be_visible()

    # Select the new alert, the newest (the grid is a canvas: click the row's selection marker by position).
    _click_first_row(page)
    detail = page.get_by_test_id("stMarkdown").filter(has_text="Alert 3")
    expect(detail).to_contain_text("accuracy")
    expect(detail).to_contain_text("for platform = ios or android on churn v2")

    ack = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Acknowledge"))
    ack.get_by_role("textbox", name="Comment").fill("Mobile team is looking at the 5.0 session counter")
    ack.get_by_role("button", name="Acknowledge").click()
    _settled(page)
    expect(page.get_by_text("Alert 3 acknowledged.")).to_be_visible()

    page.get_by_test_id("stButtonGroup").filter(has_text="Acknowledged").get_by_text("Acknowledged").click()
    _click_first_row(page)
    expect(page.get_by_text("Acknowledged by analyst@loopdeck.demo", exact=False)).to_be_visible()
    backlog = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Add to backlog"))
    backlog.get_by_role("textbox", name="Backlog item title").fill("Fix the mobile session counter")
    backlog.get_by_role("button", name="Add to backlog").click()
    _settled(page)
    expect(page.get_by_text("created from alert 3.", exact=False)).to_be_visible()
