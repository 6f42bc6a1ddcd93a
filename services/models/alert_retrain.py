"""From an alert to a retrain request: the Alerts view's "Request retraining" and the rules that file one
by themselves (`AlertRule.auto_retrain`, opt-in).

A request made from alert #N has the trigger "alert:N" and the alert as its evidence snapshot
(services.models.retraining.request_retrain); the trigger stays on the request through approval and
execution, and on the version the run registers. It still needs its four-eyes approval.

What it asks for: a retrain of the model's champion (or, without one, the version the alert is about)
on the WINDOW_DAYS days ending where the alert's window ends (or now), with the newest feedback
training set. A model has at most one open retrain request (governance refuses a second one): asking
again returns the open request (`created` False), so the page links to it instead of failing.

A rule with auto_retrain set queues a `models.alert_retrain` job in the transaction that opens the alert
(services/monitoring/alerts.py); the worker runs `file_for_alert` as the system actor ALERT_ACTOR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core.db import read_session
from services.core.errors import Conflict, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_feedback import TrainingDataset
from services.core.schema_governance import ApprovalRequest
from services.core.schema_monitoring import Alert, AlertRule
from services.core.timeutil import to_utc, utcnow
from services.governance.approvals import OPEN_STATUSES
from services.models import registry, retraining

WINDOW_DAYS = 28


@dataclass(frozen=True)
class AlertRetrain:
    request: ApprovalRequest
    created: bool  # False: the model's open retrain request, returned instead of a duplicate

    @property
    def message(self) -> str:
        r = self.request
        if self.created:
            return f"Retrain request #{r.id} filed (trigger {r.payload.get('trigger')}); it needs its approvals."
        return (
            f"{r.subject_id} already has retrain request #{r.id} ({r.status}, trigger "
            f"{(r.payload or {}).get('trigger', 'manual')}): open it instead of filing a second one."
        )


def open_retrain_request(engine: Engine, model_name: str) -> ApprovalRequest | None:
    """The model's pending or approved retrain request, if any."""
    with read_session(engine) as session:
        return session.exec(
            select(ApprovalRequest).where(
                ApprovalRequest.kind == "retrain", ApprovalRequest.subject_id == model_name,
                ApprovalRequest.status.in_(OPEN_STATUSES),
            ).order_by(ApprovalRequest.id)
        ).first()  # fmt: skip


def _read(engine: Engine, alert_id: int) -> tuple[Alert, AlertRule, int | None]:
    with read_session(engine) as session:
        alert = session.get(Alert, alert_id)
        rule = session.get(AlertRule, alert.rule_id) if alert is not None else None
        if alert is None or rule is None or alert.experiment_id is not None:
            raise NotFound(f"No model alert {alert_id}.")
        dataset = session.exec(select(TrainingDataset.id).order_by(TrainingDataset.id.desc())).first()
    return alert, rule, dataset


def request_for_alert(engine: Engine, actor: Actor, alert_id: int, comment: str = "") -> AlertRetrain:
    """File a retrain request with alert #alert_id as its trigger and evidence (see the module doc)."""
    require(actor, Role.analyst, "request retraining")
    alert, rule, dataset_id = _read(engine, alert_id)
    existing = open_retrain_request(engine, rule.model_name)
    if existing is not None:
        return AlertRetrain(existing, False)
    champion = registry.aliases(engine, rule.model_name).champion
    base_id = champion.id if champion is not None else alert.model_version_id
    end = min(to_utc(alert.window_end), utcnow()) if alert.window_end else utcnow()
    start = end - timedelta(days=WINDOW_DAYS)
    value = "n/a" if alert.value is None else f"{alert.value:.4g}"
    why = comment.strip() or f"Alert #{alert.id} ({rule.name}): {rule.metric} = {value}"
    try:
        request = retraining.request_retrain(engine, actor, int(base_id), start, end, dataset_id,
                                             trigger=f"alert:{alert.id}", comment=why)  # fmt: skip
    except Conflict:  # filed by someone else just now: link to theirs
        existing = open_retrain_request(engine, rule.model_name)
        if existing is None:
            raise
        return AlertRetrain(existing, False)
    return AlertRetrain(request, True)


def file_for_alert(engine: Engine, actor: Actor, alert_id: int) -> AlertRetrain | None:
    """The worker's step for a rule with auto_retrain: file the request (None when the rule no longer
    asks for it, e.g. it was switched off since the alert opened)."""
    _, rule, _ = _read(engine, alert_id)
    if not rule.auto_retrain:
        return None
    return request_for_alert(engine, actor, alert_id, f"Filed automatically by alert rule {rule.name!r} "
                                                     f"on alert #{alert_id}.")  # fmt: skip
