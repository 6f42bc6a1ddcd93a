"""Every Monitoring view is a URL: the codec (pages/monitoring/url_state.py, pure), the page following a
link and writing the view back to the address bar (AppTest on the demo), and the links into it from the
Overview tiles and from an alert."""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs

import pytest

from pages.monitoring import keys, url_state
from pages.monitoring.common import ALL_ROWS, CUSTOM
from services.core.roles import Actor, Role
from services.feedback import triage
from services.feedback.triage import QueueFilter
from services.monitoring import alerts
from tests.pages import test_monitoring_page
from tests.pages.test_monitoring_page import no_exception, open_as, table

demo_db = test_monitoring_page.demo_db  # the same fixture: a private copy of the demo per test

# --- the codec --------------------------------------------------------------------------------------

TARGET = url_state.Target(2, "churn", 2, date(2026, 9, 15), date(2026, 10, 29),
                          {"platform": ["android", "ios", "web"], "tier": ["enterprise", "free", "pro"]})  # fmt: skip
PRESETS = (("first14", "first28"), ("last7", "last14", "last28", "after_reference"))


def test_a_link_is_read_leniently_and_written_back_the_same():
    params = {"model": "churn", "version": "2", "tab": "Drift", "cohort": "platform", "value": ["ios", "android"],
              "reference": "first14", "window": "2026-10-02..2026-10-29"}  # fmt: skip
    view = url_state.view_from_params(params)
    assert view == url_state.View("churn", 2, "Drift", "platform", ("ios", "android"), "first14",
                                  "2026-10-02..2026-10-29")  # fmt: skip
    assert url_state.same_params(url_state.params_from_view(view), {**params, "tab": "drift"})
    odd = url_state.view_from_params({"version": "two", "tab": "nope", "value": "ios", "other": "x"})
    assert odd == url_state.View()  # a value without a field, an unknown tab, a version that is not a number
    assert not url_state.has_view({"other": "x"}) and url_state.has_view({"tab": "alerts"})


def test_windows_are_presets_or_days():
    ref, cur = PRESETS
    assert url_state.parse_window("last7", cur) == "last7"
    assert url_state.parse_window("2026-10-02..2026-10-29", cur) == (date(2026, 10, 2), date(2026, 10, 29))
    assert url_state.parse_window("2026-10-10", cur) == (date(2026, 10, 10), date(2026, 10, 10))
    assert url_state.parse_window("2026-10-29..2026-10-02", cur) is None
    assert url_state.parse_window("last999", cur) is None and url_state.parse_window("x..y", cur) is None
    assert url_state.window_text(CUSTOM, (date(2026, 10, 2), date(2026, 10, 29))) == "2026-10-02..2026-10-29"
    assert url_state.window_text("last28", None) == "last28"


def test_the_session_values_of_a_view_keep_only_what_the_widgets_can_show():
    view = url_state.View(tab="Performance", cohort="platform", values=("ios", "tablet"),
                          window="2026-10-02..2026-10-29", reference="2026-01-01..2026-01-14")  # fmt: skip
    state = url_state.session_values(view, TARGET, *PRESETS)
    assert state[keys.TAB] == "Performance" and state[keys.VERSION] == 2
    assert state[keys.CUR] == CUSTOM and state[f"{keys.CUR_RANGE_PREFIX}2"] == (date(2026, 10, 2), date(2026, 10, 29))
    assert state[keys.REF] == "first14"  # days outside the version's data: the default
    assert state[f"{keys.FILTER_FIELD_PREFIX}2"] == "platform"
    assert state[f"{keys.FILTER_VALUES_PREFIX}2_platform"] == ["ios"]  # an unknown value is dropped
    typed = url_state.view_from_params({"cohort": "platform", "value": ["ios,android", "tablet, web"]})
    split = url_state.session_values(typed, TARGET, *PRESETS)
    assert split[f"{keys.FILTER_VALUES_PREFIX}2_platform"] == ["ios", "android", "web"]  # comma-joined too
    unknown = url_state.session_values(url_state.View(cohort="country", values=("fr",)), TARGET, *PRESETS)
    assert unknown[f"{keys.FILTER_FIELD_PREFIX}2"] == ALL_ROWS and unknown[keys.TAB] == "Drift"
    back = url_state.view_from_session(state, TARGET)
    assert back.window == "2026-10-02..2026-10-29" and back.values == ("ios",) and back.model == "churn"


