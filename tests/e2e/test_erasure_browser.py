"""Erasure on the Admin screen in a real browser: an admin erases one request id (request id and reason,
"Erase ...", then "Erase for good" in the confirmation); the success message gives the counts, the Audit log
shows the one `request.erase` event, the request's feedback item is gone from the Feedback queue while the
others stay, and the prediction and its raw-store rows are gone.

Starts `streamlit run` on a free port against a fresh SQLite file and a raw-store folder of its own, and
drives Debian's Chromium with Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

ADMIN, PASSWORD = "admin@loopdeck.test", "correct horse battery"
TARGET_TEXT = "Please delete everything you hold about me"
START = datetime(2026, 11, 2, tzinfo=UTC)
TIMEOUT_MS = 20_000


@dataclass(frozen=True)
class Running:
    base: str
    db_url: str
    raw: str
    target: str


def _seed(url: str, raw: str) -> str:
    """An admin, a model with three predictions in the tables and the raw store, and three feedback items,
    one of them on the request to erase; returns that request id."""
    import pandas as pd

    from services.core import users
    from services.core.db import make_engine, migrate
    from services.monitoring import raw_store
    from tests.services import factories

    engine = make_engine(url)
    migrate(engine)
    users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORD)
    mv = factories.model_version(engine)
    ids = factories.predictions(engine, mv, 3, start=START)
    factories.feedback(engine, 1, ids[:1], text=TARGET_TEXT, source="support")
    factories.feedback(engine, 2, ids[1:], text="the score looks too high")
    rows = pd.DataFrame({"request_id": ids, "ts": pd.to_datetime([START] * 3, utc=True), "score": [0.1, 0.5, 0.9],
                         "predicted_label": [0, 1, 1], "label": [None, 1.0, 0.0]})  # fmt: skip
    raw_store.append(raw, "churn", 1, rows)
    engine.dispose()
    return ids[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("e2e_erasure")
    url, raw = f"sqlite:///{folder / 'loopdeck.db'}", str(folder / "raw")
    target = _seed(url, raw)
    with harness.running_app(url, folder, env={"LOOPDECK_RAW_STORE_DIR": raw}, worker=False) as ui:  # no job
        yield Running(ui.base, url, raw, target)


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1400, height=1100) as page:
        yield page


def _matching(page):
    return page.get_by_test_id("stMetric").filter(has_text="Matching")


def _cell(page, text: str):
    return page.get_by_test_id("stDataFrame").locator("td[role=gridcell]").filter(has_text=text)


def _type(page, label: str, text: str) -> None:
    box = page.get_by_role("textbox", name=label)
    box.fill(text)
    box.press("Enter")  # commits the value: the next run enables "Erase ..."
    harness.settled(sync_api, page)


def _left_in_database(db_url: str, raw: str, request_id: str) -> tuple[int, int, list[str]]:
    """(predictions, feedback items) holding the request id, and the raw store's request ids."""
    import sqlalchemy as sa

    from services.core.db import make_engine
    from services.core.schema_feedback import Feedback
    from services.core.schema_ingest import Prediction
    from services.monitoring import raw_store

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            counts = [conn.execute(sa.select(sa.func.count()).select_from(t).where(t.request_id == request_id))
                      .scalar() for t in (Prediction, Feedback)]  # fmt: skip
    finally:
        engine.dispose()
    left = raw_store.read_window(raw, "churn", 1, START.date(), START.date())["request_id"].tolist()
    return counts[0], counts[1], left


def test_admin_erases_a_request_id_and_it_leaves_the_queue(server, page):
    harness.sign_in(sync_api, page, server.base, ADMIN, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    harness.settled(sync_api, page)
    harness.open_page(sync_api, page, "Feedback", "Feedback")
    expect(_matching(page)).to_contain_text("3")
    expect(_cell(page, TARGET_TEXT)).to_have_count(1)

    harness.open_page(sync_api, page, "Admin", "Admin")
    expect(page.get_by_role("heading", name="Retention and erasure")).to_be_visible()
    page.get_by_role("tab", name="Erase a request").click()
    erase = page.get_by_role("button", name="Erase ...")
    expect(erase).to_be_disabled()
    _type(page, "Request id", server.target)
    _type(page, "Reason (audited), e.g. the ticket of the request", "ticket DSR-1234")
    expect(erase).to_be_enabled()
    erase.click()
    harness.settled(sync_api, page)
    expect(page.get_by_text("Erase this request for good?")).to_be_visible()
    assert _left_in_database(server.db_url, server.raw, server.target)[:2] == (1, 1)  # nothing before the confirm
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_text("Erased: 1 prediction(s), 0 outcome(s), 1 feedback item(s) deleted")).to_be_visible()
    harness.settled(sync_api, page)
    predictions, feedback, raw_ids = _left_in_database(server.db_url, server.raw, server.target)
    assert (predictions, feedback) == (0, 0) and server.target not in raw_ids and len(raw_ids) == 2

    harness.open_page(sync_api, page, "Audit log", "Audit log")
    page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Action", exact=True)).click()
    page.get_by_role("option", name="request.erase", exact=True).click()
    harness.settled(sync_api, page)
    expect(page.get_by_text("1 matching event(s), newest first.")).to_be_visible()
    expect(harness.grid_cell(page, "request.erase")).to_have_count(1)
    digest = hashlib.sha256(server.target.encode()).hexdigest()
    expect(_cell(page, digest[:16])).to_have_count(1)  # the object id: the SHA-256, never the id
    expect(_cell(page, server.target)).to_have_count(0)

    harness.open_page(sync_api, page, "Feedback", "Feedback")
    expect(_matching(page)).to_contain_text("2")
    expect(_cell(page, TARGET_TEXT)).to_have_count(0)
    expect(_cell(page, "the score looks too high")).to_have_count(2)
