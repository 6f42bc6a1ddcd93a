"""The Register view of the Models screen in a real browser: an analyst registers a version of "churn"
trained elsewhere by uploading its skops artifact with metrics, parameters, a training window and rows.
A SHA-256 that does not match the file is refused and registers nothing; with the right one the version
is registered as v2 (a candidate, trigger "external"), shows in the Registry list with what was typed,
and its stored artifact passes "Verify artifact" (checksum and skops types, as serving loads it).

Starts `streamlit run` on a free port against a fresh SQLite file and drives Debian's Chromium with
Playwright (tests/e2e/harness.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.e2e import harness
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e

sync_api = harness.skip_without_browser()
expect = sync_api.expect

ADMIN, ANALYST, PASSWORD = "admin@loopdeck.test", "ann@loopdeck.test", "correct horse battery"
TIMEOUT_MS = 20_000
CODE = "https://git.example.test/ml/churn/commit/abc123"


def _artifact() -> bytes:
    """A small fitted scikit-learn model saved the way pipelines do (skops)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from services.models import registry

    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    return registry.dumps_artifact(model)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    from services.core import users
    from services.core.db import make_engine, migrate
    from services.models import registry
    from tests.services import factories

    folder = tmp_path_factory.mktemp("e2e_register")
    url = f"sqlite:///{folder / 'loopdeck.db'}"
    engine = make_engine(url)
    migrate(engine)
    users.create_first_admin(engine, ADMIN, "Ada Admin", PASSWORD)
    boss = users.authenticate(engine, ADMIN, PASSWORD)
    users.add_user(engine, boss, ANALYST, "analyst", PASSWORD, name="Ann Analyst")
    factories.model_version(engine, "churn", 1)
    engine.dispose()
    env = {registry.ARTIFACT_DIR_ENV: str(folder / "artifacts")}
    with harness.running_app(url, folder, env=env, worker=False) as running:  # registering starts no job
        yield running


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1400, height=1000) as page:
        yield page


def _view(page, name: str) -> None:
    page.get_by_test_id("stMain").get_by_test_id("stButtonGroup").get_by_text(name, exact=True).click()
    harness.settled(sync_api, page, f"the {name} view")


def _version_in_db(db_url: str, number: int):
    from services.core.db import make_engine
    from services.core.errors import NotFound
    from services.models import registry

    engine = make_engine(db_url)
    try:
        return registry.find_version(engine, "churn", number)
    except NotFound:
        return None
    finally:
        engine.dispose()


def test_analyst_registers_a_version_trained_elsewhere_and_finds_it_in_the_registry(server, page, tmp_path):
    data = _artifact()
    sha = hashlib.sha256(data).hexdigest()
    artifact = tmp_path / "churn-v2.skops"
    artifact.write_bytes(data)

    harness.sign_in(sync_api, page, server.base, ANALYST, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    harness.settled(sync_api, page)
    harness.open_page(sync_api, page, "Models", "Models")
    _view(page, "Register")
    expect(page.get_by_role("heading", name="Register a version trained elsewhere")).to_be_visible()

    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name="Model name").fill("churn")
    form.get_by_role("textbox", name="Parameters (JSON)").fill('{"estimator": "xgboost", "depth": 6}')
    form.get_by_role("textbox", name="Metrics, overall (JSON)").fill('{"roc_auc": 0.8312, "accuracy": 0.7745}')
    form.get_by_role("textbox", name="Metrics per cohort").fill('{"region": {"EU": {"roc_auc": 0.8}}}')
    form.get_by_role("spinbutton", name="Training rows").fill("120000")
    form.get_by_role("textbox", name="Code reference (commit, URL)").fill(CODE)
    form.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(artifact))
    expect(form.get_by_text("churn-v2.skops")).to_be_visible()

    # A checksum that does not match the file: refused, nothing registered.
    wrong = "0" * 64
    form.get_by_role("textbox", name="Artifact SHA-256 (checked when given)").fill(wrong)
    form.get_by_role("button", name="Register").click()
    expect(page.get_by_text(f"The artifact's SHA-256 is {sha}, not {wrong}")).to_be_visible()
    harness.settled(sync_api, page)
    assert _version_in_db(server.db_url, 2) is None

    # The right one: registered as v2, a candidate.
    form.get_by_role("textbox", name="Artifact SHA-256 (checked when given)").fill(sha)
    form.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Registered churn v2 as a candidate.")).to_be_visible()
    harness.settled(sync_api, page)
    expect(form.get_by_role("textbox", name="Model name")).to_have_value("")  # a fresh form
    stored = _version_in_db(server.db_url, 2)
    assert stored is not None and stored.artifact_sha256 == sha and stored.trigger == "external"
    assert stored.created_by == ANALYST and stored.training_data["code_reference"] == CODE

    # The Registry list shows it, newest first, with what was typed in.
    _view(page, "Registry")
    versions = page.get_by_test_id("stDataFrame").first

    def cell(name: str, inside=page):
        return inside.get_by_role("gridcell", name=name, exact=True, include_hidden=True)

    expect(cell("v1", versions)).to_have_count(1)
    row = versions.get_by_role("row", include_hidden=True).filter(has=cell("v2"))  # `has` is relative to the row
    expect(row).to_have_count(1)
    for value in ("candidate", "external", "xgboost", "120000", "0.8312", "0.7745"):  # "by": drawn off-screen
        expect(cell(value, row)).to_have_count(1)
    expect(page.get_by_role("heading", name="churn v2")).to_be_visible()
    expect(page.get_by_text(f"sha256 {sha}")).to_be_visible()
    page.get_by_role("button", name="Verify artifact").click()
    expect(page.get_by_test_id("stAlertContentSuccess")).to_be_visible()
    harness.settled(sync_api, page)