def test_a_link_names_the_version_by_model_and_number():
    v1 = url_state.Target(1, "churn", 1, date(2026, 8, 1), date(2026, 10, 29), {})
    other = url_state.Target(3, "fraud", 4, date(2026, 8, 1), date(2026, 10, 29), {})
    targets = [TARGET, v1, other]
    assert url_state.pick_version(url_state.View(model="churn", version=1), targets, TARGET) == v1
    assert url_state.pick_version(url_state.View(version=1), targets, TARGET) == v1
    assert url_state.pick_version(url_state.View(model="fraud"), targets, TARGET) == other
    assert url_state.pick_version(url_state.View(model="churn", version=9), targets, TARGET) == TARGET


# --- the page -----------------------------------------------------------------------------------------


def _open_with(engine, params: dict, email: str = "analyst@loopdeck.demo"):
    at = open_as(engine, email)  # the page as the sidebar opens it
    at.query_params.clear()
    at.query_params.update(params)  # then a link into it, followed inside the same session
    return at.run()


def test_a_link_opens_its_tab_cohort_and_window_and_the_url_follows_the_widgets(demo_db):
    at = open_as(demo_db, "viewer@loopdeck.demo")
    # Opened from the sidebar: the default view, written to the address bar.
    assert at.query_params["tab"] == "drift" and at.query_params["model"] == "churn"
    assert at.query_params["window"] == "last28" and "cohort" not in at.query_params
    at.query_params.clear()
    at.query_params.update({"tab": "performance", "cohort": "platform", "value": ["ios", "android"],
                            "window": "2026-10-02..2026-10-29"})  # fmt: skip
    at.run()
    no_exception(at)
    assert at.session_state[keys.TAB] == "Performance"
    assert at.selectbox(key=f"{keys.FILTER_FIELD_PREFIX}2").value == "platform"
    assert at.multiselect(key=f"{keys.FILTER_VALUES_PREFIX}2_platform").value == ["ios", "android"]
    assert at.selectbox(key=keys.CUR).value == CUSTOM
    assert "Current window 2026-10-02 to 2026-10-29" in "\n".join(c.value for c in at.caption)
    assert "platform = ios" in set(table(at, "gap to the rest")["cohort"])  # the Performance tab drew
    assert at.query_params["tab"] == "performance" and at.query_params["value"] == ["ios", "android"]
    # A change on the page rewrites the URL, and the widgets keep it on the next run.
    at.selectbox(key=keys.CUR).set_value("last7")
    at.run()
    assert at.query_params["window"] == "last7" and at.session_state[keys.TAB] == "Performance"
    at.multiselect(key=f"{keys.FILTER_VALUES_PREFIX}2_platform").set_value(["web"])
    at.run()
    assert at.query_params["value"] == "web" and at.query_params["cohort"] == "platform"


def test_a_hand_edited_link_still_opens(demo_db):
    at = _open_with(demo_db, {"tab": "NOPE", "cohort": "country", "value": "fr", "window": "yesterday",
                              "version": "x", "reference": "2020-01-01..2020-01-02"})  # fmt: skip
    no_exception(at)
    assert not at.error and at.session_state[keys.TAB] == "Drift"
    assert at.selectbox(key=keys.CUR).value == "last28" and at.selectbox(key=keys.REF).value == "first14"
    assert at.selectbox(key=f"{keys.FILTER_FIELD_PREFIX}2").value == ALL_ROWS
    assert at.query_params["tab"] == "drift" and "cohort" not in at.query_params


@pytest.mark.parametrize(("label", "slug", "tab"), [("Drift in Monitoring", "drift", "Drift"),
                                                    ("Performance in Monitoring", "performance", "Performance"),
                                                    ("Alerts in Monitoring", "alerts", "Alerts")])  # fmt: skip
