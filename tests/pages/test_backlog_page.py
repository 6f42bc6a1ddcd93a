"""AppTest of the Backlog page on the demo (scale 0.1, monitoring blocks built): proposals from the
mobile drift and theme, accept one as planned, the ranked list and an item's detail, filters, moving
and closing an item with its outcome; viewers read without buttons; the chart builds without a browser."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from app import figures_backlog, state
from pages.backlog.tables import items_frame
from services.backlog import items as backlog
from services.core.db import make_engine
from services.core.roles import Actor, Role
from services.monitoring import frames
from tests.pages.helpers import button_keys, ok, opener_by_role
from tests.services.monitoring.test_monitoring import demo_database

ANALYST = Actor("analyst@loopdeck.demo", Role.analyst)


@pytest.fixture
def demo_db(tmp_path_factory, tmp_path, monkeypatch) -> Iterator[Engine]:
    path = tmp_path / "loopdeck.db"
    shutil.copyfile(demo_database(tmp_path_factory.getbasetemp() / "monitoring-demo"), path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    engine = make_engine(url)
    frames.clear_caches()
    yield engine
    engine.dispose()
    state.get_engine.clear()


@pytest.fixture
def open_as(demo_db) -> Callable[..., AppTest]:
    return opener_by_role(demo_db, "pages/backlog/page.py", timeout=90)


def _open_tab(at: AppTest) -> int:
    """The tab the run tells the browser to open (st.tabs' default) on the screen's tab container."""
    stack = [at.main]
    while stack:
        node = stack.pop()
        if getattr(node, "type", None) == "tab_container":
            return node.proto.tab_container.default_tab_index
        stack.extend(getattr(node, "children", {}).values())
    raise AssertionError("no st.tabs on the page")


def test_analyst_accepts_the_drift_proposal_as_planned(open_as, demo_db):
    before = {i.id for i in backlog.ranked(demo_db)}  # the demo's items: the drift of sessions_per_week is one
    at = ok(open_as("analyst"))
    assert at.title[0].value == "Backlog"
    keys = button_keys(at)
    assert "bl_prop_plan_drift_churn_sessions_per_week" not in keys  # covered by the demo's items
    assert "bl_prop_plan_drift_churn_app_latency_ms" in keys
    assert len(at.dataframe[0].value) == len(before)
    assert _open_tab(at) == 0
    at = ok(at.button(key="bl_prop_plan_drift_churn_app_latency_ms").click().run())
    assert any("Planned as item #" in s.value for s in at.success)
    # The Proposals label changed (its count); the browser would fall back to the first tab unless the run
    # names the Proposals tab as the one to open.
    assert _open_tab(at) == 1 and at.tabs[1].label.startswith("Proposals (")
    assert "bl_prop_plan_drift_churn_app_latency_ms" not in button_keys(at)
    (item,) = [i for i in backlog.ranked(demo_db) if i.id not in before]
    assert (item.status, item.proposal_key) == ("planned", "drift:churn:app_latency_ms")
    frame = at.dataframe[0].value
    assert "Investigate the drift of app_latency_ms (churn)" in list(frame["title"])
    at.selectbox(key="bl_open").set_value(item.id)  # the demo's top item is open first: open the new one
    at = ok(at.run())
    assert any("drift churn:app_latency_ms" in t.value for t in at.text)


def test_dismiss_is_remembered_and_can_be_restored(open_as):
    at = ok(open_as("analyst"))
    theme_key = next(k for k in button_keys(at) if k.startswith("bl_prop_dismiss_theme_"))
    suffix = theme_key.removeprefix("bl_prop_dismiss_")
    at.text_input(key=f"bl_prop_reason_{suffix}").input("known issue")
    at = ok(at.button(key=theme_key).click().run())
    assert theme_key not in button_keys(at)
    restore = next(k for k in button_keys(at) if k.startswith("bl_prop_restore_"))
    at = ok(at.button(key=restore).click().run())
    assert theme_key in button_keys(at)


def test_create_move_and_close_an_item_with_its_outcome(open_as, demo_db):
    at = ok(open_as("analyst"))
    at.text_input(key="bl_new_title").input("Pin the feature pipeline <b>versions</b>")
    at.selectbox(key="bl_new_kind").select("tech_debt")
    at.number_input(key="bl_new_reach").set_value(500.0)
    at.number_input(key="bl_new_effort").set_value(2.0)
    at = ok(at.button[[b.label for b in at.button].index("Create item")].click().run())
    (item,) = [i for i in backlog.ranked(demo_db) if i.title.startswith("Pin the feature pipeline")]
    assert item.title == "Pin the feature pipeline <b>versions</b>" and item.score == pytest.approx(500 * 1 * 0.8 / 2)
    at.selectbox(key="bl_open").set_value(item.id)  # below the demo's items: open it
    at = ok(at.run())
    assert at.subheader[0].value.endswith("<b>versions</b>")  # shown as text in a heading, never as HTML
    at = ok(at.button(key=f"bl_move_{item.id}_in_progress").click().run())
    assert backlog.get_item(demo_db, item.id).item.status == "in_progress"
    at.text_input(key=f"bl_close_metric_{item.id}").input("pipeline failures per week")
    at.number_input(key=f"bl_close_before_{item.id}").set_value(4.0)
    at.number_input(key=f"bl_close_after_{item.id}").set_value(0.0)
    at = ok(at.button[[b.label for b in at.button].index("Close as done")].click().run())
    done = backlog.get_item(demo_db, item.id).item
    assert (done.status, done.outcome_metric, done.outcome_before, done.outcome_after) == (
        "done",
        "pipeline failures per week",
        4.0,
        0.0,
    )
    # open statuses by default: the done item leaves the list (the demo's open items stay), the Done filter
    # brings it back
    assert done.title not in list(at.dataframe[0].value["title"])
    at.multiselect(key="bl_filter_status").select("done")
    at = ok(at.run())
    frame = at.dataframe[0].value
    assert list(frame.loc[frame["title"] == done.title, "status"]) == ["Done"]


def test_viewer_reads_without_buttons(open_as, demo_db):
    backlog.create_item(demo_db, ANALYST, kind="data_quality", title="Dedupe events", status="planned")
    at = ok(open_as("viewer"))
    assert "Dedupe events" in list(at.dataframe[0].value["title"])
    assert not any(k.startswith(("bl_prop_", "bl_move_")) for k in button_keys(at))
    assert "Create item" not in [b.label for b in at.button]


def test_items_over_time_figure_and_table():
    flow = pd.DataFrame(
        {"week": pd.to_datetime(["2026-10-05", "2026-10-12"] * 2), "kind": ["tech_debt"] * 2 + ["data_quality"] * 2,
         "created": [2, 1, 1, 0], "closed": [0, 1, 0, 1], "open": [2, 2, 1, 0]}
    )  # fmt: skip
    fig = figures_backlog.items_over_time(flow)
    names = [t.name for t in fig.data]
    assert "Tech debt: created" in names and "Data quality: open" in names
    closed = next(t for t in fig.data if t.name == "Tech debt: closed")
    assert list(closed.y) == [0, -1]
    assert figures_backlog.items_over_time(flow.iloc[0:0]).layout.annotations[0].text == "No backlog items yet"
    items = [backlog.BacklogItem(id=1, kind="tech_debt", title="t", status="planned", scoring="rice", score=2.0)]
    shown = items_frame(items)
    assert list(shown.columns)[:3] == ["rank", "id", "title"] and shown.loc[0, "kind"] == "Tech debt"


def test_a_concluded_experiment_files_a_backlog_item_with_its_exposures_as_reach(open_as, demo_db):
    at = ok(open_as("analyst", "pages/experiments/page.py"))
    at.selectbox(key="exp_pick_manage").select("retention-offer-v1")
    at = ok(at.run())
    at.text_input(key=next(t.key for t in at.text_input if t.key and t.key.startswith("bl_from_title_"))).input(
        "Ship the offer to mobile too"
    )
    at = ok(at.button[[b.label for b in at.button].index("Create backlog item")].click().run())
    (item,) = [i for i in backlog.ranked(demo_db) if i.title == "Ship the offer to mobile too"]
    assert item.title == "Ship the offer to mobile too" and item.source_type is None
    detail = backlog.get_item(demo_db, item.id)
    assert [e.ref_type for e in detail.evidence] == ["experiment"]
    assert item.reach > 0 and item.reach_basis == "experiment exposures per week while it ran"
