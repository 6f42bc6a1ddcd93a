"""AppTest of the Overview on the demo (scale 0.1, monitoring blocks built): every tile is there and
links to its page, the open alerts of the mobile regression, the headline metric and its CBPE estimate,
drift names the mobile features, the decisions timeline, and the weekly report prepared for download
(HTML and PDF). The empty loop keeps its hint."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app import figures_overview
from services.backlog import items as backlog
from services.core.roles import Actor, Role
from tests.pages.helpers import ok
from tests.pages.test_backlog_page import demo_db as demo_db  # noqa: F401  (the fixture)
from tests.pages.test_backlog_page import open_as as open_as  # noqa: F401  (the fixture)

ANALYST = Actor("analyst@loopdeck.demo", Role.analyst)


def _links(at: AppTest) -> dict[str, str]:
    return {el.proto.label: el.proto.page for el in at.get("page_link")}


def test_overview_tiles_on_the_demo(open_as, demo_db):  # noqa: F811
    backlog.create_item(demo_db, ANALYST, kind="data_quality", title="Fix session counting <b>now</b>",
                        reach=1000, impact=2, confidence=0.8, effort=2)  # fmt: skip
    at = ok(open_as("approver", "pages/overview/page.py"))
    assert at.title[0].value == "Overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Champion"] == "churn v2"
    # the demo's rule on the mobile cohort fired on the regression (data/demo_loop.py)
    assert int(metrics["Open alerts"]) > 0
    assert metrics["Drifted features"] == "2 of 9"
    assert metrics["Realized accuracy"].endswith("%")
    assert metrics["Awaiting my approval"] == "0"
    assert metrics["Running experiments"] == "1"
    assert int(metrics["Untriaged feedback"].replace(",", "")) > 0
    captions = " ".join(c.value for c in at.caption)
    assert "app_latency_ms, sessions_per_week" in captions
    assert "Estimated (CBPE) for 2026-10-26 to 2026-10-29" in captions
    # among the demo's items, as text, not HTML
    assert any(t.value.startswith("#") and "Fix session counting <b>now</b>" in t.value for t in at.text)
    links = _links(at)
    for label in ("Models and rollouts", "Alerts in Monitoring", "Drift in Monitoring", "Feedback queue",
                  "Experiments", "Approvals", "Backlog", "Audit log"):  # fmt: skip
        assert label in links, links
    decisions = at.dataframe[0].value
    assert {"promotion", "experiment"} <= set(decisions["what"])


def test_weekly_report_download(open_as):  # noqa: F811
    at = ok(open_as("viewer", "pages/overview/page.py"))
    assert at.selectbox(key="ov_report_week").value == "2026-W44"
    at.selectbox(key="ov_report_week").select("2026-W43")
    at = ok(at.button(key="ov_report_prepare").click().run())
    week, page, pdf = at.session_state["ov_report"]
    assert week == "2026-W43" and "What changed since last week" in page and pdf.startswith(b"%PDF")


def test_headline_figure():
    import pandas as pd

    weeks = pd.DataFrame({"window_start": pd.to_datetime(["2026-10-12", "2026-10-19"]), "labelled_share": [0.9, 0.2],
                          "realized": [0.8, 0.7], "estimate": [0.81, 0.79], "lower": [0.78, 0.75],
                          "upper": [0.84, 0.83]})  # fmt: skip
    fig = figures_overview.headline_trend(weeks)
    realized = next(t for t in fig.data if t.name == "realized accuracy")
    assert list(realized.y) == [0.8]  # the mostly unlabelled week is not drawn as realized
    assert figures_overview.headline_trend(weeks.iloc[0:0]).layout.annotations
