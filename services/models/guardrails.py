"""Guard rails of canaries and shadows: each stage's condition (the one its request set, payload
"guardrail", see services.models.plans.guardrail_condition; else accuracy with DEFAULT_MAX_DROP)
compared with the champion over the same period. `check_guardrails` (the Models page's button,
`python -m services guardrails` on a schedule) raises a critical alert on a breached stage's version
and proposes a rollback of that stage (an approval request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.roles import Actor, Role, require
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import Deployment, ModelVersion, ShadowScore
from services.core.schema_monitoring import Alert
from services.core.timeutil import to_utc, utcnow
from services.governance import approvals
from services.models import requests
from services.models.plans import DEFAULT_MAX_DROP, GUARDRAIL_METRICS
from services.models.serving import aliases
from services.monitoring import alerts

GUARDRAIL_RULE_PREFIX = "Guard rail (rollout): "


@dataclass(frozen=True)
class GuardrailCheck:
    deployment_id: int
    version: int
    stage: str
    metric: str
    challenger: float | None
    champion: float | None
    rows: tuple[int, int]  # labelled rows behind each number
    max_drop: float
    breached: bool
    enough_data: bool
    request_id: int | None  # the rollback request proposed on a breach
    alert_id: int | None = None  # the alert raised on a breach
    source: str = "default"  # where the condition comes from: "stage" (its request) or "default"

    def message(self) -> str:
        if not self.enough_data:
            return f"v{self.version} ({self.stage}): not enough labelled rows yet ({self.rows[0]:,}/{self.rows[1]:,})."
        if self.challenger is None or self.champion is None:
            return f"v{self.version} ({self.stage}): {self.metric} is undefined (one class only) on these rows."
        verdict = "BREACHED" if self.breached else "ok"
        extra = ""
        if self.breached:
            extra = (f" Alert #{self.alert_id} raised" if self.alert_id else "") + (
                f"; rollback proposed as request #{self.request_id}." if self.request_id else ""
            )
        return (
            f"v{self.version} ({self.stage}): {self.metric} {self.challenger:.3f} vs champion {self.champion:.3f} "
            f"(may be at most {self.max_drop:g} worse): {verdict}.{extra}"
        )


def stage_guardrail(engine: Engine, d: Deployment, default_drop: float = DEFAULT_MAX_DROP) -> tuple[str, float, str]:
    """(metric, tolerance, "stage" or "default"): the guard rail a canary or shadow is checked against."""
    return _stage_condition(engine, d, default_drop)


def _stage_condition(engine: Engine, d: Deployment, default_drop: float) -> tuple[str, float, str]:
    """The guard rail of a stage: the one its approval request set, else accuracy with the default."""
    if d.approval_request_id is not None:
        payload = approvals.get_request(engine, d.approval_request_id).request.payload or {}
        rail = payload.get("guardrail")
        if isinstance(rail, dict) and rail.get("max_drop") is not None:
            metric = str(rail.get("metric") or "accuracy")
            return (metric if metric in GUARDRAIL_METRICS else "accuracy"), float(rail["max_drop"]), "stage"
    return "accuracy", float(default_drop), "default"


def _metric(metric: str, rows: list) -> float | None:
    """rows: (predicted label, actual label, score). None without rows (or one class only, for AUC)."""
    if not rows:
        return None
    predicted, actual, score = (np.asarray(c, dtype=np.float64) for c in zip(*rows, strict=True))
    if metric == "accuracy":
        return float(np.mean(predicted == actual))
    if np.unique(actual).size < 2:
        return None
    return float(roc_auc_score(actual, score))


def guardrail_rule_name(model_name: str, metric: str) -> str:
    return f"{GUARDRAIL_RULE_PREFIX}{model_name} {metric}"


def guardrail_rule_id(engine: Engine, actor: Actor, model_name: str, metric: str = "accuracy") -> int:
    """The alert rule that a model's guard-rail alerts on `metric` belong to, created once through
    services.monitoring.alerts.

    It is disabled and its condition (metric < 0) can never hold, so the monitoring evaluation never
    opens an alert on it: only a guard-rail breach does (check_guardrails)."""
    name = guardrail_rule_name(model_name, metric)
    for rule in alerts.list_rules(engine, model_name):
        if rule.name == name:
            return int(rule.id)
    rule = alerts.create_rule(engine, actor, name=name, model_name=model_name, metric=metric, threshold=0.0,
                              comparison="<", window="7d", severity="critical")  # fmt: skip
    alerts.set_rule_enabled(engine, actor, rule.id, False)
    return int(rule.id)


def _raise_alert(
    session: Session, actor: Actor, rule_id: int, version: ModelVersion, value: float, since: datetime,
    now: datetime, evidence: dict[str, Any],
) -> int:  # fmt: skip
    """Open the guard-rail alert of a version (or return the one still unresolved), audited as alerts are.

    services.monitoring.alerts has no public function that opens an alert without evaluating a monitoring rule,
    so the row is written here, in the shape services.monitoring.alerts reads (its lifecycle functions,
    acknowledge and resolve, and the Monitoring page's alert list work on it unchanged)."""
    existing = session.exec(
        select(Alert.id).where(
            Alert.rule_id == rule_id, Alert.model_version_id == version.id, Alert.state != "resolved"
        )
    ).first()
    if existing is not None:
        return int(existing)
    alert = Alert(rule_id=rule_id, model_version_id=version.id, state="open", value=value, window_start=since,
                  window_end=now, evidence=evidence)  # fmt: skip
    session.add(alert)
    session.flush()
    audit.record(session, actor, "alert.open", "alert", alert.id, evidence)
    return int(alert.id)


def _labelled(engine: Engine, champion_id: int, version: ModelVersion, d: Deployment) -> tuple[list, list]:
    """(challenger rows, champion rows) of (predicted, actual, score) since the stage started."""
    since = to_utc(d.started_at)
    with read_session(engine) as session:
        p, o = Prediction.__table__.c, Outcome.__table__.c
        base = (
            select(p.predicted_label, o.actual_label, p.score)
            .join(Outcome, o.request_id == p.request_id)
            .where(p.ts >= since)
        )
        champ = session.exec(base.where(p.model_version_id == champion_id)).all()
        if d.stage == "shadow":
            s = ShadowScore.__table__.c
            chall = session.exec(
                select(s.predicted_label, o.actual_label, s.score)
                .join(Outcome, o.request_id == s.request_id)
                .where(s.deployment_id == d.id)
            ).all()
        else:
            chall = session.exec(base.where(p.model_version_id == version.id)).all()
    return list(chall), list(champ)


def _on_breach(
    engine: Engine, actor: Actor, model_name: str, version: ModelVersion, d: Deployment, metric: str,
    values: list[float], rows: list[int], drop: float, source: str,
) -> tuple[int, int]:  # fmt: skip
    """Propose the rollback of the stage (unless one is open) and raise its alert: (request id, alert id)."""
    now, since = utcnow(), to_utc(d.started_at)
    evidence = {"kind": "guardrail", "metric": metric, "challenger": values[0], "champion": values[1],
                "rows": rows, "max_drop": drop, "condition_from": source,
                "deployment_id": d.id, "stage": d.stage, "since": since.isoformat()}  # fmt: skip
    open_ = [r for r in approvals.list_requests(engine) if r.kind == "rollback" and r.subject_id == model_name
             and r.status in approvals.OPEN_STATUSES]  # fmt: skip
    if open_:
        request_id = open_[0].id
    else:
        request_id = requests.request_rollback(
            engine, actor, model_name,
            f"Guard rail breached: v{version.version} ({d.stage}) {metric} {values[0]:.3f} vs champion "
            f"{values[1]:.3f}, more than {drop:g} worse. Proposed automatically.",
            end_deployment_id=d.id, evidence=evidence,
        ).id  # fmt: skip
    rule_id = guardrail_rule_id(engine, actor, model_name, metric)
    alert_evidence = {
        **evidence, "rule": guardrail_rule_name(model_name, metric), "model": model_name,
        "model_version": version.version, "model_version_id": version.id, "value": values[0],
        "comparison": "<", "threshold": round(values[1] - drop, 6), "cohort": None,
        "window": {"start": since.date().isoformat(), "end": now.date().isoformat()},
        "rollback_request_id": request_id,
    }  # fmt: skip
    with write_session(engine) as session:
        alert_id = _raise_alert(session, actor, rule_id, version, values[0], since, now, alert_evidence)
        audit.record(session, actor, "rollout.guardrail_breach", "deployment", d.id,
                     {"model_name": model_name, "version": version.version, "metric": metric,
                      "challenger": values[0], "champion": values[1], "max_drop": drop,
                      "rollback_request_id": request_id, "alert_id": alert_id})  # fmt: skip
    return request_id, alert_id


def check_guardrails(
    engine: Engine, actor: Actor, model_name: str, max_drop: float = DEFAULT_MAX_DROP, min_rows: int = 200,
    propose: bool = True,
) -> list[GuardrailCheck]:  # fmt: skip
    """The guard-rail metric (accuracy or ROC AUC) of each open canary (on the requests it served) or
    shadow (on its recorded scores) against the champion's over the same period. Each stage's condition
    is the one its request set (payload "guardrail", see guardrail_condition), else accuracy and
    `max_drop`. A breach raises an alert (critical, on the stage's version) and proposes a rollback of
    that stage (an approval request by the checker, with the numbers as evidence) unless one is open
    already; the breach, the alert and their audit events are written together."""
    require(actor, Role.analyst, "check guard rails")
    a = aliases(engine, model_name)
    if a.champion is None:
        return []
    out = []
    for version, d in a.challengers:
        metric, drop, source = _stage_condition(engine, d, max_drop)
        chall, champ = _labelled(engine, a.champion.id, version, d)
        acc = [_metric(metric, rows) for rows in (chall, champ)]
        enough = len(chall) >= min_rows and len(champ) >= min_rows
        breached = bool(enough and acc[0] is not None and acc[1] is not None and acc[0] < acc[1] - drop)
        request_id = alert_id = None
        if breached and propose:
            request_id, alert_id = _on_breach(
                engine, actor, model_name, version, d, metric, acc, [len(chall), len(champ)], drop, source
            )
        out.append(GuardrailCheck(d.id, version.version, d.stage, metric, acc[0], acc[1],
                                  (len(chall), len(champ)), drop, breached, enough, request_id, alert_id,
                                  source))  # fmt: skip
    return out
