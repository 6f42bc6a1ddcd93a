"""Alert rules and alerts: watch any drift score, realized metric or estimated metric of a model.

A rule names a model, a metric (services.monitoring.views.metric_names: `drift:<column>`, `drift_share`,
`accuracy`, ..., `estimated_accuracy`, ...), a comparison and threshold, a window ("1d", "7d", "14d",
"28d") and optionally a cohort ({field: value or [values]}). A column's drift score is a p-value or a
distance depending on the test the default rule (or a saved override) picks for the window, so its
rules compare "auto" by default: p < threshold for p-value tests, distance >= threshold otherwise.

Evaluated on import and on demand: services.ingest calls `evaluate_after_import` once new predictions
or outcomes are committed (skipped at the cost of one lookup when no rule is enabled), the page's
button calls `evaluate_rules`. Both first bring the monitoring blocks up to date, then evaluate every
enabled rule on every version of its model that has data:

- the window is the rule's number of days ending on the version's last day with predictions; for
  realized metrics, ending on its last day with outcomes (labels arrive late, so "the last 7 days"
  of predictions would often have none);
- drift and estimated metrics compare with the version's default reference window (its first 14
  days, as the Monitoring page); a window that overlaps the reference is not evaluated;
- a value computed on fewer than MIN_ROWS rows is no evidence and opens nothing.

A breach opens one alert per (rule, version, window): evaluating again, after another import or a
click, never duplicates it, and while a rule has an unresolved alert on a version it opens no new
one there. Each alert keeps its evidence (metric, value, threshold, comparison, window, rows,
reference window, test) and goes open -> acknowledged (with a comment) -> resolved; it can become a
backlog item. Every change is audited; viewers read, analysts and up create rules, evaluate,
acknowledge, resolve and file backlog items.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.backlog import items as backlog
from services.core import audit, settings
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, LoopdeckError, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_backlog import BacklogItem
from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import Alert, AlertRule
from services.core.timeutil import utcnow
from services.jobs import queue
from services.monitoring import metrics
from services.monitoring import views as mon
from services.monitoring.alert_views import (  # noqa: F401  (re-exported: the alerts' public readers)
    STATES,
    AlertView,
    _num,
    cohort_label,
    count_open,
    get_alert,
    list_alerts,
)
from services.monitoring.refresh import refresh_monitoring  # also saves the Overview's summary of new blocks
from services.notify import events

Progress = Callable[[float, str], None]

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
# For drift scores: the direction of the test that produced the score (the p-value or distance of the
# column's default or overridden test): "<" for p-value tests, ">=" for distances.
AUTO = "auto"
WINDOWS = ("1d", "7d", "14d", "28d")
SEVERITIES = ("info", "warning", "critical")
MIN_ROWS = 30
# a rule with auto_retrain queues this job when it opens an alert; the worker files the request as this actor
AUTO_RETRAIN_JOB = "models.alert_retrain"
ALERT_ACTOR = Actor.system("system:alert-rules")
LOWER_IS_WORSE = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"})


DEFAULTS_KEY = "alerts.defaults"  # the admin setting: a new rule's severity and window unless it says


def _clean_defaults(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInput("Alert defaults are a severity and a window.")
    severity, window = value.get("severity", "warning"), value.get("window", "7d")
    if severity not in SEVERITIES:
        raise InvalidInput(f"The severity is one of {', '.join(SEVERITIES)}.")
    window_days(str(window))
    return {"severity": str(severity), "window": str(window)}


def rule_defaults(engine: Engine) -> dict[str, str]:
    """The severity and window a new rule gets unless it says otherwise (admin setting alerts.defaults)."""
    return _clean_defaults(settings.get(engine, DEFAULTS_KEY))


def default_comparison(metric: str) -> str:
    """The direction that means trouble: quality metrics low, losses and the drift share high, and for a
    column's drift score the direction of its test (AUTO)."""
    if metric.startswith(mon.DRIFT_PREFIX):
        return AUTO
    name = metric.removeprefix(mon.ESTIMATED_PREFIX)
    if name in LOWER_IS_WORSE:
        return "<"
    return ">="


def comparisons(metric: str) -> list[str]:
    """The comparisons a rule on this metric may use (AUTO only for a column's drift score)."""
    return [AUTO, *COMPARISONS] if metric.startswith(mon.DRIFT_PREFIX) else list(COMPARISONS)


