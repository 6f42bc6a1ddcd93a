"""The Experiments page in a real browser, on the demo (scale 0.1): the analyst designs a test (the
DESIGN.md example, 10% -> 11%: 14,745 per arm), registers it from the design, starts it (the design
frozen), amends it with a reason and concludes it; then reads the demo's running experiment
churn-model-v2-ab four ways and by segment (platform, then region: any cohort field of the exposures),
shows the bandit allocation over time and exports CSV, HTML and PNG.

Runs on the shared demo server (tests/e2e/conftest.py) and drives Debian's Chromium with Playwright
(tests/e2e/harness.py).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from app.figures_experiments import png_unavailable
from tests.e2e import harness

pytestmark = pytest.mark.e2e

ANALYST, PASSWORD = "analyst@loopdeck.demo", "demo-analyst-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 30_000

sync_api = harness.skip_without_browser()
expect = sync_api.expect
HEIGHT = 1000


@pytest.fixture
def server(demo_server) -> harness.Server:
    """The shared demo server (tests/e2e/conftest.py); this module's writes: experiment churn-model-v3-ab
    and its stop request."""
    return demo_server


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=HEIGHT) as page:
        yield page


def _settled(page, where: str = "") -> None:
    harness.settled(sync_api, page, where)


def _view(page, name: str) -> None:
    page.get_by_role("radio", name=name, exact=True).first.click()
    _settled(page, name)


def _choose(page, label: str, option: str, center: bool = False) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True))
    if center:  # a box at the bottom of the window: room below for its menu
        box.evaluate("e => e.scrollIntoView({block: 'center'})")
    box.click()
    page.get_by_role("option", name=option).click()
    _settled(page)


def _stop_with_approval(db_url: str, key: str) -> None:
    from services.core.db import make_engine
    from services.core.roles import Actor, Role
    from services.experiments import lifecycle
    from services.governance import approvals, executor

    engine = make_engine(db_url)
    request = lifecycle.request_stop(engine, Actor(ANALYST, Role.analyst), key, "Too little traffic this quarter")
    approver = Actor("approver@loopdeck.demo", Role.approver)
    approvals.decide(engine, approver, request.id, "approve", "agreed")
    executor.execute(engine, approver, request.id)
    engine.dispose()


def _planned_per_arm(db_url: str, key: str) -> int | None:
    from services.core.db import make_engine
    from services.experiments import lifecycle

    engine = make_engine(db_url)
    try:
        return lifecycle.get_experiment(engine, key).planned_sample_size
    finally:
        engine.dispose()


def test_analyst_designs_registers_and_reads_the_running_experiment(server, page):
    page.goto(server.base)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="E-mail").fill(ANALYST)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    _settled(page)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Experiments").click()
    expect(page.get_by_role("heading", name="Experiments", exact=True)).to_be_visible()
    _settled(page)
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()

    # Design: the defaults are the DESIGN.md example.
    _view(page, "Design")
    control = page.get_by_test_id("stMetric").filter(has_text="Per control arm")
    expect(control).to_contain_text("14,745")
    expect(page.get_by_test_id("stMetric").filter(has_text="Expected duration")).to_contain_text("30 days")
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2)
    page.get_by_role("button", name="Register an experiment with this design").click()
    _settled(page)

    # Register, pre-filled from the design.
    expect(page.get_by_text("Pre-filled from the design.")).to_be_visible()
    form = page.get_by_test_id("stForm")
    expect(form.get_by_role("spinbutton", name="Planned units per arm")).to_have_value("14745")
    form.get_by_role("textbox", name="Key", exact=True).fill("churn-model-v3-ab")
    form.get_by_role("textbox", name="Name", exact=True).fill("Churn model v3 vs v2")
    form.get_by_role("textbox", name="Hypothesis", exact=True).fill("v3's scores keep more customers than v2's")
    form.get_by_role("textbox", name="Primary metric", exact=True).fill("retained_30d")
    form.get_by_role("textbox", name="Guardrails: bad if they go up", exact=True).fill("support_contacts")
    form.get_by_role("button", name="Register (draft)").click()
    expect(page.get_by_text("Registered churn-model-v3-ab as a draft.")).to_be_visible()
    _settled(page)
    expect(page.get_by_role("button", name="Start the experiment")).to_be_visible()

    # Start it: the design is frozen; a change is an amendment with its reason, then conclude.
    page.get_by_role("button", name="Start the experiment").click()
    expect(page.get_by_text("churn-model-v3-ab is running; its design is now frozen.")).to_be_visible()
    _settled(page)
    expect(page.get_by_text("The design is frozen since the start")).to_be_visible()
    page.get_by_text("Amend the design (on the record)").click()
    amend = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Record the amendment"))
    # The number first, then the reason, as the other forms' tests do: Streamlit's number_input commits a
    # typed value in a deferred React effect (streamlit/streamlit#13751), so a submit clicked while the
    # number still has focus races that commit. Once, in a clean-clone CI run under load, the click here
    # submitted nothing (no run followed it: the previous run's message was still drawn after 30 s).
    amend.get_by_role("spinbutton", name="Planned units per arm").fill("16000")
    amend.get_by_role("textbox", name="Reason for the amendment (recorded in the audit log)").fill(
        "Traffic is lower on weekends: plan for 16,000 per arm"
    )
    amend.get_by_role("button", name="Record the amendment").click()
    expect(page.get_by_text("Amendment to churn-model-v3-ab recorded.")).to_be_visible()
    _settled(page)
    assert _planned_per_arm(server.db_url, "churn-model-v3-ab") == 16_000  # the typed number, not the old one
    # Concluding a running experiment needs the same approval as stopping it (four-eyes): the analyst
    # proposes the stop, an approver approves and executes it (through the services here; the
    # governance browser test drives those screens), then the analyst concludes on the page.
    _stop_with_approval(server.db_url, "churn-model-v3-ab")
    page.reload()
    expect(page.get_by_role("heading", name="Experiments", exact=True)).to_be_visible()
    _settled(page)
    _choose(page, "Experiment", "churn-model-v3-ab")  # a reload starts a new page session
    expect(page.get_by_text("Status: stopped")).to_be_visible()
    page.get_by_text("Conclude with a decision").click()
    conclude = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Conclude the experiment"))
    conclude.get_by_text("Iterate", exact=True).click()
    conclude.get_by_role("textbox", name="Rationale (what the data says, what ships, what is next)").fill(
        "Too little traffic this quarter; rerun with the v3 retrain"
    )
    conclude.get_by_role("button", name="Conclude the experiment").click()
    expect(page.get_by_text("churn-model-v3-ab concluded: Iterate.")).to_be_visible()
    _settled(page)
    page.get_by_text("History (audit log)").click()
    history = page.get_by_test_id("stDataFrame").last
    for action in ("experiment.conclude", "experiment.amend", "experiment.status", "experiment.register"):
        expect(history.locator("td[role=gridcell]").filter(has_text=action).first).to_be_attached()

    # Read the demo's running experiment.
    _view(page, "Read")
    _choose(page, "Experiment to read", "churn-model-v2-ab")
    expect(page.get_by_role("heading", name="Health checks")).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Status")).to_contain_text("running")
    expect(page.get_by_text("Sequential rule").first).to_be_visible()
    table = page.get_by_test_id("stDataFrame").first
    expect(table.locator("td[role=gridcell]").filter(has_text="retained_30d").first).to_be_attached()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    for reading, header in (("Bayesian", "chance to beat control"), ("Sequential (always valid)", "always-valid CI"),
                            ("CUPED (variance reduction)", "variance reduction")):  # fmt: skip
        page.get_by_role("radio", name=reading, exact=True).click()
        _settled(page, reading)
        expect(page.get_by_test_id("stDataFrame").first.get_by_text(header, exact=True)).to_be_attached()
    # Results by segment: the demo's exposures carry three cohort fields; "Segment by" picks one.
    _choose(page, "Segment", "ios", center=True)  # segment by platform, the first field
    expect(page.get_by_test_id("stDataFrame").first.locator("td[role=gridcell]").filter(
        has_text="retained_30d").first).to_be_attached()  # fmt: skip
    _choose(page, "Segment by", "region", center=True)
    _choose(page, "Segment", "EU", center=True)
    expect(page.get_by_test_id("stDataFrame").first.locator("td[role=gridcell]").filter(
        has_text="retained_30d").first).to_be_attached()  # fmt: skip
    page.get_by_text("By segment", exact=True).click()
    by_segment = page.get_by_test_id("stDataFrame").filter(has=page.get_by_text("segment", exact=True))
    for seg in ("(all)", "NA", "EU", "APAC", "LATAM"):
        cell = by_segment.locator("td[role=gridcell]").filter(has_text=re.compile(rf"^{re.escape(seg)}$"))
        expect(cell.first).to_be_attached()
    expect(by_segment.locator("td[role=gridcell]").filter(has_text=re.compile("^ios$"))).to_have_count(0)
    expect(page.get_by_role("heading", name="Bandit recommendation")).to_be_visible()
    over_time = page.get_by_test_id("stPlotlyChart").filter(has_text="Recommended allocation over time")
    expect(over_time).to_have_count(0)
    page.get_by_text("Show the recommended allocation over time").click()
    _settled(page, "bandit history")
    expect(over_time).to_have_count(1)

    # Exports: the results as CSV, the charts as HTML and as PNG (kaleido with this machine's Chromium).
    with page.expect_download() as info:
        page.get_by_role("button", name="Results (CSV)").click()
    csv = Path(info.value.path()).read_text()
    assert csv.splitlines()[0].startswith("field,segment,metric,role") and "retained_30d" in csv
    assert "\nregion,EU,retained_30d," in csv and "\ntier,pro,retained_30d," in csv  # every field's segments
    with page.expect_download() as info:
        page.get_by_role("button", name="Charts (HTML)").click()
    assert Path(info.value.path()).read_text().count('class="plotly-graph-div"') >= 3
    if png_unavailable() is None:
        with page.expect_download(timeout=120_000) as info:
            page.get_by_role("button", name="Charts (PNG, zip)").click()
        with zipfile.ZipFile(info.value.path()) as z:
            names = z.namelist()
            assert len(names) >= 3 and all(z.read(n)[:4] == b"\x89PNG" for n in names)
    else:
        expect(page.get_by_text("PNG export needs the kaleido package")).to_be_visible()