def test_each_overview_tile_links_to_the_tab_it_names(demo_db, label, slug, tab):
    at = open_as(demo_db, "viewer@loopdeck.demo")
    overview = at.switch_page("pages/overview/page.py").run()
    no_exception(overview)
    link = next(e.proto for e in overview.get("page_link") if e.proto.label == label)
    assert link.page.endswith("monitor") and parse_qs(link.query_string) == {"tab": [slug]}
    follow = _open_with(demo_db, {"tab": slug}, "viewer@loopdeck.demo")
    no_exception(follow)
    assert follow.session_state[keys.TAB] == tab


def test_an_alerts_drift_and_feedback_are_links_for_its_cohort(demo_db):
    lead = Actor("lead@loopdeck.demo", Role.analyst)
    alerts.create_rule(demo_db, lead, name="Mobile accuracy", model_name="churn", metric="accuracy", threshold=0.95,
                       window="7d", cohort={"platform": ["ios", "android"]})  # fmt: skip
    alerts.evaluate_rules(demo_db, lead)
    at = _open_with(demo_db, {"tab": "alerts"})
    no_exception(at)
    grid = next(d for d in at.dataframe if d.key and d.key.startswith(keys.ALERTS_TABLE_PREFIX))
    assert len(grid.value) >= 1
    at.session_state[grid.key] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    no_exception(at)
    links = {e.proto.label: e.proto for e in at.get("page_link")}
    drift = parse_qs(links["Open drift for this cohort"].query_string)
    assert links["Open drift for this cohort"].page.endswith("monitor")
    assert drift["tab"] == ["drift"] and drift["cohort"] == ["platform"] and drift["value"] == ["ios", "android"]
    assert drift["model"] == ["churn"] and drift["version"] == ["2"] and ".." in drift["window"][0]
    feedback = parse_qs(links["Open feedback for this cohort"].query_string)
    assert links["Open feedback for this cohort"].page.endswith("feedback-queue")
    assert feedback == {"cohort": ["platform"], "value": ["ios", "android"]}  # every value of the rule
    # Following the drift link shows the alert's cohort and window on the Drift tab.
    follow = _open_with(demo_db, {k: v if len(v) > 1 else v[0] for k, v in drift.items()})
    no_exception(follow)
    assert follow.session_state[keys.TAB] == "Drift" and follow.selectbox(key=keys.CUR).value == CUSTOM
    assert follow.multiselect(key=f"{keys.FILTER_VALUES_PREFIX}2_platform").value == ["ios", "android"]
    # Following the feedback link shows the queue of both cohorts (not only the first value's).
    queue = follow.switch_page("pages/feedback/page.py")
    queue.query_params.clear()
    queue.query_params.update({k: v if len(v) > 1 else v[0] for k, v in feedback.items()})
    queue.run()
    no_exception(queue)
    assert queue.multiselect(key="fb_value").value == ["ios", "android"]
    both = triage.queue_counts(demo_db, QueueFilter(cohort=(("platform", "ios"), ("platform", "android")))).total
    ios = triage.queue_counts(demo_db, QueueFilter(cohort=(("platform", "ios"),))).total
    assert {m.label: m.value for m in queue.metric}["Matching"] == f"{both:,}" and both > ios > 0
    shown = (queue.data_editor[0] if queue.data_editor else queue.dataframe[0]).value
    assert set(shown["cohort_platform"]) == {"ios", "android"}


def test_a_cohorts_drift_links_to_its_feedback(demo_db):
    """The Drift tab of a cohort (as an alert's drift link opens it) links to that cohort's Feedback queue:
    the step of the analyst's flow from drifted features to what the cohort's users write."""
    at = _open_with(demo_db, {"tab": "drift", "cohort": "platform", "value": ["android", "ios"]})
    no_exception(at)
    links = {e.proto.label: e.proto for e in at.get("page_link")}
    link = links["Open feedback for platform = android or ios"]
    assert link.page.endswith("feedback-queue") and parse_qs(link.query_string) == {
        "cohort": ["platform"], "value": ["android", "ios"]}  # fmt: skip
    everyone = _open_with(demo_db, {"tab": "drift"})
    no_exception(everyone)
    assert not [e for e in everyone.get("page_link") if e.proto.label.startswith("Open feedback for")]