def window_days(window: str) -> int:
    if window not in WINDOWS:
        raise InvalidInput(f"The window is one of {', '.join(WINDOWS)}.")
    return int(window.removesuffix("d"))


def _check_cohort(cohort: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cohort:
        return None
    out: dict[str, Any] = {}
    for k, v in cohort.items():
        key = str(k).strip()
        if not key:
            raise InvalidInput("A cohort names its field.")
        values = [v] if isinstance(v, str | int | float) else list(v or [])
        values = [str(x) for x in values if str(x).strip()]
        if not values:
            raise InvalidInput(f"Choose at least one value of the cohort field {key!r}.")
        out[key] = values[0] if len(values) == 1 else values
    return out


# --- rules ---------------------------------------------------------------------------------------


def create_rule(
    engine: Engine, actor: Actor, *, name: str, model_name: str, metric: str, threshold: float,
    comparison: str | None = None, window: str | None = None, cohort: dict[str, Any] | None = None,
    severity: str | None = None, auto_retrain: bool = False,
) -> AlertRule:  # fmt: skip
    """A new rule. auto_retrain (opt-in): each alert it opens files a retrain request by itself (through the
    worker, services/models/alert_retrain.py), which still needs its four-eyes approval. Without a window
    or severity it gets the admin's defaults (setting alerts.defaults)."""
    require(actor, Role.analyst, "create alert rules")
    if window is None or severity is None:
        defaults = rule_defaults(engine)
        window, severity = window or defaults["window"], severity or defaults["severity"]
    name = (name or "").strip()
    if not name:
        raise InvalidInput("An alert rule needs a name.")
    if not mon.is_known_metric(metric):
        raise InvalidInput(f"Unknown metric {metric!r}.")
    comparison = comparison or default_comparison(metric)
    if comparison not in comparisons(metric):
        raise InvalidInput(f"The comparison is one of {', '.join(comparisons(metric))}.")
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise InvalidInput("The threshold is a number.") from None
    if not math.isfinite(threshold):
        raise InvalidInput("The threshold is a finite number.")
    window_days(window)
    if severity not in SEVERITIES:
        raise InvalidInput(f"The severity is one of {', '.join(SEVERITIES)}.")
    cohort = _check_cohort(cohort)
    with write_session(engine) as session:
        known = session.exec(select(ModelVersion.id).where(ModelVersion.model_name == model_name)).first()
        if known is None:
            raise NotFound(f"No model named {model_name!r}.")
        rule = AlertRule(
            name=name[:200], model_name=model_name, metric=metric, cohort=cohort, comparison=comparison,
            threshold=threshold, window=window, severity=severity, auto_retrain=bool(auto_retrain),
            created_by=actor.label,
        )  # fmt: skip
        session.add(rule)
        session.flush()
        audit.record(session, actor, "alert_rule.create", "alert_rule", rule.id, _rule_payload(rule))
        return rule


def _rule_payload(rule: AlertRule) -> dict[str, Any]:
    return {
        "name": rule.name, "model": rule.model_name, "metric": rule.metric, "comparison": rule.comparison,
        "threshold": rule.threshold, "window": rule.window, "cohort": rule.cohort, "severity": rule.severity,
        "enabled": rule.enabled, "auto_retrain": rule.auto_retrain,
    }  # fmt: skip


def _change_rule(engine: Engine, actor: Actor, rule_id: int, field: str, value: Any, action: str) -> AlertRule:
    """Set one field of a rule (no event when it already holds the value), audited as `action` with the
    new and the previous value. Rules are never deleted: their alerts keep pointing at them."""
    require(actor, Role.analyst, "change alert rules")
    with write_session(engine) as session:
        rule = session.get(AlertRule, rule_id)
        if rule is None:
            raise NotFound(f"No alert rule {rule_id}.")
        previous = getattr(rule, field)
        if previous == value:
            return rule
        setattr(rule, field, value)
        rule.updated_by, rule.updated_at = actor.label, utcnow()
        session.add(rule)
        audit.record(session, actor, action, "alert_rule", rule.id,
                     {"name": rule.name, field: value, f"previous_{field}": previous})  # fmt: skip
        return rule


def set_rule_auto_retrain(engine: Engine, actor: Actor, rule_id: int, auto_retrain: bool) -> AlertRule:
    """Opt a rule in or out of filing a retrain request by itself when it opens an alert."""
    return _change_rule(engine, actor, rule_id, "auto_retrain", bool(auto_retrain), "alert_rule.update")


def set_rule_enabled(engine: Engine, actor: Actor, rule_id: int, enabled: bool) -> AlertRule:
    """Pause or resume a rule."""
    action = "alert_rule.enable" if enabled else "alert_rule.disable"
    return _change_rule(engine, actor, rule_id, "enabled", bool(enabled), action)


def update_rule_threshold(engine: Engine, actor: Actor, rule_id: int, threshold: float) -> AlertRule:
    require(actor, Role.analyst, "change alert rules")
    if not math.isfinite(float(threshold)):
        raise InvalidInput("The threshold is a finite number.")
    return _change_rule(engine, actor, rule_id, "threshold", float(threshold), "alert_rule.update")


def list_rules(engine: Engine, model_name: str | None = None) -> list[AlertRule]:
    with read_session(engine) as session:
        query = select(AlertRule).order_by(AlertRule.model_name, AlertRule.id)
        if model_name:
            query = query.where(AlertRule.model_name == model_name)
        return list(session.exec(query).all())


# --- evaluation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One rule on one version: what was computed and whether it breached (for the page and tests)."""

    rule_id: int
    model_version_id: int
    window: mon.Window | None
    value: float | None
    n: int
    breached: bool
    skipped: str = ""  # why no value was computed
    detail: dict | None = None


def _rule_window(rule: AlertRule, info: mon.VersionInfo) -> mon.Window | None:
    days = window_days(rule.window)
    realized = not (
        rule.metric.startswith(mon.DRIFT_PREFIX)
        or rule.metric == mon.DRIFT_SHARE
        or rule.metric.startswith(mon.ESTIMATED_PREFIX)
    )
    end = info.last_labelled_day if realized else info.last_day
    if end is None or info.first_day is None:
        return None
    return mon.Window(max(info.first_day, end - timedelta(days=days - 1)), end)


def check_rule(engine: Engine, rule: AlertRule, info: mon.VersionInfo) -> Check:
    """Compute a rule's number on one version (reads only; cached like the Monitoring page)."""
    window = _rule_window(rule, info)
    if window is None:
        return Check(rule.id, info.id, None, None, 0, False, "no data in the window")  # type: ignore[arg-type]
    reference = None
    if rule.metric.startswith((mon.DRIFT_PREFIX, mon.ESTIMATED_PREFIX)) or rule.metric == mon.DRIFT_SHARE:
        reference = mon.default_windows(info)[0]
        if window.start <= reference.end:
            return Check(rule.id, info.id, window, None, 0, False, "the window overlaps the reference window")  # type: ignore[arg-type]
    try:
        mv = metrics.metric_value(engine, info.id, rule.metric, window, reference, rule.cohort)
    except LoopdeckError as exc:
        return Check(rule.id, info.id, window, None, 0, False, str(exc))  # type: ignore[arg-type]
    if mv.n < MIN_ROWS or not math.isfinite(mv.value):
        return Check(rule.id, info.id, window, mv.value, mv.n, False, f"{mv.n} rows: too few to judge",  # type: ignore[arg-type]
                     mv.detail)  # fmt: skip
    comparison = rule.comparison
    if comparison == AUTO:
        comparison = "<" if mv.detail.get("is_p_value") else ">="
    breached = COMPARISONS[comparison](mv.value, rule.threshold)
    detail = {**mv.detail, "comparison": comparison}
    if reference is not None:
        detail["reference"] = reference.as_dict()
    return Check(rule.id, info.id, window, mv.value, mv.n, bool(breached), "", detail)  # type: ignore[arg-type]


def _ts(day: date, end: bool = False) -> datetime:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def evaluate_rules(
    engine: Engine, actor: Actor, model_name: str | None = None, progress: Progress | None = None,
    *, trigger: str = "on demand",
) -> list[Alert]:  # fmt: skip
    """Refresh the monitoring data, evaluate every enabled rule (of one model, or all) on every version
    of its model with data, and open an alert for each new breach. Returns the alerts opened.

    This is the on-demand evaluation (the page's button); imports call `evaluate_after_import`. The
    block refresh commits on its own (derived data); the checks read; the new alerts and their audit
    events are one transaction, whose `alert_rule.evaluate` event names the trigger."""
    require(actor, Role.analyst, "evaluate alert rules")
    refresh_monitoring(engine, (lambda f, m: progress(0.5 * f, m)) if progress else None)
    rules = [r for r in list_rules(engine, model_name) if r.enabled]
    return _evaluate(engine, actor, rules, model_name or "*", trigger, progress)


def evaluate_after_import(
    engine: Engine, actor: Actor, import_id: str, progress: Progress | None = None,
) -> list[Alert]:  # fmt: skip
    """Evaluate the rules an import may have changed: called by services.ingest after new predictions or
    outcomes are committed (a following transaction, audited with the import's id as the trigger).

    Cheap when nothing watches: with no enabled rule it reads one row and returns (the Monitoring page
    folds the new rows into its blocks on its next view). Otherwise it refreshes the blocks (an import
    of a day's data rebuilds a block or two) and evaluates every enabled rule, as `evaluate_rules` does
    (evaluating is idempotent: a breach already alerted opens nothing)."""
    require(actor, Role.analyst, "evaluate alert rules")
    with read_session(engine) as session:
        if session.exec(select(AlertRule.id).where(AlertRule.enabled == True).limit(1)).first() is None:  # noqa: E712
            return []
    return evaluate_rules(engine, actor, progress=progress, trigger=f"import {import_id}")


def _evaluate(
    engine: Engine, actor: Actor, rules: list[AlertRule], subject: str, trigger: str, progress: Progress | None,
) -> list[Alert]:  # fmt: skip
    versions = [v for v in mon.list_versions(engine) if v.has_data]
    checks: list[tuple[AlertRule, mon.VersionInfo, Check]] = []
    for i, rule in enumerate(rules):
        if progress:
            progress(0.5 + 0.45 * i / max(len(rules), 1), f"rule {rule.name}")
        for info in versions:
            if info.model_name == rule.model_name:
                checks.append((rule, info, check_rule(engine, rule, info)))
    opened: list[Alert] = []
    retrain_jobs: list[int] = []
    with write_session(engine) as session:
        if session.get_bind().dialect.name == "postgresql":  # concurrent evaluations open each alert once
            session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('loopdeck.alerts.evaluate'))"))
        for rule, info, check in checks:
            alert = _open(session, actor, rule, info, check)
            if alert is None:
                continue
            opened.append(alert)
            if rule.auto_retrain:  # the outbox: the worker files the request once this commits
                retrain_jobs.append(queue.add_job(session, ALERT_ACTOR, AUTO_RETRAIN_JOB, {"alert_id": alert.id},
                                                  label=f"Retrain request for alert #{alert.id}").id)  # fmt: skip
        if rules:  # nothing to evaluate changes nothing: no event
            audit.record(
                session, actor, "alert_rule.evaluate", "alert_rule", subject,
                {"rules": len(rules), "checks": len(checks), "breaches": sum(c.breached for *_, c in checks),
                 "opened": [a.id for a in opened], "trigger": trigger},
            )  # fmt: skip
    if retrain_jobs:
        queue.send(engine, retrain_jobs)
    if progress:
        progress(1.0, f"{len(opened)} new alert(s)")
    return opened


