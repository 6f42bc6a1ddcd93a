"""The Feedback page in a real browser: an analyst triages three items in review mode (two with the "1"
key, one with the mouse), bulk-edits five in the queue, finds the eight audit events on the Audit log
page; a feedback text with a script tag, HTML and a markdown link shows as literal text (no alert, no link).

Starts `streamlit run` on a free port against a fresh SQLite file and drives Debian's Chromium with
Playwright. (The foundation browser test keeps its harness inside its own module, not in a conftest,
so this module has its own small copy.)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
ADMIN, ANALYST, PASSWORD = "admin@loopdeck.test", "ann@loopdeck.test", "correct horse battery"
MARKUP = "Export broken <script>alert(1)</script> <b>bold</b> see [the screenshot](http://example.test/shot)"
TIMEOUT_MS = 20_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: browser tests are skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: browser tests are skipped")
expect = sync_api.expect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, seconds: float = 40) -> None:
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


@dataclass(frozen=True)
class Server:
    base: str
    db_url: str


def _seed(url: str) -> None:
    """An admin, an analyst, one model with twelve predictions and twelve new feedback items,
    the oldest of which carries markup."""
    from services import users
    from services.db import make_engine, migrate
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
    port, log = _free_port(), folder / "streamlit.log"
    env = {**os.environ, "LOOPDECK_DATABASE_URL": url}
    command = [
        sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_healthy(base, proc, log)
        yield Server(base, url)
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
    context = browser.new_context(viewport={"width": 1500, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    yield page
    context.close()


def _settled(page) -> None:
    """Wait until the script run is over (Streamlit shows a status widget while it runs)."""
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def _sign_in(page, base: str) -> None:
    page.goto(base)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="E-mail").fill(ANALYST)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _settled(page)


def _open(page, link: str, heading: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    _settled(page)


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
    The grid is drawn on a canvas: click by position (header and rows are 35 px high)."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    for count, row in enumerate(rows, start=1):
        page.mouse.click(box["x"] + 20, box["y"] + 35 + 35 * row + 17)
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
