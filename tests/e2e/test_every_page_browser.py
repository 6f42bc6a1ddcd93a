"""Every page, every view, in a real browser, on SQLite and on Postgres: the demo (scale 0.05) is
loaded into a migrated database of each kind, the app is started against it, and an admin and a
viewer open every page in the sidebar and every view of its view switcher (segmented controls),
checking that nothing shows an exception. Page code that only breaks on Postgres (SQL dialect,
JSON operators, time zones) fails here rather than in front of a team.
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
SCALE = 0.05
ACCOUNTS = {"admin": ("admin@loopdeck.demo", "demo-admin-2026"), "viewer": ("viewer@loopdeck.demo", "demo-viewer-2026")}
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory) -> Iterator[Server]:
    from services.models import registry

    folder = tmp_path_factory.mktemp(f"e2e_pages_{request.param}")
    if request.param == "sqlite":
        url = harness.demo_database(folder, scale=SCALE)
    else:
        if not POSTGRES_URL:
            pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: the Postgres browser run is skipped")
        url = demo_cache.postgres_demo("e2e_pages", scale=SCALE)
    artifacts = folder / "artifacts"
    with harness.running_app(url, folder, env={registry.ARTIFACT_DIR_ENV: str(artifacts)}) as running:
        yield running
    if request.param == "postgres":
        drop_database(url)


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


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_every_page_and_view_opens_without_an_exception(server, page, role):
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
