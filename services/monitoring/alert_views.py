"""Reading alerts: an alert with its rule (AlertView), newest first; re-exported by services.monitoring.alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core.db import read_session
from services.core.errors import InvalidInput, NotFound
from services.core.schema_monitoring import Alert, AlertRule
from services.monitoring import views as mon

STATES = ("open", "acknowledged", "resolved")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertView:
    alert: Alert
    rule: AlertRule

    @property
    def window(self) -> mon.Window | None:
        w = (self.alert.evidence or {}).get("window")
        return mon.Window(date.fromisoformat(w["start"]), date.fromisoformat(w["end"])) if w else None

    @property
    def comparison(self) -> str:
        """The comparison that breached (a rule's "auto" resolved to the test's direction)."""
        return (self.alert.evidence or {}).get("comparison", self.rule.comparison)

    @property
    def summary(self) -> str:
        e = self.alert.evidence or {}
        if self.alert.experiment_id is not None:  # an experiment's guard-rail alert (services.experiments.guard)
            return str(e.get("summary") or e.get("message") or "")
        where = f" for {cohort_label(e.get('cohort'))}" if e.get("cohort") else ""
        threshold = e.get("threshold", self.rule.threshold)
        return (
            f"{self.rule.metric} = {_num(self.alert.value)} {self.comparison} {_num(threshold)}"
            f"{where} on {e.get('model')} v{e.get('model_version')}, {self.window.label if self.window else ''}"
        )


def cohort_label(cohort: dict[str, Any] | None) -> str:
    """{"platform": ["ios", "android"]} -> "platform = ios or android"."""
    if not cohort:
        return "all rows"
    return ", ".join(f"{k} = {v if isinstance(v, str) else ' or '.join(map(str, v))}" for k, v in cohort.items())


def list_alerts(
    engine: Engine, state: str | None = None, model_name: str | None = None, limit: int = 500,
) -> list[AlertView]:  # fmt: skip
    """Alerts newest first, with their rules; `state` one of STATES or None for all."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"The state is one of {', '.join(STATES)}.")
    with read_session(engine) as session:
        query = select(Alert, AlertRule).join(AlertRule, AlertRule.id == Alert.rule_id)  # type: ignore[arg-type]
        if state:
            query = query.where(Alert.state == state)
        if model_name:
            query = query.where(AlertRule.model_name == model_name)
        rows = session.exec(query.order_by(Alert.id.desc()).limit(limit)).all()  # type: ignore[union-attr]
    return [AlertView(a, r) for a, r in rows]


def get_alert(engine: Engine, alert_id: int) -> AlertView:
    with read_session(engine) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFound(f"No alert {alert_id}.")
        rule = session.get(AlertRule, alert.rule_id)
    return AlertView(alert, rule)  # type: ignore[arg-type]


def count_open(engine: Engine, model_name: str | None = None) -> int:
    return len(list_alerts(engine, "open", model_name))
