"""AppTest of the Models screen on the demo (scale 0.1): a version links to Monitoring for itself (the
Monitoring page's query params), the Deployments view shows the live canary (v1, the holdout arm) next to
the champion (v2) with the numbers of services.models.live, and the Compare view puts two versions side by
side: recorded metrics per cohort, then both measured on one holdout with calibration and the judge's gates
for each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from pages.models import keys
from services.models import compare, live, registry
from tests.pages.helpers import ok, opener_by_role
from tests.pages.test_models_page import demo_db  # noqa: F401  (the fixture)


@pytest.fixture
def open_as(demo_db) -> Callable[..., AppTest]:  # noqa: F811
    return opener_by_role(demo_db, "pages/models/page.py", timeout=90)


def _view(at: AppTest, view: str) -> AppTest:
    return ok(at.segmented_control(key=keys.VIEW).set_value(view).run())


def _table(at: AppTest, column: str):
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column among {[list(d.value.columns) for d in at.dataframe]}"
    return found[0]


def _links(at: AppTest) -> dict[str, str]:
    """label -> the page and query string a page link opens."""
    return {e.proto.label: f"{e.proto.page}?{e.proto.query_string}" for e in at.get("page_link")}


def test_a_version_links_to_its_monitoring_and_the_canary_stands_next_to_the_champion(open_as, demo_db):  # noqa: F811
    at = ok(open_as("viewer"))
    assert _links(at)["Monitoring for v2"].endswith("?model=churn&version=2")
    at = _view(at, "Deployments")
    option = at.selectbox(key=keys.LIVE_DEPLOYMENT)
    d_id = option.value
    lc = live.live_comparison(demo_db, d_id)
    assert (lc.stage, lc.version, lc.champion_version) == ("canary", 1, 2)
    table = _table(at, "v1 (canary)").set_index("metric")
    accuracy = lc.frame().set_index("metric").loc["accuracy"]
    assert table.loc["accuracy", "v1 (canary)"].startswith(f"{accuracy['challenger']:.4f} (")
    assert table.loc["accuracy", "v2 (champion)"].startswith(f"{accuracy['champion']:.4f} (")
    assert lc.rows[0] > 0 and lc.rows[1] > 5 * lc.rows[0]  # 10% canary, 90% champion
    links = _links(at)
    assert links["Monitoring for v1"].endswith("?model=churn&version=1")
    assert any(c.proto.spec and "Live: v1 (canary)" in c.proto.spec for c in at.get("plotly_chart"))


def test_compare_two_versions_side_by_side(open_as, demo_db):  # noqa: F811
    at = _view(ok(open_as("viewer")), "Compare")
    assert (at.selectbox(key=keys.CMP_A).value, at.selectbox(key=keys.CMP_B).value) == (1, 2)
    recorded = _table(at, "difference (A - B)")
    v1, v2 = registry.find_version(demo_db, "churn", 1), registry.find_version(demo_db, "churn", 2)
    expected = compare.recorded_metrics(v1, v2)
    assert len(recorded) == len(expected) and {"v1", "v2"} <= set(recorded.columns)
    # The demo's versions recorded overall metrics only (a retrained version records its cohorts too).
    assert list(recorded["scope"]) == list(expected["scope"]) and "overall" in set(recorded["scope"])
    assert not at.get("plotly_chart")  # nothing measured yet
    at = ok(at.button(key=keys.CMP_RUN).click().run())
    metrics = {m.label: m.value for m in at.metric}
    gates = _table(at, "v1 vs v2")
    assert "v2 vs v1" in gates.columns and len(gates) > 4
    a_pass = sum(r == "✅ pass" for r in gates["v1 vs v2"])
    b_pass = sum(r == "✅ pass" for r in gates["v2 vs v1"])
    assert metrics["v1: gates passed"].startswith(f"{a_pass} of ") and metrics["v2: gates passed"].startswith(
        f"{b_pass} of "
    )
    measured = _table(at, "p")
    overall = measured[(measured["scope"] == "overall") & (measured["metric"] == "accuracy")].iloc[0]
    gate = gates[(gates["scope"] == "overall") & (gates["metric"] == "accuracy")].iloc[0]
    assert overall["v1"].startswith(gate["v1"] + " (") and overall["v2"].startswith(gate["v2"] + " (")
    assert "platform=ios" in set(measured["scope"])
    [per_cohort] = [c for c in at.get("plotly_chart") if "accuracy: v1 vs v2 (95% CI)" in c.proto.spec]
    assert "platform=ios" in per_cohort.proto.spec
    [calibration] = [c for c in at.get("plotly_chart") if "Calibration" in c.proto.spec]
    assert "v1 (ECE" in calibration.proto.spec and "v2 (ECE" in calibration.proto.spec
    # Swap the two: the measured comparison no longer applies until measured again.
    at.selectbox(key=keys.CMP_A).set_value(2).run()
    assert ok(at) and not _table(at, "difference (A - B)").empty
    assert not [t for t in at.dataframe if "v2 vs v1" in t.value.columns]
