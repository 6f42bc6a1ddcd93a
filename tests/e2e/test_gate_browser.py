"""Nothing is served without the login gate: every page URL, old and new, opened signed out on a fresh
server shows only the sign-in screen.

Why fresh servers: Streamlit still knows its old pages/ folder convention. On the first script run of a
server process it looks for scripts directly in pages/ and serves pages/<name>.py at /<name> without
running streamlit_app.py (the gate); the first st.navigation call turns that off for the whole process.
So only a first run can show the hole. It is one mechanism for every URL (server.py turns the convention
off before any session), so one URL of each kind gets a first run of its own (a server process against
the same empty, migrated database, which makes the gate show the first-admin set-up, and no job worker:
nothing here starts a job): an old screen file name (/admin) and the entry file's name (/page). Pages of
today's navigation get theirs in tests/e2e/test_session_browser.py: its three deep links, each the first
session of a fresh server, are checked with the same assertions (assert_only_the_gate) before signing in;
a fourth server here for /data-import checked that kind once more, for ~10 CPU seconds. A server start
costs ~5 CPU seconds, so not all 26 URLs get one: the test that opens every URL in turn on one fresh
server covers later runs, and its first URL, /admin, is that server's first run.

The URLs: the url_path of each app/nav.PAGES entry, the old file-name URLs of every screen (/admin,
/models, ...), and /page (the entry file's name).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app import nav
from tests.e2e import harness

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

TIMEOUT_MS = 60_000
LEGACY = harness.OLD_SCREEN_NAMES
NEW = [spec.url_path for spec in nav.PAGES]
URLS = [*LEGACY, *NEW]


@pytest.fixture(scope="module")
def db_url(tmp_path_factory) -> str:
    """An empty, migrated SQLite database (no accounts yet)."""
    from services.core.db import make_engine, migrate

    folder = tmp_path_factory.mktemp("gate_db")
    url = f"sqlite:///{folder / 'loopdeck.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.mark.parametrize("path", ["page"])  # /admin: the next test's first URL; today's pages: test_session_browser
def test_the_first_run_of_a_fresh_server_at_a_page_url_shows_only_the_sign_in(path, db_url, browser, tmp_path):
    server_ = harness.running_app(db_url, tmp_path, worker=False)
    with server_ as server, harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        url = f"{server.base}/{path}"
        page.goto(url)
        harness.assert_only_the_gate(sync_api, page, url)


def test_every_page_url_in_turn_shows_only_the_sign_in(db_url, browser, tmp_path):
    """On a fresh server: the first URL (/admin, an old screen file name) is its first run."""
    server_ = harness.running_app(db_url, tmp_path, worker=False)
    with server_ as server, harness.new_page(sync_api, browser, TIMEOUT_MS) as page:
        for path in URLS:
            url = f"{server.base}/{path}"
            page.goto(url)
            harness.assert_only_the_gate(sync_api, page, url)


def test_the_fresh_server_urls_are_pages_of_today_and_old_names():
    assert {"admin", "page"} <= set(LEGACY)
    assert URLS[0] == "admin"  # the first run of the server that opens every URL in turn


def test_no_script_sits_directly_in_pages():
    """What the browser tests above guard against, checked without a browser: Streamlit's old convention
    only serves scripts directly in pages/."""
    assert not list((Path(harness.ROOT) / "pages").glob("*.py"))
