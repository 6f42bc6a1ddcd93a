"""The Monitoring page in AppTest: the demo story on the page (drift, the release day, the mobile cohort,
estimates, calibration), window changes, overrides and alert rules by role, and an empty database."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app import state
from services.core import users
from services.core.db import make_engine
from services.core.roles import Actor, Role
from services.governance import approvals
from services.monitoring import alerts, frames, overrides
from tests.pages.conftest import app_test
from tests.pages.helpers import open_at, run_worker_once
from tests.services.monitoring.test_monitoring import demo_copy

PAGE = "pages/monitoring/page.py"


@pytest.fixture
def demo_db(tmp_path_factory, monkeypatch):
    """A private copy of the demo database (scale 0.1, blocks built) that the app under test uses."""
    path = demo_copy(tmp_path_factory, "monitoring-page")
    url = f"sqlite:///{path}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    engine = make_engine(url)
    frames.clear_caches()
    yield engine
    engine.dispose()
    state.get_engine.clear()
    frames.clear_caches()


def open_as(engine, email: str) -> AppTest:
    uid = next(u.id for u in users.list_users(engine, Actor.system()) if u.email == email)
    at = app_test()
    at.session_state[state.USER_ID] = uid
    return open_at(at, PAGE)


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [w.value for w in at.warning] + [s.value for s in at.success] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def table(at: AppTest, column: str, other: str | None = None):
    """The first table on the page with these columns (st.dataframe without selection has no key)."""
    for df in at.dataframe:
        value = df.value
        if column in value.columns and (other is None or other in value.columns):
            return value
    raise AssertionError(f"no table with a {column!r} column")


def to_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["mon_tab"] = tab
    return at.run()


def test_the_demo_story_on_the_page(demo_db):
    at = open_as(demo_db, "analyst@loopdeck.demo")
    no_exception(at)
    assert at.title[0].value == "Monitoring"
    assert at.selectbox(key="mon_version").value == 2  # churn v2, the champion
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Features drifted"] == "2 of 9" and metrics["Prediction (score) drift"] == "drifted"
    assert "Download report (HTML)" in [b.label for b in at.get("download_button")]  # the shareable file
    assert all(m.proto.direction == 2 for m in at.metric if m.proto.delta)  # a share or a test's score: no arrow
    drift = table(at, "verdict")
    assert len(drift) == 12
    # Furthest past its threshold first, the drifted rows marked on top.
    assert list(drift["verdict"])[:4] == ["drifted"] * 4 and (drift["drift"] != "").sum() == 4
    assert drift["column"].iloc[0] == "app_latency_ms" and drift["past threshold"].iloc[0].endswith("x")
    drifted = set(drift.loc[drift["verdict"] == "drifted", "column"])
    assert {"sessions_per_week", "app_latency_ms"} <= drifted and "tenure_months" not in drifted
    assert set(drift["test"]) >= {"Wasserstein distance (normed)", "Jensen-Shannon distance"}
    # From day summaries, saying which numbers are exact (the demo's windows are small: every one here).
    assert "Read from day summaries" in texts(at) and "Every number is exact" in texts(at)
    assert set(drift["exact or bound"]) == {"exact (counts)", "exact (every value)"}
    assert "About the tests" in [e.label for e in at.expander]

    # A window change: everything after the reference (the release is inside it).
    at.selectbox(key="mon_cur").set_value("after_reference")
    at.run()
    no_exception(at)
    assert "current 2026-09-29 to 2026-10-29" in texts(at)

    at = to_tab(at, "Drift over time")
    no_exception(at)
    assert "Started drifting" in texts(at) and "sessions\\_per\\_week** from 2026-09-30" in texts(at)
    assert "Read from day summaries" in texts(at) and "every number is exact" in texts(at)

    at = to_tab(at, "Performance")
    no_exception(at)
    assert "platform = ios" in texts(at) and "new since the reference window" in texts(at)
    cohorts = table(at, "gap to the rest")
    ios = cohorts[cohorts["cohort"] == "platform = ios"].iloc[0]
    assert ios["status"] == "flagged" and ios["why this rank"].startswith("new: -")
    # New regressions against the reference first: the mobile drop before the free tier's old gap.
    assert list(cohorts["cohort"])[:2] == ["platform = ios", "platform = android"]
    free = cohorts[cohorts["cohort"] == "tier = free"].iloc[0]
    assert free["why this rank"].startswith("long-standing gap") and int(free["rank"]) > 2
    assert not cohorts.isin(["None", "nan"]).any().any() and cohorts.notna().all().all()
    # From the day summaries, and the page says which numbers are exact and which within a bound.
    assert "From the day summaries: accuracy exact" in texts(at)
    at.multiselect(key="mon_perf_fields_2").set_value(["platform"])
    at.run()
    assert list(table(at, "cohort", "ROC AUC")["cohort"])[:2] == ["all rows", "platform = ios"]
    assert "ROC AUC within ±" in texts(at) and "log loss within ±" in texts(at)

    at = to_tab(at, "Calibration")
    no_exception(at)
    assert table(at, "ECE")["cohort"].tolist() == ["all rows"]

    at = to_tab(at, "Estimated performance")
    no_exception(at)
    cbpe = table(at, "estimated")
    assert cbpe["labelled"].iloc[-1] == 0 and cbpe["estimated"].notna().all()
    # No literal None: the last week has no outcome yet and says so; every window says where it lies.
    assert cbpe["realized"].iloc[-1] == "not yet known" and not cbpe.astype(str).isin(["None", "nan"]).any().any()
    assert set(cbpe["realized vs estimate"]) <= {"inside the band", "⚠ below the band", "⚠ above the band",
                                                 "not yet known"}  # fmt: skip
    # The estimate fell after the release: its delta is a drop (arrow down, red), the band is not a delta.
    estimate = next(m for m in at.metric if m.label.startswith("Estimated accuracy"))
    assert estimate.proto.delta.startswith("-") and estimate.proto.direction == 0 and estimate.proto.color == 0
    assert "band" not in estimate.proto.delta
    assert "From the day summaries: estimated accuracy" in texts(at)


def test_a_cohort_filter_applies_to_every_tab(demo_db):
    at = open_as(demo_db, "viewer@loopdeck.demo")
    at.selectbox(key="mon_filter_field_2").set_value("platform")
    at.run()
    at.multiselect(key="mon_filter_values_2_platform").set_value(["web"])
    at.run()
    no_exception(at)
    assert "platform = web" in texts(at)
    assert {m.label: m.value for m in at.metric}["Features drifted"] == "0 of 9"


def test_analysts_change_a_test_and_viewers_cannot(demo_db):
    viewer = open_as(demo_db, "viewer@loopdeck.demo")
    assert "Change a column's test or threshold" not in [e.label for e in viewer.expander]
    at = open_as(demo_db, "analyst@loopdeck.demo")
    at.selectbox(key="mon_ovr_column").set_value("tenure_months")
    at.run()
    at.selectbox(key="mon_ovr_method_tenure_months").set_value("psi")
    at.run()
    at.number_input(key="mon_ovr_threshold_tenure_months_psi").set_value(0.2)
    at.button(key="mon_ovr_save").click()
    at.run()
    no_exception(at)
    drift = table(at, "verdict")
    row = drift[drift["column"] == "tenure_months"].iloc[0]
    assert (row["test"], row["threshold"], row["test chosen"]) == ("PSI", 0.2, "set by a user")
    assert overrides.overrides(demo_db, "churn")["tenure_months"].method == "psi"


def test_alert_rules_and_evaluation_from_the_page(demo_db):
    at = open_as(demo_db, "analyst@loopdeck.demo")
    at = to_tab(at, "Alerts")
    no_exception(at)
    assert "No open alerts." not in texts(at)  # the demo's own rule fired on the mobile regression
    demo_alerts = {v.alert.id for v in alerts.list_alerts(demo_db, "open")}
    assert demo_alerts
    at.selectbox(key="mon_rule_metric").set_value("accuracy")
    at.run()
    at.text_input(key="mon_rule_name").input("mobile accuracy")
    at.number_input(key="mon_rule_threshold_accuracy").set_value(0.82)
    at.selectbox(key="mon_rule_field").set_value("platform")
    at.run()
    at.text_input(key="mon_rule_name").input("mobile accuracy")
    at.number_input(key="mon_rule_threshold_accuracy").set_value(0.82)
    at.multiselect(key="mon_rule_values_platform").set_value(["ios", "android"])
    at.button[[b.label for b in at.button].index("Create rule")].click()
    at.run()
    no_exception(at)
    rule = next(r for r in alerts.list_rules(demo_db) if r.name == "mobile accuracy")
    assert (rule.name, rule.metric, rule.comparison, rule.cohort) == (
        "mobile accuracy", "accuracy", "<", {"platform": ["ios", "android"]})  # fmt: skip
    at.button(key="mon_evaluate").click()
    at.run()
    no_exception(at)
    # the evaluation is the worker's job (it refreshes the monitoring data first): nothing opened in the page
    assert any((b.key or "").startswith("mon_evaluate_job_cancel_") for b in at.button)  # queued, cancellable
    assert not [v for v in alerts.list_alerts(demo_db, "open") if v.rule.name == "mobile accuracy"]
    run_worker_once(demo_db)
    at.run()
    no_exception(at)
    assert "new alert(s)." in " ".join(s.value for s in at.success)
    open_alerts = table(at, "state", "rule")
    mine = open_alerts[open_alerts["rule"] == "mobile accuracy"]
    assert len(mine) >= 1 and set(open_alerts["rule"]) == {"mobile accuracy", "Mobile accuracy (iOS + Android)"}
    assert set(open_alerts.loc[~open_alerts["id"].isin(mine["id"]), "id"]) == demo_alerts
    assert mine["cohort"].iloc[0] == "platform = ios or android"

    # Select the new rule's alert: its evidence, then acknowledge it with a comment.
    first = int(mine["id"].iloc[0])
    row = list(open_alerts["id"]).index(first)
    at.session_state["mon_alerts_open"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert f"Alert {first}" in texts(at)
    # From the alert to action: a retrain request with the alert as its trigger; asking again links the first.
    at.button(key=f"mon_alert_retrain_{first}").click()
    at.run()
    no_exception(at)
    [request] = [r for r in approvals.list_requests(demo_db) if r.kind == "retrain"]
    assert request.payload["trigger"] == f"alert:{first}" and f"Open request #{request.id}" in texts(at)
    at.button(key=f"mon_alert_retrain_{first}").click()
    at.run()
    assert "already has retrain request" in texts(at) and len(approvals.list_requests(demo_db)) >= 1
    assert [r.id for r in approvals.list_requests(demo_db) if r.kind == "retrain"] == [request.id]
    at.text_input(key=f"mon_ack_comment_{first}").input("mobile team is on it")
    at.button[[b.label for b in at.button].index("Acknowledge")].click()
    at.run()
    no_exception(at)
    assert alerts.get_alert(demo_db, first).alert.state == "acknowledged"
    # The evidence link opens its window (and cohort) where the metric lives.
    at.session_state["mon_alert_state"] = "acknowledged"
    at.run()
    at.session_state["mon_alerts_acknowledged"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.button(key=f"mon_alert_show_{first}").click()
    at.run()
    no_exception(at)
    window = alerts.get_alert(demo_db, first).window
    assert at.session_state["mon_tab"] == "Performance" and at.selectbox(key="mon_cur").value == "custom"
    assert f"current {window.label}" in texts(at) and "platform = android or ios" in texts(at)

    # The rule's threshold changes, and it pauses (both audited by the service).
    at = to_tab(at, "Alerts")
    at.selectbox(key="mon_rule_toggle_id").set_value(rule.id)  # the demo's rule comes first: pick this one
    at.run()
    at.number_input(key=f"mon_rule_edit_threshold_{rule.id}").set_value(0.75)
    at.run()
    at.button(key="mon_rule_save_threshold").click()
    at.run()
    at.button(key="mon_rule_toggle").click()
    at.run()
    no_exception(at)
    changed = next(r for r in alerts.list_rules(demo_db) if r.id == rule.id)
    assert (changed.threshold, changed.enabled) == (0.75, False)

    viewer = open_as(demo_db, "viewer@loopdeck.demo")
    viewer.session_state["mon_alert_state"] = "all"
    viewer = to_tab(viewer, "Alerts")
    no_exception(viewer)
    assert len(table(viewer, "state", "rule")) == len(alerts.list_alerts(demo_db)) == len(open_alerts)
    assert "mon_evaluate" not in [b.key for b in viewer.button]
    assert "New alert rule" not in [e.label for e in viewer.expander]


def test_an_empty_database_says_what_to_do(signed_in):
    at = signed_in("viewer", PAGE)
    no_exception(at)
    assert "No predictions yet" in at.info[0].value


def test_two_cohort_fields_small_cohorts_and_calibration_per_cohort(demo_db):
    at = open_as(demo_db, "analyst@loopdeck.demo")
    at.selectbox(key="mon_cur").set_value("after_reference")
    at.run()
    at = to_tab(at, "Performance")
    at.multiselect(key="mon_perf_fields_2").set_value(["platform", "tier"])
    at.number_input(key="mon_min_size").set_value(400)
    at.run()
    no_exception(at)
    cohorts = table(at, "gap to the rest")
    assert all(", " in label for label in cohorts["cohort"])  # "platform = ios, tier = ..."
    assert "Computed from the window's rows" in texts(at)  # two fields' combinations: not in the strata
    small = cohorts[cohorts["status"].str.startswith("too small")]
    assert len(small) >= 1 and (small["rank"] == "—").all() and (small["n"] < 400).all()
    ranked = cohorts[cohorts["rank"] != "—"]
    assert (ranked["n"] >= 400).all() and [int(r) for r in ranked["rank"]] == list(range(1, len(ranked) + 1))

    at = to_tab(at, "Calibration")
    at.selectbox(key="mon_cal_field_2").set_value("platform")
    at.run()
    no_exception(at)
    ece = table(at, "ECE")
    assert ece["cohort"].iloc[0] == "all rows" and sorted(ece["cohort"].iloc[1:]) == ["android", "ios", "web"]
    assert ece["n"].iloc[0] == ece["n"].iloc[1:].sum()


def test_an_alert_becomes_a_backlog_item_and_is_resolved_from_the_page(demo_db):
    analyst = Actor("analyst@loopdeck.demo", Role.analyst)
    rule = alerts.create_rule(demo_db, analyst, name="mobile accuracy", model_name="churn", metric="accuracy",
                              threshold=0.82, cohort={"platform": ["ios", "android"]})  # fmt: skip
    [alert] = alerts.evaluate_rules(demo_db, analyst)
    at = open_as(demo_db, "analyst@loopdeck.demo")
    at = to_tab(at, "Alerts")
    at.session_state["mon_alerts_open"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.text_input(key=f"mon_backlog_title_{alert.id}").input("Fix mobile session counting")
    at.button[[b.label for b in at.button].index("Add to backlog")].click()
    at.run()
    no_exception(at)
    view = alerts.get_alert(demo_db, alert.id)
    assert view.alert.backlog_item_id is not None and view.rule.id == rule.id
    assert table(at, "state", "rule")["backlog item"].iloc[0] == view.alert.backlog_item_id

    at.session_state["mon_alerts_open"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    at.text_input(key=f"mon_resolve_comment_{alert.id}").input("5.0.1 fixed the counter")
    at.button[[b.label for b in at.button].index("Resolve")].click()
    at.run()
    no_exception(at)
    resolved = alerts.get_alert(demo_db, alert.id).alert
    assert (resolved.state, resolved.resolve_comment) == ("resolved", "5.0.1 fixed the counter")


def _new_rows_arrived(engine) -> None:
    """As if new predictions had arrived since the blocks were built (the newest day's block is gone and
    the watermark is behind), with the Overview's saved summary gone too."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM monitoring_block WHERE day = (SELECT max(day) FROM monitoring_block)"))
        conn.execute(sa.text("UPDATE monitoring_sync SET last_prediction_id = (SELECT max(id) - 100 FROM prediction)"))
        conn.execute(sa.text("DELETE FROM derived_summary"))


