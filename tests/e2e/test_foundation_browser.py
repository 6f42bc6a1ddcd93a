"""The foundation in a real browser: sign in, every page, add a user, see it in the audit log.

Starts `streamlit run` on a free port against a fresh SQLite file and drives Debian's Chromium
with Playwright. Takes a screenshot of the Overview; it is written to docs/screenshot.png (what
the README shows) when that file is missing or LOOPDECK_UPDATE_SCREENSHOT=1, so a test run does
not change a tracked file by accident.
"""

from __future__ import annotations

import os
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
SCREENSHOT = ROOT / "docs" / "screenshot.png"
SAMPLES = ROOT / "data" / "samples"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
ADMIN, PASSWORD = "admin@loopdeck.test", "correct horse battery"
TIMEOUT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed: browser tests are skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: browser tests are skipped")
expect = sync_api.expect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
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
    base: str  # http://127.0.0.1:<port>
    db_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    from services import users
    from services.db import make_engine, migrate, write_session
    from services.schema import ModelVersion

    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'loopdeck.db'}"
    engine = make_engine(url)
    migrate(engine)
    users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORD)
    with write_session(engine) as session:  # the model version the sample predictions refer to
        session.add(ModelVersion(model_name="demo-churn", version=1, created_by="e2e"))
    engine.dispose()

    port, log = _free_port(), folder / "streamlit.log"
    env = {**os.environ, "LOOPDECK_DATABASE_URL": url}
    command = [
        sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]
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
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    yield page
    context.close()


def _sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(base)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _open(page, link: str, heading: str) -> None:
    page.get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    _settled(page)


def _settled(page, where: str = "") -> None:
    """Wait until the script run is over (Streamlit shows a status widget while it runs)."""
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    expect(page.get_by_test_id("stException"), f"{where or page.url} shows an exception").to_have_count(0)


def _grid_cell(page, text: str):
    return page.get_by_test_id("stDataFrame").get_by_role("gridcell", name=text, exact=True, include_hidden=True)


def test_admin_walks_every_page_adds_a_user_and_finds_it_in_the_audit_log(server, page):
    _sign_in(page, server.base, ADMIN, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    _settled(page)
    shot = page.screenshot()
    assert len(shot) > 10_000
    if os.environ.get("LOOPDECK_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)

    nav = page.get_by_test_id("stSidebarNav").get_by_role("link")
    titles = [text.splitlines()[-1].strip() for text in nav.all_inner_texts()]  # after the icon's name
    assert {"Overview", "Data", "Audit log", "Admin", "My account"} <= set(titles)
    for i in range(len(titles)):  # every page the admin may open renders without an exception
        nav.nth(i).click()
        expect(page.get_by_role("heading", level=1).first).to_be_visible()
        _settled(page, titles[i])
    _open(page, "Admin", "Admin")

    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Add user"))
    form.get_by_role("textbox", name="E-mail").fill("new.analyst@loopdeck.test")
    form.get_by_role("textbox", name="Name").fill("Nia Analyst")
    form.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="analyst", exact=True).click()
    form.get_by_role("textbox", name="Initial password", exact=True).fill("a fine password")
    form.get_by_role("button", name="Add user").click()
    expect(page.get_by_text("Added new.analyst@loopdeck.test as analyst.")).to_be_visible()
    expect(_grid_cell(page, "new.analyst@loopdeck.test")).to_be_attached()

    _open(page, "Audit log", "Audit log")
    expect(_grid_cell(page, "user.add")).to_be_attached()
    payload = '{"email":"new.analyst@loopdeck.test","name":"Nia Analyst","role":"analyst"}'
    expect(_grid_cell(page, payload)).to_be_attached()
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_text("Audit chain intact")).to_be_visible()

    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_wrong_password_is_refused_and_an_analyst_sees_no_admin_page(server, page):
    from services import users
    from services.db import make_engine

    engine = make_engine(server.db_url)
    boss = users.authenticate(engine, ADMIN, PASSWORD)
    users.add_user(engine, boss, "ann@loopdeck.test", "analyst", "analyst password")
    engine.dispose()
    _sign_in(page, server.base, "ann@loopdeck.test", "not the password")
    expect(page.get_by_text("Wrong e-mail or password.")).to_be_visible()
    expect(page.get_by_role("heading", name="Overview")).to_have_count(0)
    page.get_by_role("textbox", name="Password", exact=True).fill("analyst password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _settled(page)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("link", name="Audit log")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Admin")).to_have_count(0)
    expect(sidebar).to_contain_text("analyst")


def test_data_import_of_a_sample_and_a_broken_file(server, page):
    _sign_in(page, server.base, ADMIN, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _open(page, "Data", "Data")
    sample = SAMPLES / "predictions.csv"
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(sample))
    expect(page.get_by_text("predictions.csv")).to_be_visible()
    _settled(page)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("Imported predictions: 10 rows: 10 new")).to_be_visible()
    expect(_grid_cell(page, "predictions.csv")).to_be_attached()  # the history table

    broken = sample.read_bytes().replace(b",0.91,", b",not-a-score,")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": "broken.csv", "mimeType": "text/csv", "buffer": broken}
    )
    expect(page.get_by_text("broken.csv", exact=True).first).to_be_visible()
    _settled(page)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("The file was not imported: 1 problem. Nothing was written.")).to_be_visible()
    expect(_grid_cell(page, "score")).to_be_attached()
