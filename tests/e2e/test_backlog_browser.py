"""Backlog and Overview in a real browser: an analyst signs in on the demo (scale 0.1, monitoring blocks
built, in a temp SQLite file), follows three Overview tiles to their pages (Feedback, Experiments,
Backlog), and turns the mobile drift proposal into a planned item.

Starts `streamlit run` on a free port and drives Debian's Chromium with Playwright (the harness pattern
of tests/e2e/test_foundation_browser.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
ANALYST, PASSWORD = "analyst@loopdeck.demo", "demo-analyst-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 60_000  # a loaded CI box (two workers, servers and browsers) can take tens of seconds per run

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: browser tests are skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: browser tests are skipped")
expect = sync_api.expect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"streamlit did not answer /_stcore/health within {seconds}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    from tests.services.test_monitoring import demo_database

    folder = tmp_path_factory.mktemp("e2e-backlog")
    path = folder / "loopdeck.db"
    shutil.copyfile(demo_database(folder.parent / "monitoring-demo"), path)
    port, log = _free_port(), folder / "streamlit.log"
    env = {**os.environ, "LOOPDECK_DATABASE_URL": f"sqlite:///{path}"}
    command = [
        sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc, log)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    yield page
    context.close()


def _settled(page) -> None:
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


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
    expect(page.get_by_text("No items match")).to_be_visible()

    page.get_by_role("tab", name="Proposals").click()
    expect(page.get_by_text("Investigate the drift of sessions_per_week (churn)", exact=True)).to_be_visible()
    # the proposal's own button (Streamlit tags a keyed widget's container with st-key-<key>)
    page.locator(".st-key-bl_prop_plan_drift_churn_sessions_per_week").get_by_role(
        "button", name="Accept as planned"
    ).click()
    expect(page.get_by_text("Planned as item #1.")).to_be_visible()
    _settled(page)
    expect(page.get_by_text("Investigate the drift of sessions_per_week (churn)", exact=True)).to_have_count(0)

    page.get_by_role("tab", name="Ranked items").click()
    expect(page.get_by_role("heading", name="#1 Investigate the drift of sessions_per_week (churn)")).to_be_visible()
    expect(page.get_by_test_id("stMetricValue").filter(has_text="Planned")).to_be_visible()