def _refresh_jobs(engine) -> list[tuple]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT id, status, requested_by FROM job WHERE kind = 'monitoring.refresh' "
                                    "ORDER BY id")).all()  # fmt: skip


def test_a_refresh_runs_in_the_worker_and_the_page_stays_usable_meanwhile(demo_db):
    """New rows: the page queues one refresh job for the worker (not a second one for a second reader, nor on
    the next click) and draws the data as of the last refresh meanwhile, with the job's progress on top. The
    worker runs it; the next run says so, and the Overview's summary for the new blocks is saved."""
    import sqlalchemy as sa

    _new_rows_arrived(demo_db)
    at = open_as(demo_db, "viewer@loopdeck.demo")  # any reader: the job is queued as the system's
    no_exception(at)
    [(job_id, status, by)] = _refresh_jobs(demo_db)
    assert (status, by) == ("queued", "system:monitoring")
    assert at.session_state["mon_refresh_job"] == str(job_id)
    assert "the worker is adding them to the monitoring data" in texts(at)
    assert "Waiting for a worker" in " ".join(str(p.proto.text) for p in at.get("progress"))
    assert at.tabs and "Monitoring data refreshed" not in texts(at)  # the tabs draw the older data meanwhile
    at.run()  # a click: no second job
    other = open_as(demo_db, "analyst@loopdeck.demo")  # another session (or replica): the same job
    assert other.session_state["mon_refresh_job"] == str(job_id)
    assert len(_refresh_jobs(demo_db)) == 1

    run_worker_once(demo_db)
    assert _refresh_jobs(demo_db)[0][1] == "succeeded"
    at.run()
    no_exception(at)
    assert "Monitoring data refreshed" in texts(at)
    assert "mon_refresh_job" not in at.session_state and not at.get("progress")
    with demo_db.connect() as conn:
        keys = [r[0] for r in conn.execute(sa.text("SELECT key FROM derived_summary"))]
    assert len(keys) == 1 and keys[0].startswith("overview.monitoring:")
    at.run()  # up to date: nothing queued, the message was shown once
    assert len(_refresh_jobs(demo_db)) == 1 and "Monitoring data refreshed" not in texts(at)