def _open(session: Session, actor: Actor, rule: AlertRule, info: mon.VersionInfo, check: Check) -> Alert | None:
    """Open the alert of a breach, unless this window was alerted already or the rule has an unresolved
    alert on this version; audited, and `alert.opened` published, in the caller's transaction."""
    if not check.breached or check.window is None:
        return None
    start, end = _ts(check.window.start), _ts(check.window.end, end=True)
    same = session.exec(
        select(Alert.id).where(
            Alert.rule_id == rule.id, Alert.model_version_id == info.id,
            Alert.window_start == start, Alert.window_end == end,
        )
    ).first()  # fmt: skip
    unresolved = session.exec(
        select(Alert.id).where(Alert.rule_id == rule.id, Alert.model_version_id == info.id, Alert.state != "resolved")
    ).first()
    if same is not None or unresolved is not None:
        return None
    evidence = {
        "rule": rule.name, "model": rule.model_name, "model_version": info.version,
        "model_version_id": info.id, "metric": rule.metric, "value": check.value,
        "comparison": rule.comparison, "threshold": rule.threshold, "window": check.window.as_dict(),
        "window_rule": rule.window, "rows": check.n, "cohort": rule.cohort, "severity": rule.severity,
        **(check.detail or {}),
    }  # fmt: skip
    alert = Alert(rule_id=rule.id, model_version_id=info.id, state="open", value=check.value,  # type: ignore[arg-type]
                  window_start=start, window_end=end, evidence=evidence)  # fmt: skip
    session.add(alert)
    session.flush()
    audit.record(session, actor, "alert.open", "alert", alert.id, evidence)
    events.publish(session, "alert.opened", {"alert_id": alert.id, **evidence}, f"/monitor?alert={alert.id}")
    return alert


