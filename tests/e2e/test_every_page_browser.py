"""Every page, every view, in a real browser, on SQLite and on Postgres: signed in, a role opens every page
in the sidebar and every view of its view switcher (segmented controls), checking that nothing shows an
exception. Page code that only breaks on Postgres (SQL dialect, JSON operators, time zones) fails here
rather than in front of a team.

SQLite: the admin and a viewer walk the shared demo server (tests/e2e/conftest.py: the demo at scale 0.1,
monitoring blocks built). Postgres: the admin, who sees every page and every view, walks a server of its
own on a Postgres copy of the same demo (tests/demo_cache.py; its monitoring blocks are built by the
worker on the first view of Monitoring, the upgrade path). The viewer's walk (a subset of the admin's
pages and views) runs on SQLite only: where a viewer's page code differs from the admin's, it is role
checks that leave out forms and buttons (and the Overview's approvals tile, which counts every pending
request instead of those awaiting the reader); a second walk on Postgres cost ~20 CPU seconds for that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from tests import demo_cache
from tests.conftest import drop_database
from tests.e2e import harness
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

POSTGRES_URL = os.environ.get("LOOPDECK_TEST_POSTGRES_URL")
SCALE = 0.1  # the demo the other modules use: on Postgres, its template is built once per run
ACCOUNTS = {"admin": ("admin@loopdeck.demo", "demo-admin-2026"), "viewer": ("viewer@loopdeck.demo", "demo-viewer-2026")}
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def postgres_server(tmp_path_factory) -> Iterator[Server]:
    from services.models import registry

    if not POSTGRES_URL:
        pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: the Postgres browser run is skipped")
    folder = tmp_path_factory.mktemp("e2e_pages_postgres")
    url = demo_cache.postgres_demo("e2e_pages", scale=SCALE)
    try:
        with harness.running_app(url, folder, env={registry.ARTIFACT_DIR_ENV: str(folder / "artifacts")}) as running:
            yield running
    finally:
        drop_database(url)


@pytest.fixture
def server(request, database) -> Server:
    return request.getfixturevalue("demo_server" if database == "sqlite" else "postgres_server")


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        yield page


def _views(page) -> list[str]:
    """The options of the first view switcher (st.segmented_control) on the page, if any."""
    switcher = page.get_by_test_id("stMain").get_by_test_id("stButtonGroup").first
    if not switcher.count():
        return []
    return [text.strip() for text in switcher.get_by_role("radio").all_inner_texts()]


@pytest.mark.parametrize(("database", "role"), [("sqlite", "admin"), ("sqlite", "viewer"), ("postgres", "admin")])
def test_every_page_and_view_opens_without_an_exception(server, page, database, role):
    email, password = ACCOUNTS[role]
    harness.sign_in(sync_api, page, server.base, email, password)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    harness.settled(sync_api, page, "Overview")
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    titles = [text.splitlines()[-1].strip() for text in links.all_inner_texts()]
    expected = {"Overview", "Feedback", "Monitoring", "Experiments", "Models", "Audit log"}
    assert expected <= set(titles), titles
    assert ("Admin" in titles) == (role == "admin")
    visited = []
    for title in titles:
        links.filter(has_text=title).first.click()
        heading = re.compile("^" + re.escape(title.split()[0]))  # the nav title may carry a count badge
        expect(page.get_by_role("heading", level=1, name=heading)).to_be_visible()
        harness.settled(sync_api, page, title)
        for view in _views(page)[1:]:  # the first view is the one that is open
            switcher = page.get_by_test_id("stMain").get_by_test_id("stButtonGroup").first
            switcher.get_by_role("radio", name=view, exact=True).click()
            harness.settled(sync_api, page, f"{title} / {view}")
            visited.append(f"{title} / {view}")
        visited.append(title)
    assert {"Experiments / Design", "Experiments / Read", "Models / Judge"} <= set(visited), " | ".join(visited)