def test_a_first_build_shows_its_progress_and_a_failed_refresh_waits_for_a_click(demo_db):
    """No block yet: only the job's progress (no tabs over empty data). A refresh that failed is shown with
    its error and queued again only when the user asks."""
    import sqlalchemy as sa

    with demo_db.begin() as conn:
        conn.execute(sa.text("DELETE FROM monitoring_block"))
        conn.execute(sa.text("DELETE FROM monitoring_sync"))
    at = open_as(demo_db, "analyst@loopdeck.demo")
    no_exception(at)
    assert "Preparing the monitoring data for the first time" in texts(at) and not at.tabs
    [(job_id, _, _)] = _refresh_jobs(demo_db)
    with demo_db.begin() as conn:  # as a worker that gave up on it would leave it
        conn.execute(sa.text("UPDATE job SET status = 'failed', error = 'disk full', error_kind = 'crash', "
                             "singleton = NULL, finished_at = created_at WHERE id = :id"), {"id": job_id})  # fmt: skip
    at.run()
    assert "The refresh of the monitoring data failed: disk full" in texts(at)
    at.run()
    assert len(_refresh_jobs(demo_db)) == 1  # not queued again by itself
    at.button(key="mon_refresh_retry").click().run()
    assert [r[1] for r in _refresh_jobs(demo_db)] == ["failed", "queued"]