# --- lifecycle -----------------------------------------------------------------------------------


def _alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"No alert {alert_id}.")
    return alert


def acknowledge(engine: Engine, actor: Actor, alert_id: int, comment: str) -> Alert:
    """open -> acknowledged, with a comment saying who looks into it and why."""
    require(actor, Role.analyst, "acknowledge alerts")
    comment = (comment or "").strip()
    if not comment:
        raise InvalidInput("Acknowledging an alert needs a comment (what is being done about it).")
    with write_session(engine) as session:
        alert = _alert(session, alert_id)
        if alert.state != "open":
            raise Conflict(f"Alert {alert_id} is {alert.state}; only an open alert can be acknowledged.")
        alert.state = "acknowledged"
        alert.acknowledged_by, alert.acknowledged_at, alert.ack_comment = actor.label, utcnow(), comment[:2000]
        session.add(alert)
        audit.record(session, actor, "alert.acknowledge", "alert", alert.id, {"comment": alert.ack_comment})
        return alert


def resolve(engine: Engine, actor: Actor, alert_id: int, comment: str = "") -> Alert:
    """open or acknowledged -> resolved."""
    require(actor, Role.analyst, "resolve alerts")
    with write_session(engine) as session:
        alert = _alert(session, alert_id)
        if alert.state == "resolved":
            raise Conflict(f"Alert {alert_id} is resolved already.")
        previous = alert.state
        alert.state = "resolved"
        alert.resolved_by, alert.resolved_at = actor.label, utcnow()
        alert.resolve_comment = (comment or "").strip()[:2000] or None
        session.add(alert)
        audit.record(session, actor, "alert.resolve", "alert", alert.id,
                     {"comment": alert.resolve_comment, "from": previous})  # fmt: skip
        events.publish(
            session, "alert.resolved", {"alert_id": alert.id, "by": actor.label}, f"/monitor?alert={alert.id}"
        )
        return alert


