"""Signing in survives a reload and a new tab, signing out kills the cookie on the server, and a deep
link opened signed out lands on its view with its filters after signing in (issue 13, point 3).

Most tests run on the shared demo server (tests/e2e/conftest.py), as its admin and viewer: they write
only sessions of their own (signing out revokes that sign-in's cookie, not the account's other sessions).
A deep link as the first session of a server needs a fresh server each: those run on a small database
with the same two accounts and no job worker (nothing here starts a job)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import harness
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

ADMIN, VIEWER = "admin@loopdeck.demo", "viewer@loopdeck.demo"  # data/scenario.py DEMO_USERS
PASSWORDS = {ADMIN: "demo-admin-2026", VIEWER: "demo-viewer-2026"}
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    """A migrated SQLite file with the demo's admin and viewer accounts; each fresh server runs on its own
    copy."""
    from services.core import users
    from services.core.db import make_engine, migrate

    path = tmp_path_factory.mktemp("e2e-session-template") / "loopdeck.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    admin = users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORDS[ADMIN])
    boss = users.current_actor(engine, admin.id)
    users.add_user(engine, boss, VIEWER, "viewer", PASSWORDS[VIEWER], name="Vi Viewer")
    engine.dispose()
    return path


def _serve(database: Path, folder: Path):
    shutil.copyfile(database, folder / "loopdeck.db")
    return harness.running_app(f"sqlite:///{folder / 'loopdeck.db'}", folder, worker=False)  # starts no job


@pytest.fixture
def server(demo_server) -> Server:
    return demo_server


@pytest.fixture
def fresh_server(database, tmp_path) -> Iterator[Server]:
    """A server that has served nobody yet: a deep link is its first session. (Streamlit's first session
    of a process once ran under its old pages/ folder convention, and a link to any page but "/" was
    "Page not found"; server.py turns that off. A shared server hid it once another test had run first.)"""
    with _serve(database, tmp_path) as running:
        yield running


def _signed_in_overview(page) -> None:
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(ADMIN)
    harness.settled(sync_api, page)


def test_reload_and_new_tab_stay_signed_in_and_sign_out_kills_the_cookie(server, browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        harness.sign_in(sync_api, page, server.base, ADMIN, PASSWORDS[ADMIN])
        _signed_in_overview(page)
        cookie = harness.wait_for_session_cookie(page)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
        assert "loopdeck_session" not in page.evaluate("document.cookie")  # page scripts cannot read it

        page.reload()
        _signed_in_overview(page)

        other = page.context.new_page()  # a new tab of the same browser
        other.set_default_timeout(TIMEOUT_MS)
        other.goto(f"{server.base}/audit-log")
        expect(other.get_by_role("heading", name="Audit log", exact=True)).to_be_visible()
        other.close()

        page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # The old cookie, replayed in a fresh browser, no longer signs anyone in: revoked on the server.
    with harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        page.context.add_cookies([{k: cookie[k] for k in ("name", "value", "domain", "path")}])
        page.goto(server.base)
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        harness.settled(sync_api, page)
        expect(page.get_by_role("heading", name="Overview")).to_have_count(0)


def _sign_in_at(page, url: str, email: str = ADMIN) -> None:
    """Open a deep link signed out: the sign-in form at that address (no "Page not found"), then sign in."""
    page.goto(url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    harness.settled(sync_api, page)
    _sign_in_here(page, email)


def _sign_in_here(page, email: str = ADMIN) -> None:
    """Sign in on the sign-in form the page shows (no "Page not found" beside it)."""
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.get_by_role("textbox", name="E-mail").fill(email)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORDS[email])
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize(
    "link", ["feedback-queue?status=new", "monitor?model=churn&version=2&tab=drift", "settings?from=deep-link"]
)
def test_a_deep_link_is_no_page_not_found_as_the_first_session_of_a_fresh_server(fresh_server, browser, link):
    """Also the login gate's check for a page of today's navigation as a server's first run (see
    tests/e2e/test_gate_browser.py): signed out, the first session shows only the sign-in screen."""
    heading = {"feedback-queue": "Feedback", "monitor": "Monitoring", "settings": "Settings"}[link.split("?")[0]]
    with harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        url = f"{fresh_server.base}/{link}"
        page.goto(url)
        harness.assert_only_the_gate(sync_api, page, url, first_admin=False)
        _sign_in_here(page)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        expect(page.get_by_text("Page not found")).to_have_count(0)
        assert page.url == f"{fresh_server.base}/{link}"


def test_a_deep_link_opened_signed_out_lands_on_its_filtered_view_after_signing_in(server, browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        _sign_in_at(page, f"{server.base}/feedback-queue?status=new")
        expect(page.get_by_role("heading", name="Feedback", exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        expect(page).to_have_url(re.compile(r"/feedback-queue\?(.*&)?status=new"))
        status = page.get_by_test_id("stMultiSelect").filter(has_text="Status")
        expect(status).to_contain_text("new")


def test_a_deep_link_to_an_admin_page_signed_in_as_a_viewer_says_why_on_the_overview(server, browser):
    """Not a silent fallback: the Overview the viewer lands on says which role the page needs."""
    with harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        _sign_in_at(page, f"{server.base}/user-admin?from=deep-link", VIEWER)
        expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
        harness.settled(sync_api, page)
        message = "That page (Admin) needs the admin role; you are signed in as viewer. Here is the Overview instead."
        expect(page.get_by_test_id("stAlert").filter(has_text=message)).to_be_visible()
        expect(page.get_by_text("Page not found")).to_have_count(0)
        expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="Admin")).to_have_count(0)
        assert "user-admin" not in page.url and "from=" not in page.url