def test_drift_table_and_headline_show_untested_columns_as_problems_not_verdicts():
    """An id-like column and a column missing from the current window: neither "no drift" nor counted."""
    from types import SimpleNamespace

    from pages.monitoring.frames import drift_frame, drift_headline
    from services.stats.drift_select import NOT_TESTABLE_ID

    def row(column, status="tested", problem="", drifted=False, n_current=500):
        return SimpleNamespace(
            column=column, role="feature", method_label="chi-square", statistic=1.0, score=0.5, threshold=0.05,
            is_p_value=True, drifted=drifted, n_reference=500, n_current=n_current, tested_reference=500,
            tested_current=n_current, overridden=False, reason="default", status=status, problem=problem,
            tested=status == "tested", past_threshold=0.05 / 0.5 if status == "tested" else float("nan"),
            kind="categorical", exact=True, bound=0.0,
        )  # fmt: skip

    rows = (
        row("x", drifted=True),
        row("session_id", "not_testable", NOT_TESTABLE_ID),
        row("gone", "data_quality", "data-quality problem: no values in the current window", n_current=0),
    )
    report = SimpleNamespace(rows=rows, by_excess=rows, features=rows, n_drifted=1, n_features=3, n_tested=1,
                             share_drifted=1.0, drift_share=0.5, drifted=True)  # fmt: skip
    verdicts = dict(zip(drift_frame(report)["column"], drift_frame(report)["verdict"], strict=True))
    assert verdicts == {"x": "drifted", "session_id": "not testable (id-like)", "gone": "data-quality problem"}
    text = drift_headline(report)
    assert text.startswith("1 of 1 tested features drifted (100%)")
    assert "session_id (not testable: mostly distinct values (looks like an id))" in text and "gone (" in text
