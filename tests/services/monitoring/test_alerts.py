"""Alert rules and alerts: evaluation (no duplicates, new windows open new alerts), the lifecycle
open -> acknowledged -> resolved, backlog items, audit, and the role x action table. SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import pytest

from services import ingest
from services.backlog import items as backlog
from services.core import audit
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_monitoring import Alert, AlertRule
from services.monitoring import alerts, block_build, frames, overrides
from services.monitoring import views as mon
from services.stats import drift as d
from tests.services import factories
from tests.services.monitoring.test_monitoring import START, synthetic

ANALYST = Actor("analyst@test.io", Role.analyst)


def actor(role: Role) -> Actor:
    return Actor(f"{role.name}@test.io", role)


@pytest.fixture(autouse=True)
def _fresh_caches():
    frames.clear_caches()
    yield
    frames.clear_caches()


def _events(engine, action: str | None = None) -> int:
    return len(audit.list_events(engine, audit.AuditFilter(action=action) if action else audit.AuditFilter()))


# --- evaluation -----------------------------------------------------------------------------------


def test_rules_open_one_alert_per_breach_and_window(engine):
    # 24 days: the default reference is the first 14; x shifts for ios from day 16, ios goes wrong then too.
    mv = synthetic(engine, days=24, per_day=150, shift_day=16)
    drift = alerts.create_rule(engine, ANALYST, name="x drifts on ios", model_name="churn", metric="drift:x",
                               threshold=0.1, window="7d", cohort={"platform": "ios"})  # fmt: skip
    acc = alerts.create_rule(engine, ANALYST, name="ios accuracy", model_name="churn", metric="accuracy",
                             threshold=0.66, window="7d", cohort={"platform": ["ios"]})  # fmt: skip
    alerts.create_rule(engine, ANALYST, name="web accuracy", model_name="churn", metric="accuracy",
                             threshold=0.66, window="7d", cohort={"platform": "web"})  # fmt: skip
    est = alerts.create_rule(engine, ANALYST, name="estimate", model_name="churn", metric="estimated_accuracy",
                             threshold=0.3, window="7d")  # fmt: skip
    paused = alerts.create_rule(engine, ANALYST, name="paused", model_name="churn", metric="drift_share",
                                threshold=0.0, window="1d")  # fmt: skip
    alerts.set_rule_enabled(engine, ANALYST, paused.id, False)
    assert (drift.comparison, acc.comparison, est.comparison) == (alerts.AUTO, "<", "<")

    progress = []
    opened = alerts.evaluate_rules(engine, ANALYST, progress=lambda f, m: progress.append(f))
    assert {a.rule_id for a in opened} == {drift.id, acc.id} and progress[-1] == 1.0
    by_rule = {a.rule_id: a for a in opened}
    evidence = by_rule[drift.id].evidence
    assert evidence["window"] == {"start": "2026-03-19", "end": "2026-03-25"}
    assert evidence["reference"] == {"start": "2026-03-02", "end": "2026-03-15"}
    # About 700 reference rows for ios: KS decides, so "auto" compares its p-value: p < 0.1.
    assert evidence["method"] == d.Method.KS and evidence["comparison"] == "<" and evidence["value"] < 0.1
    assert evidence["cohort"] == {"platform": "ios"} and evidence["rows"] > 200 and evidence["model_version_id"] == mv
    assert by_rule[acc.id].value < 0.66 and by_rule[acc.id].evidence["ci_high"] > by_rule[acc.id].value
    assert all(a.state == "open" for a in opened)
    assert _events(engine, "alert.open") == 2 and _events(engine, "alert_rule.evaluate") == 1

    # Evaluating again (another import, another click) never duplicates.
    assert alerts.evaluate_rules(engine, ANALYST) == []
    assert alerts.evaluate_rules(engine, ANALYST, model_name="churn") == []
    assert len(alerts.list_alerts(engine)) == 2

    # Resolved, the same window stays closed; a new day of data is a new window and opens a new alert.
    for a in opened:
        alerts.resolve(engine, ANALYST, a.id, "seen")
    assert alerts.evaluate_rules(engine, ANALYST) == []
    late = pd.DataFrame({"request_id": [f"late-{i}" for i in range(60)], "model_name": "churn", "model_version": 1,
                         "ts": (START + timedelta(days=24, hours=1)).isoformat(), "score": 0.2, "predicted_label": 0,
                         "feature_x": [3.0] * 60, "cohort_platform": "ios"})  # fmt: skip
    result = ingest.import_frame(engine, ANALYST, "predictions", late, "late")  # evaluates the rules on import
    again = [alerts.get_alert(engine, i).alert for i in result.alerts_opened]
    assert [a.rule_id for a in again] == [drift.id] and "1 new alert" in result.summary()
    assert again[0].evidence["window"] == {"start": "2026-03-20", "end": "2026-03-26"}
    assert not block_build.needs_refresh(engine)
    assert alerts.evaluate_rules(engine, ANALYST) == []  # on demand: nothing new


def test_imports_evaluate_the_rules_in_a_following_audited_transaction(engine, monkeypatch):
    mv = synthetic(engine, days=24, per_day=150, shift_day=16)  # imported before any rule: nothing evaluated
    assert _events(engine, "alert_rule.evaluate") == 0

    # No enabled rule: an import costs one lookup, no block refresh, no event.
    paused = alerts.create_rule(engine, ANALYST, name="paused", model_name="churn", metric="drift_share",
                                threshold=0.0, window="1d")  # fmt: skip
    alerts.set_rule_enabled(engine, ANALYST, paused.id, False)
    ids = [f"day24-{i}" for i in range(80)]
    day24 = pd.DataFrame({"request_id": ids, "model_name": "churn", "model_version": 1,
                          "ts": (START + timedelta(days=24, hours=2)).isoformat(), "score": 0.9, "predicted_label": 1,
                          "feature_x": [0.0] * 80, "cohort_platform": "ios"})  # fmt: skip
    quiet = ingest.import_frame(engine, ANALYST, "predictions", day24, "day24")
    assert quiet.alerts_opened == () and quiet.alerts_error == "" and block_build.needs_refresh(engine)
    assert _events(engine, "alert_rule.evaluate") == 0

    # An enabled rule: the outcomes' import refreshes the blocks and opens the alert, audited with its id.
    acc = alerts.create_rule(engine, ANALYST, name="ios accuracy", model_name="churn", metric="accuracy",
                             threshold=0.66, window="7d", cohort={"platform": "ios"})  # fmt: skip
    outcomes = pd.DataFrame({"request_id": ids, "actual_label": 0, "ts": (START + timedelta(days=25)).isoformat()})
    result = ingest.import_frame(engine, ANALYST, "outcomes", outcomes, "outcomes24")
    assert not block_build.needs_refresh(engine)
    [alert] = [alerts.get_alert(engine, i) for i in result.alerts_opened]
    assert alert.rule.id == acc.id and alert.alert.model_version_id == mv and alert.alert.value < 0.66
    assert alert.window is not None and alert.window.end == (START + timedelta(days=24)).date()
    [event] = audit.list_events(engine, audit.AuditFilter(action="alert_rule.evaluate")).itertuples(index=False)
    assert event.actor == ANALYST.label and f"import {result.import_id}" in event.payload
    assert _events(engine, "alert.open") == 1

    # Re-importing the same rows adds nothing and evaluates nothing; a feedback import never evaluates.
    again = ingest.import_frame(engine, ANALYST, "outcomes", outcomes, "outcomes24 again")
    assert again.new == 0 and again.alerts_opened == () and _events(engine, "alert_rule.evaluate") == 1

    # A failing evaluation does not undo the import: the result says so.
    def broken(*args, **kwargs):
        raise RuntimeError("monitoring is down")

    monkeypatch.setattr(alerts, "evaluate_after_import", broken)
    more = day24.assign(request_id=[f"day24b-{i}" for i in range(80)])
    failed = ingest.import_frame(engine, ANALYST, "predictions", more, "day24b")
    assert failed.new == 80 and "monitoring is down" in failed.alerts_error
    assert "alert rules not evaluated" in failed.summary()


def test_checks_skip_what_is_no_evidence(engine):
    mv = synthetic(engine, days=10, per_day=50)
    info = mon.get_version(engine, mv)
    rule = alerts.create_rule(engine, ANALYST, name="drift", model_name="churn", metric="drift:x", threshold=0.1)
    check = alerts.check_rule(engine, rule, info)
    assert not check.breached and check.skipped == "the window overlaps the reference window"
    small = alerts.create_rule(engine, ANALYST, name="one day", model_name="churn", metric="accuracy", threshold=0.9,
                               window="1d", cohort={"platform": "ios"})  # fmt: skip
    check = alerts.check_rule(engine, small, info)
    assert not check.breached and "too few" in check.skipped and check.n < alerts.MIN_ROWS
    missing = alerts.create_rule(engine, ANALYST, name="no such column", model_name="churn", metric="drift:nope",
                                 threshold=0.1)  # fmt: skip
    assert alerts.check_rule(engine, missing, info).value is None


def test_rule_inputs_are_checked(engine):
    factories.model_version(engine, "churn", 1)
    ok = dict(name="r", model_name="churn", metric="accuracy", threshold=0.8)
    assert alerts.comparisons("drift:x")[0] == alerts.AUTO and alerts.AUTO not in alerts.comparisons("accuracy")
    for bad, error in [
        ({"comparison": alerts.AUTO}, InvalidInput),
        ({"name": " "}, InvalidInput), ({"metric": "nonsense"}, InvalidInput), ({"metric": "drift:"}, InvalidInput),
        ({"comparison": "=="}, InvalidInput), ({"window": "3d"}, InvalidInput), ({"severity": "huge"}, InvalidInput),
        ({"threshold": float("nan")}, InvalidInput), ({"cohort": {"platform": []}}, InvalidInput),
        ({"model_name": "unknown"}, NotFound),
    ]:  # fmt: skip
        with pytest.raises(error):
            alerts.create_rule(engine, ANALYST, **{**ok, **bad})
    rule = alerts.create_rule(engine, ANALYST, **{**ok, "cohort": {"platform": ["ios", "android"]}})
    assert rule.cohort == {"platform": ["ios", "android"]} and rule.comparison == "<"
    assert alerts.default_comparison("estimated_roc_auc") == "<" and alerts.default_comparison("log_loss") == ">="
    changed = alerts.update_rule_threshold(engine, ANALYST, rule.id, 0.7)
    assert changed.threshold == 0.7 and changed.updated_by == ANALYST.label
    assert _events(engine, "alert_rule.update") == 1


# --- lifecycle ------------------------------------------------------------------------------------


def _alert(engine, name: str = "rule") -> int:
    """An open alert with evidence, written directly (evaluation is tested above)."""
    mv = factories.model_version(engine, f"m-{name}", 1)
    with write_session(engine) as session:
        rule = AlertRule(name=name, model_name=f"m-{name}", metric="accuracy", comparison="<", threshold=0.8,
                         window="7d", created_by="test")  # fmt: skip
        session.add(rule)
        session.flush()
        alert = Alert(rule_id=rule.id, model_version_id=mv, value=0.7,
                      evidence={"metric": "accuracy", "value": 0.7, "threshold": 0.8, "model": f"m-{name}",
                                "model_version": 1,
                                "window": {"start": "2026-03-01", "end": "2026-03-07"}})  # fmt: skip
        session.add(alert)
        session.flush()
        return alert.id


def test_lifecycle_open_acknowledged_resolved_and_backlog(engine):
    alert_id = _alert(engine)
    with pytest.raises(InvalidInput):
        alerts.acknowledge(engine, ANALYST, alert_id, "  ")
    acked = alerts.acknowledge(engine, ANALYST, alert_id, "mobile team is on it")
    assert (acked.state, acked.acknowledged_by, acked.ack_comment) == ("acknowledged", ANALYST.label,
                                                                         "mobile team is on it")  # fmt: skip
    assert acked.acknowledged_at is not None
    with pytest.raises(Conflict):
        alerts.acknowledge(engine, ANALYST, alert_id, "again")
    item = alerts.to_backlog(engine, ANALYST, alert_id)
    assert (item.source_type, item.source_id, item.kind) == ("alert", str(alert_id), "model_improvement")
    assert item.evidence["alert_id"] == alert_id and item.evidence["threshold"] == 0.8
    assert "accuracy = 0.7" in item.title
    with pytest.raises(Conflict):
        alerts.to_backlog(engine, ANALYST, alert_id)
    assert backlog.list_items(engine, "alert")["id"].tolist() == [item.id]
    done = alerts.resolve(engine, ANALYST, alert_id, "rolled back the app release")
    assert (done.state, done.resolved_by, done.resolve_comment) == ("resolved", ANALYST.label,
                                                                     "rolled back the app release")  # fmt: skip
    with pytest.raises(Conflict):
        alerts.resolve(engine, ANALYST, alert_id)
    view = alerts.get_alert(engine, alert_id)
    assert view.alert.backlog_item_id == item.id and view.window == mon.Window(date(2026, 3, 1), date(2026, 3, 7))
    assert "accuracy = 0.7 < 0.8" in view.summary
    for action in ("alert.acknowledge", "alert.to_backlog", "alert.resolve", "backlog.create"):
        assert _events(engine, action) == 1
    assert [v.alert.id for v in alerts.list_alerts(engine, "resolved")] == [alert_id]
    assert alerts.list_alerts(engine, "open") == [] and alerts.count_open(engine) == 0
    with pytest.raises(NotFound):
        alerts.resolve(engine, ANALYST, 999_999)
    with pytest.raises(InvalidInput):
        alerts.list_alerts(engine, "snoozed")


def test_an_open_alert_resolves_directly(engine):
    alert_id = _alert(engine)
    assert alerts.resolve(engine, ANALYST, alert_id).state == "resolved"


# --- roles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    minimum: Role
    run: Callable  # (engine, actor, setup) -> None
    setup: Callable = lambda engine, n: None  # (engine, unique number) -> what the action needs


def _rule(engine, n):
    factories.model_version(engine, f"model{n}", 1)
    return alerts.create_rule(engine, ANALYST, name=f"rule {n}", model_name=f"model{n}", metric="accuracy",
                              threshold=0.5)  # fmt: skip


def _model(engine, n):
    factories.model_version(engine, f"model{n}", 1)
    return f"model{n}"


def _override(engine, n):
    name = _model(engine, n)
    overrides.set_override(engine, ANALYST, name, "x", d.Method.PSI, 0.2)
    return name


# Who may do what in Monitoring (viewers read: the list_* and report functions take no actor).
ACTIONS = [
    Action("create an alert rule", Role.analyst, lambda e, a, s: alerts.create_rule(
        e, a, name="new", model_name=s, metric="drift_share", threshold=0.5), _model),
    Action("pause a rule", Role.analyst, lambda e, a, s: alerts.set_rule_enabled(e, a, s.id, False), _rule),
    Action("change a rule's threshold", Role.analyst, lambda e, a, s: alerts.update_rule_threshold(e, a, s.id, 0.6),
           _rule),
    Action("evaluate the rules", Role.analyst, lambda e, a, s: alerts.evaluate_rules(e, a)),
    Action("acknowledge an alert", Role.analyst, lambda e, a, s: alerts.acknowledge(e, a, s, "on it"),
           lambda e, n: _alert(e, f"ack{n}")),
    Action("resolve an alert", Role.analyst, lambda e, a, s: alerts.resolve(e, a, s, "done"),
           lambda e, n: _alert(e, f"res{n}")),
    Action("file an alert to the backlog", Role.analyst, lambda e, a, s: alerts.to_backlog(e, a, s),
           lambda e, n: _alert(e, f"bl{n}")),
    Action("change a drift test", Role.analyst, lambda e, a, s: overrides.set_override(e, a, s, "x", d.Method.KS, 0.01),
           _model),
    Action("reset a drift test", Role.analyst, lambda e, a, s: overrides.clear_override(e, a, s, "x"), _override),
]  # fmt: skip


def test_role_x_action_table(engine):
    n = 0
    for action in ACTIONS:
        for role in Role:
            n += 1
            target = action.setup(engine, n)
            before = _events(engine)
            if role >= action.minimum:
                action.run(engine, actor(role), target)
                assert _events(engine) > before, f"{action.name} by {role.name} was not audited"
            else:
                with pytest.raises(PermissionDenied):
                    action.run(engine, actor(role), target)
                assert _events(engine) == before, f"refused {action.name} by {role.name} left an audit event"
    # Reading is open to every role.
    assert alerts.list_rules(engine) and alerts.list_alerts(engine) is not None


def test_command_line_refreshes_evaluates_and_lists(tmp_path, monkeypatch, capsys):
    from services.cli.main import main
    from services.core.db import make_engine, migrate

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    engine = make_engine(url)
    migrate(engine)
    synthetic(engine, days=24, per_day=150, shift_day=16)
    alerts.create_rule(engine, ANALYST, name="ios accuracy", model_name="churn", metric="accuracy",
                       threshold=0.66, window="7d", cohort={"platform": "ios"})  # fmt: skip
    assert main(["monitoring", "refresh"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["alerts", "evaluate"]) == 1  # an alert opened: a scheduler can notify
    out = capsys.readouterr().out
    assert "[warning] ios accuracy: accuracy = " in out and out.strip().endswith("1 new alert.")
    assert main(["alerts", "evaluate", "--model", "churn"]) == 0
    assert "0 new alerts." in capsys.readouterr().out
    assert main(["alerts", "list", "--state", "open"]) == 0
    assert "open" in capsys.readouterr().out
    [event] = audit.list_events(engine, audit.AuditFilter(action="alert.open")).itertuples(index=False)
    assert event.actor.startswith("cli:")
    engine.dispose()


def _summary_keys(engine) -> list[str]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT key FROM derived_summary"))]


def _late_outcomes(engine, first_day: int, days: int, per_day: int) -> None:
    ids = [f"s-{i}" for i in range(first_day * per_day, days * per_day)]
    frame = pd.DataFrame({"request_id": ids, "ts": (START + timedelta(days=45)).isoformat(), "actual_label": 0})
    ingest.import_frame(engine, ANALYST, "outcomes", frame, "late outcomes")


def test_a_refresh_with_new_blocks_saves_the_overview_summary_from_the_shell_and_from_an_evaluation(
    engine, tmp_path, monkeypatch, capsys
):
    """Whatever folds new data into the blocks also saves the Overview's monitoring summary, so its next
    view (in any process) reads it instead of computing it."""
    mv = synthetic(engine, days=21, per_day=100, labelled_days=14)
    assert _summary_keys(engine) == []
    _late_outcomes(engine, 14, 17, 100)
    rule = alerts.create_rule(engine, ANALYST, name="accuracy", model_name="churn", metric="accuracy", threshold=0.1)
    alerts.evaluate_rules(engine, ANALYST)
    assert _summary_keys(engine) == [f"overview.monitoring:{mv}:accuracy"]
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM derived_summary")
    alerts.evaluate_rules(engine, ANALYST)  # nothing new: nothing to save
    assert _summary_keys(engine) == []

    if engine.dialect.name == "sqlite":  # the shell command reads LOOPDECK_DATABASE_URL
        from services.cli.main import main

        monkeypatch.setenv("LOOPDECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
        alerts.set_rule_enabled(engine, ANALYST, rule.id, False)  # so the import itself refreshes nothing
        _late_outcomes(engine, 17, 21, 100)
        assert main(["monitoring", "refresh"]) == 0
        assert "refreshed" in capsys.readouterr().out
        assert _summary_keys(engine) == [f"overview.monitoring:{mv}:accuracy"]
