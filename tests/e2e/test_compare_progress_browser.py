"""In a real browser, on the demo (scale 0.1): the running experiment's "% of planned sample" is one
number on the Overview tile, the Read card, its progress bar and the results table; and on the Models
screen two versions compare side by side (the judge's gates for each, per cohort, calibration), with a
link to Monitoring for each version carrying the model and version in the URL.

Runs on the shared demo server (tests/e2e/conftest.py) and drives Debian's Chromium with Playwright
(tests/e2e/harness.py).
"""

from __future__ import annotations

import re

import pytest

from tests.e2e import harness

pytestmark = pytest.mark.e2e

ANALYST, PASSWORD = "analyst@loopdeck.demo", "demo-analyst-2026"  # data/scenario.py DEMO_USERS
TIMEOUT_MS = 30_000

sync_api = harness.skip_without_browser()
expect = sync_api.expect


@pytest.fixture
def server(demo_server) -> harness.Server:
    """The shared demo server (tests/e2e/conftest.py); this module only reads."""
    return demo_server


@pytest.fixture
def page(browser):
    with harness.new_page(sync_api, browser, TIMEOUT_MS, width=1500, height=1000) as page:
        yield page


def _signed_in(page, server) -> None:
    harness.sign_in(sync_api, page, server.base, ANALYST, PASSWORD)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    harness.settled(sync_api, page)


def _view(page, name: str) -> None:
    page.get_by_role("radio", name=name, exact=True).first.click()
    harness.settled(sync_api, page, name)


def _expected_progress(db_url: str):
    from services.core.db import make_engine
    from services.experiments import lifecycle, progress

    engine = make_engine(db_url)
    exp = lifecycle.find_experiment(engine, "churn-model-v2-ab")
    sample = progress.progress_of(engine, [exp])[exp.id]
    engine.dispose()
    return sample


def test_the_experiment_says_one_percentage_of_its_planned_sample(server, page):
    sample = _expected_progress(server.db_url)
    pct = f"{sample.fraction:.0%}"
    assert sample.fraction is not None and sample.fraction > 0
    _signed_in(page, server)
    expect(page.get_by_text(f"{pct} of planned sample").first).to_be_visible()  # the Overview tile
    harness.open_page(sync_api, page, "Experiments", "Experiments")
    _view(page, "Read")
    expect(page.get_by_test_id("stMetric").filter(has_text="Of planned sample")).to_contain_text(pct)
    bar = page.get_by_test_id("stProgress")
    expect(bar).to_have_count(1)
    expect(bar).to_contain_text(sample.text())
    value = int(bar.get_by_role("progressbar").get_attribute("aria-valuenow"))
    assert value == round(100 * sample.bar), (value, sample.bar)
    table = page.get_by_test_id("stDataFrame").first
    expect(harness.grid_cell(page, pct).first).to_be_attached()
    expect(table.get_by_text("of planned sample", exact=True)).to_be_attached()
    # The lift bars, and CUPED on metrics without pre-period values never claims there are no observations.
    lift = page.get_by_test_id("stPlotlyChart").first
    expect(lift).to_contain_text("lift vs")
    page.get_by_role("radio", name="CUPED (variance reduction)", exact=True).click()
    harness.settled(sync_api, page, "CUPED")
    expect(page.get_by_test_id("stPlotlyChart").first).not_to_contain_text("no metric observations")


def test_two_versions_side_by_side_with_links_to_monitoring(server, page):
    _signed_in(page, server)
    harness.open_page(sync_api, page, "Models", "Models")
    link = page.get_by_role("link", name="Monitoring for v2")
    expect(link).to_have_attribute("href", re.compile(r"monitor\?model=churn&version=2$"))
    _view(page, "Compare")
    expect(page.get_by_text("Recorded with each version")).to_be_visible()
    expect(page.get_by_role("link", name="Monitoring for v1")).to_have_attribute(
        "href", re.compile(r"monitor\?model=churn&version=1$")
    )
    page.get_by_role("button", name="Measure both on the holdout").click()
    harness.settled(sync_api, page, "compare")
    for version in ("v1", "v2"):
        passed = page.get_by_test_id("stMetric").filter(has_text=f"{version}: gates passed")
        expect(passed).to_contain_text(re.compile(r"\d+ of \d+"))
    gates = page.get_by_test_id("stDataFrame").filter(has=page.get_by_text("v1 vs v2", exact=True))
    expect(gates).to_have_count(1)
    expect(gates.get_by_text("v2 vs v1", exact=True)).to_be_attached()
    expect(harness.grid_cell(page, "platform=ios").first).to_be_attached()  # per cohort, on the holdout
    calibration = page.get_by_test_id("stPlotlyChart").filter(has_text="Calibration on the holdout")
    expect(calibration).to_have_count(1)
    expect(calibration).to_contain_text("v1 (ECE")
    expect(calibration).to_contain_text("v2 (ECE")
    # Live: the demo's canary (v1, the experiment's holdout arm) next to the champion.
    _view(page, "Deployments")
    live = page.get_by_test_id("stPlotlyChart").filter(has_text="Live: v1 (canary)")
    expect(live).to_have_count(1)
    page.get_by_role("link", name="Monitoring for v1").click()
    # the Monitoring page then writes the rest of its view (tab, window) into the address
    expect(page).to_have_url(re.compile(r"/monitor\?(?=.*\bmodel=churn(&|$))(?=.*\bversion=1(&|$))"))
