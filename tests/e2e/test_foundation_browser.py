"""The foundation in a real browser: sign in, every page, add a user, see it in the audit log.

Starts `streamlit run` on a free port against a fresh SQLite file and drives Debian's Chromium
with Playwright. Takes a screenshot of the Overview; it is written to docs/screenshot.png (what
the README shows) when that file is missing or LOOPDECK_UPDATE_SCREENSHOT=1, so a test run does
not change a tracked file by accident.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.e2e import harness
from tests.e2e.harness import ROOT, Server, grid_cell
from tests.e2e.jobs import expect_after_jobs

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

SCREENSHOT = ROOT / "docs" / "screenshot.png"
SAMPLES = ROOT / "data" / "samples"
ADMIN, PASSWORD = "admin@loopdeck.test", "correct horse battery"
TIMEOUT_MS = 30_000  # a page run waits for the worker process; on a loaded CI box that takes seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    from services.core import users
    from services.core.db import make_engine, migrate, write_session
    from services.core.schema_models import ModelVersion

    folder = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{folder / 'loopdeck.db'}"
    engine = make_engine(url)
    migrate(engine)
    users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORD)
    with write_session(engine) as session:  # the model version the sample predictions refer to
        session.add(ModelVersion(model_name="demo-churn", version=1, created_by="e2e"))
    engine.dispose()
    with harness.running_app(url, folder) as running:
        yield running


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        yield page


def _sign_in(page, base: str, email: str, password: str, *, refused: bool = False) -> None:
    harness.sign_in(sync_api, page, base, email, password, refused=refused)


def _open(page, link: str, heading: str) -> None:
    harness.open_page(sync_api, page, link, heading)


def _settled(page, where: str = "") -> None:
    harness.settled(sync_api, page, where)


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
    expect(grid_cell(page, "new.analyst@loopdeck.test")).to_be_attached()

    _open(page, "Audit log", "Audit log")
    expect(grid_cell(page, "user.add")).to_be_attached()
    payload = '{"email":"new.analyst@loopdeck.test","name":"Nia Analyst","role":"analyst"}'
    expect(grid_cell(page, payload)).to_be_attached()
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_text("Audit chain intact")).to_be_visible()

    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_wrong_password_is_refused_and_an_analyst_sees_no_admin_page(server, page):
    from services.core import users
    from services.core.db import make_engine

    engine = make_engine(server.db_url)
    boss = users.authenticate(engine, ADMIN, PASSWORD)
    users.add_user(engine, boss, "ann@loopdeck.test", "analyst", "analyst password")
    engine.dispose()
    _sign_in(page, server.base, "ann@loopdeck.test", "not the password", refused=True)
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
    expect_after_jobs(sync_api, page, page.get_by_text("Imported predictions: 10 rows: 10 new"))
    expect(grid_cell(page, "predictions.csv")).to_be_attached()  # the history table

    broken = sample.read_bytes().replace(b",0.91,", b",not-a-score,")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": "broken.csv", "mimeType": "text/csv", "buffer": broken}
    )
    expect(page.get_by_text("broken.csv", exact=True).first).to_be_visible()
    _settled(page)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("The file was not imported: 1 problem. Nothing was written.")).to_be_visible()
    expect(grid_cell(page, "score")).to_be_attached()