def to_backlog(
    engine: Engine, actor: Actor, alert_id: int, title: str | None = None, kind: str = "model_improvement",
    description: str = "",
) -> BacklogItem:  # fmt: skip
    """File the alert as a backlog item carrying its evidence (one item per alert)."""
    require(actor, Role.analyst, "create backlog items")
    with write_session(engine) as session:
        alert = _alert(session, alert_id)
        if alert.backlog_item_id is not None:
            raise Conflict(f"Alert {alert_id} is backlog item {alert.backlog_item_id} already.")
        rule = session.get(AlertRule, alert.rule_id)
        evidence = dict(alert.evidence or {})
        default_title = f"{rule.name if rule else 'Alert'}: {evidence.get('metric')} = {_num(alert.value)} " \
                        f"({evidence.get('model')} v{evidence.get('model_version')})"  # fmt: skip
        item = backlog.add_in_session(
            session, actor, kind=kind, title=(title or default_title), description=description,
            source_type="alert", source_id=str(alert.id), evidence={"alert_id": alert.id, **evidence},
        )  # fmt: skip
        alert.backlog_item_id = item.id
        session.add(alert)
        audit.record(session, actor, "alert.to_backlog", "alert", alert.id, {"backlog_item_id": item.id})
        return item


# The admin setting for new rules' defaults lives with the rules (settings.set_value checks the role and
# audits the change): registered here so that services/core/settings needs no import of this module.
settings.SPECS.setdefault(
    DEFAULTS_KEY,
    settings.SettingSpec(DEFAULTS_KEY, {"severity": "warning", "window": "7d"},
                         "A new alert rule's severity and window unless it says otherwise.", _clean_defaults),
)  # fmt: skip
