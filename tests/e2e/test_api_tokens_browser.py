"""The API tokens section of the Admin screen in a real browser: an admin creates a token (name, two scopes
picked in the Scopes multiselect inside the form, limited to one model, expiring after 30 days), sees its
secret once, finds it in the tokens table, and revokes it. The secret is used against the real API process
(`python -m services api`) and through services.core.tokens.authenticate: it works while the token is
active, only for its model, and stops working the moment it is revoked.

Starts `streamlit run` and the API on free ports against a fresh SQLite file and drives Debian's Chromium
with Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

ADMIN, PASSWORD = "admin@loopdeck.test", "correct horse battery"
TOKEN = "serving-eu"
TIMEOUT_MS = 20_000


@dataclass(frozen=True)
class Running:
    ui: str
    api: str
    db_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Running]:
    from services.core import users
    from services.core.db import make_engine, migrate
    from tests.services import factories

    folder = tmp_path_factory.mktemp("e2e_tokens")
    url = f"sqlite:///{folder / 'loopdeck.db'}"
    engine = make_engine(url)
    migrate(engine)
    users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORD)
    factories.model_version(engine, "churn", 1)
    factories.model_version(engine, "fraud", 1)
    engine.dispose()
    # Tokens start no job: no worker.
    with harness.running_app(url, folder, worker=False) as ui, harness.running_api(url, folder) as api:
        yield Running(ui.base, api, url)


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1400, height=1000) as page:
        yield page


def pick_options(page, label: str, options: list[str]) -> None:
    """Pick options of a st.multiselect (also inside a st.form, where Enter would submit the form).

    In this Streamlit the multiselect is a react-aria ComboBox: a text input with role "combobox" named
    after the label opens a listbox (role "listbox", same name) in a popover attached to <body>. The
    click must land on that input: the widget's container is mostly its label and does not open it.
    While the popover is open react-aria hides everything outside it from the accessibility tree
    (aria-hidden), so no role locator on the rest of the page resolves until the popover is closed;
    Escape closes it without touching the form. The popover stays open between picks, but react-aria
    closes it on any scroll of the page: with the input near the bottom of the window, Playwright's
    scroll-into-view before clicking an option closed it (the option was then "not found"). So the
    input is scrolled to the middle of the window first, leaving room for the popover below it, and
    the caller opens it only once the page has stopped growing (tables drawn)."""
    combobox = page.get_by_role("combobox", name=label)
    combobox.evaluate("input => input.scrollIntoView({block: 'center'})")
    combobox.click()
    expect(combobox).to_have_attribute("aria-expanded", "true")
    listbox = page.get_by_role("listbox", name=label)
    for option in options:
        item = listbox.get_by_role("option", name=option, exact=True)
        item.click()
        expect(item).to_have_count(0)  # a picked option leaves the list and becomes a tag
    page.keyboard.press("Escape")
    expect(listbox).to_have_count(0)
    expect(page.get_by_role("combobox", name=label)).to_have_attribute("aria-expanded", "false")


def _routing(api: str, model: str, secret: str) -> int:
    """The status of GET /api/v1/routing/<model> with this bearer token."""
    request = urllib.request.Request(f"{api}/api/v1/routing/{model}", headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["model_name"] == model
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _authenticates(db_url: str, secret: str) -> str:
    """'ok', or the reason services.core.tokens.authenticate refuses the secret."""
    from services.core import tokens
    from services.core.db import make_engine
    from services.core.errors import AuthenticationFailed

    engine = make_engine(db_url)
    try:
        actor = tokens.authenticate(engine, secret)
        assert actor.label == f"token:{TOKEN}" and actor.scopes == {"ingest", "routing:read"}
        assert actor.models == {"churn"}
        return "ok"
    except AuthenticationFailed as refused:
        return str(refused)
    finally:
        engine.dispose()


def _token_table(page):
    return page.locator(".st-key-admin_tokens_list")


def test_admin_creates_a_token_sees_its_secret_once_and_revokes_it(server, page):
    harness.sign_in(sync_api, page, server.ui, ADMIN, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    harness.settled(sync_api, page)
    harness.open_page(sync_api, page, "Admin", "Admin")
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(harness.grid_cell(page, ADMIN)).to_have_count(1)  # the users table is drawn: the page stopped growing
    expect(_token_table(page).get_by_test_id("stDataFrame")).to_be_visible()

    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Create token"))
    form.get_by_role("textbox", name="Name").fill(TOKEN)
    pick_options(page, "Scopes", ["ingest", "routing:read"])
    form.get_by_role("textbox", name="Only these models (comma separated; empty: all)").fill("churn")
    form.get_by_role("spinbutton", name="Expires after (days; 0: never)").fill("30")
    # the picks survived closing the popover, and the form was not submitted by it
    tags = form.get_by_test_id("stMultiSelect")
    expect(tags).to_contain_text("ingest")
    expect(tags).to_contain_text("routing:read")
    expect(page.get_by_test_id("stCode")).to_have_count(0)
    form.get_by_role("button", name="Create token").click()

    # The secret, once.
    expect(page.get_by_text(f"Token '{TOKEN}' created. Copy it now")).to_be_visible()
    harness.settled(sync_api, page)
    secret = page.get_by_test_id("stCode").inner_text().strip()
    assert secret.startswith("ldk_") and len(secret) > 40, secret
    table = _token_table(page)
    for cell in (TOKEN, "active", "ingest, routing:read", "churn", f"{secret[:10]}…"):
        expect(harness.grid_cell(table, cell)).to_have_count(1)

    # It authenticates, through services and against the real API, for its model only.
    assert _authenticates(server.db_url, secret) == "ok"
    assert _routing(server.api, "churn", secret) == 200
    assert _routing(server.api, "fraud", secret) == 403
    assert _routing(server.api, "churn", secret[:-1] + ("x" if secret[-1] != "x" else "y")) == 401

    page.get_by_role("button", name="I have copied it").click()
    harness.settled(sync_api, page)
    expect(page.get_by_test_id("stCode")).to_have_count(0)
    expect(page.get_by_text(secret)).to_have_count(0)
    page.reload()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    harness.settled(sync_api, page)
    expect(page.get_by_text(secret)).to_have_count(0)

    # Revoke it: the table says so, and the secret stops working everywhere at once.
    page.get_by_role("tab", name="Revoke a token").click()
    expect(page.get_by_role("combobox", name="Token", exact=True)).to_have_value(TOKEN)
    page.get_by_role("button", name="Revoke", exact=True).click()
    expect(page.get_by_text(f"Token '{TOKEN}' is revoked.")).to_be_visible()
    harness.settled(sync_api, page)
    expect(harness.grid_cell(_token_table(page), "revoked")).to_have_count(1)
    expect(harness.grid_cell(_token_table(page), ADMIN)).to_have_count(2)  # created by, revoked by
    page.get_by_role("tab", name="Revoke a token").click()
    expect(page.get_by_text("No active token.")).to_be_visible()
    assert _authenticates(server.db_url, secret) == f"The API token '{TOKEN}' is revoked."
    assert _routing(server.api, "churn", secret) == 401
