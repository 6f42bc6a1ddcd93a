"""Guard-rails of a running experiment: when a readout shows a sample-ratio mismatch or a guardrail
metric significantly worse than control, open an alert and propose to stop the experiment (an
approval request of kind stop-experiment, decided by an approver other than the requester, executed
by the governance executor, services/governance/executor.py).

The alerts are real alerts: rows of the alert table that services.monitoring.alerts lists, acknowledges and
resolves (the Monitoring page's alert list, the Overview's open-alert counts). Each belongs to the one
rule "Experiment guard-rails" (created here on first use, disabled: the monitoring evaluation never
evaluates it, its model name matches no model) and carries its experiment and its signature
(kind:metric:variant); the value is the p-value that breached (SRM: the chi-square test's, below
0.001; guardrail: the comparison's, below alpha, fixed-horizon or sequential as the stopping rule).

When the guard runs:
- after every import of exposures or metric observations, on the running experiments the file
  touched (services.ingest calls `evaluate_after_import`);
- from the shell: `python -m services experiments guard` (services/cli/experiments.py);
- when an analyst opens the Read view (`raise_alerts` on the readout shown).

It is idempotent: an alert opens once per experiment and signature (a unique constraint backs it up),
and besides `alert.open` the experiment's trail gets an `experiment.alert` event listing what opened.
A stop is proposed when a new alert opens and no stop request is open (pending or approved); the
request carries the readout as evidence and the alert signatures in its payload. A request an approver
rejected is not filed again for the same alerts; a new alert files a new one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import Conflict
from services.core.roles import Actor, Role, require
from services.core.schema_experiments import Experiment
from services.core.schema_governance import ApprovalRequest
from services.core.schema_monitoring import Alert, AlertRule
from services.experiments import lifecycle as experiments
from services.experiments import readout as er
from services.experiments import readout_service
from services.governance import approvals
from services.notify import events

ALERT_ACTION = "experiment.alert"
RULE_NAME = "Experiment guard-rails"
RULE_MODEL = "(experiments)"  # no model has this name: the monitoring evaluation never checks the rule
RULE_METRIC = "experiment_guardrail"
SEVERITY = "critical"
SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class GuardResult:
    alerts: tuple[er.Alert, ...]  # what the readout shows now
    raised: tuple[str, ...]  # signatures raised by this call (empty: nothing new)
    request: ApprovalRequest | None  # the stop request filed now, or the one already open
    proposed: bool  # True when this call filed the stop request
    message: str
    opened: tuple[int, ...] = ()  # ids of the alerts this call opened
    experiment: str = ""


def signature(alert: er.Alert) -> str:
    return f"{alert.kind}:{alert.metric or ''}:{alert.variant or ''}"


def _rule_id(session: Session, actor: Actor) -> int:
    """The rule experiment alerts belong to, created (disabled) on first use."""
    if session.get_bind().dialect.name == "postgresql":  # two first guards create it once
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('loopdeck.experiment_guard.rule'))"))
    found = session.exec(
        select(AlertRule.id).where(AlertRule.name == RULE_NAME, AlertRule.model_name == RULE_MODEL)
    ).first()
    if found is not None:
        return int(found)
    rule = AlertRule(
        name=RULE_NAME, model_name=RULE_MODEL, metric=RULE_METRIC, comparison="<", threshold=SRM_THRESHOLD,
        window="1d", severity=SEVERITY, enabled=False, created_by=actor.label,
    )  # fmt: skip
    session.add(rule)
    session.flush()
    audit.record(session, actor, "alert_rule.create", "alert_rule", rule.id,
                 {"name": rule.name, "model": rule.model_name, "metric": rule.metric, "severity": rule.severity,
                  "enabled": False, "note": "experiment guard-rail alerts (SRM, guardrail metrics)"})  # fmt: skip
    return int(rule.id)


def _raised_before(session: Session, experiment_id: int) -> set[str]:
    rows = session.exec(select(Alert.signature).where(Alert.experiment_id == experiment_id)).all()
    return {s for s in rows if s}


def _open_request(requests: list[ApprovalRequest]) -> ApprovalRequest | None:
    return next((r for r in requests if r.status in approvals.OPEN_STATUSES), None)


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _evidence(readout: er.Readout, alert: er.Alert, reading: str) -> tuple[float | None, dict]:
    """The alert's value (the p-value that breached) and evidence."""
    exp = readout.experiment
    base = {
        "experiment": exp.key, "experiment_id": exp.id, "model": f"experiment {exp.key}", "kind": alert.kind,
        "signature": signature(alert), "summary": f"{exp.key}: {alert.message}", "message": alert.message,
        "severity": SEVERITY, "read_at": readout.as_of.isoformat(), "reading": reading,
        "units": {r.variant: int(r.units) for r in readout.arms.itertuples()},
    }  # fmt: skip
    if alert.kind == "srm":
        p = next((h.value for h in readout.health if h.name == "srm"), None)
        return _finite(p), {**base, "metric": "sample ratio (chi-square p)", "value": _finite(p),
                            "comparison": "<", "threshold": SRM_THRESHOLD}  # fmt: skip
    sequential = exp.stopping_rule == "sequential"
    rows = readout.overall[(readout.overall["metric"] == alert.metric) & (readout.overall["variant"] == alert.variant)]
    row = rows.iloc[0] if len(rows) else None
    p = None if row is None else _finite(row["seq_p_value" if sequential else "p_value"])
    detail = {} if row is None else {
        "rel_lift": _finite(row["rel_lift"]), "ci_low": _finite(row["seq_ci_low" if sequential else "rel_ci_low"]),
        "ci_high": _finite(row["seq_ci_high" if sequential else "rel_ci_high"]), "direction": row["direction"],
    }  # fmt: skip
    return p, {**base, "metric": f"guardrail {alert.metric} ({alert.variant})", "value": p, "comparison": "<",
               "threshold": float(exp.alpha or 0.05), "test": "sequential" if sequential else "fixed horizon",
               **detail}  # fmt: skip


def raise_alerts(engine: Engine, actor: Actor, readout: er.Readout, reading: str = "frequentist") -> GuardResult:
    """Open the readout's new alerts (audited) and propose to stop a running experiment. Needs the
    analyst role (it files an approval request in the actor's name)."""
    require(actor, Role.analyst, "raise experiment alerts and propose stops")
    alerts = tuple(a for a in readout.alerts if a.propose_stop)
    exp = readout.experiment
    if not alerts:
        return GuardResult(readout.alerts, (), None, False, "No alert: sample ratio and guardrails are fine.",
                           experiment=exp.key)  # fmt: skip
    opened: list[int] = []
    with write_session(engine) as session:
        row = experiments.find_in(session, exp.id, lock=True)  # one guard at a time per experiment
        if row.status != "running":
            return GuardResult(alerts, (), None, False, f"{row.key} is {row.status}: nothing to stop.",
                               experiment=exp.key)  # fmt: skip
        before = _raised_before(session, row.id)
        new = [a for a in alerts if signature(a) not in before]
        if new:
            rule_id = _rule_id(session, actor)
            for a in new:
                value, evidence = _evidence(readout, a, reading)
                alert = Alert(rule_id=rule_id, experiment_id=row.id, signature=signature(a)[:500], state="open",
                              value=value, evidence=evidence)  # fmt: skip
                session.add(alert)
                session.flush()
                audit.record(session, actor, "alert.open", "alert", alert.id, evidence)
                kind = "experiment.srm" if a.kind == "srm" else "experiment.guardrail"
                events.publish(session, kind, {"alert_id": alert.id, "experiment": row.key, "message": a.message},
                               f"/ab-tests?experiment={row.key}")  # fmt: skip
                opened.append(int(alert.id))
            audit.record(
                session, actor, ALERT_ACTION, "experiment", row.id,
                {"key": row.key, "signatures": [signature(a) for a in new], "messages": [a.message for a in new],
                 "alert_ids": opened, "read_at": readout.as_of.isoformat(), "reading": reading},
            )  # fmt: skip
    raised = tuple(signature(a) for a in new)
    opened_ids = tuple(opened)
    requests = experiments.stop_requests(engine, exp.key)
    current = _open_request(requests)
    if current is not None:
        return GuardResult(alerts, raised, current, False, f"Stop request #{current.id} is already {current.status}.",
                           opened_ids, exp.key)  # fmt: skip
    proposed_for = {s for r in requests for s in (r.payload or {}).get("alerts", ())}
    if not new and all(signature(a) in proposed_for for a in alerts):
        done = "A stop was already proposed for these alerts and decided; nothing new to propose."
        return GuardResult(alerts, raised, None, False, done, opened_ids, exp.key)
    comment = "Raised automatically by the experiment's guard-rails: " + " ".join(a.message for a in alerts)
    try:
        request = approvals.request_change(
            engine, actor, experiments.STOP_KIND, exp.key, comment[:2000],
            payload={"experiment": exp.key, "action": "stop", "automatic": True,
                     "alerts": [signature(a) for a in alerts], "alert_ids": list(opened_ids)},
            evidence=readout_service.evidence(readout, reading),
        )  # fmt: skip
    except Conflict:  # another reader filed it a moment ago
        current = _open_request(experiments.stop_requests(engine, exp.key))
        return GuardResult(alerts, raised, current, False, "A stop request was filed a moment ago.", opened_ids,
                           exp.key)  # fmt: skip
    ids = ", ".join(f"#{i}" for i in opened_ids)
    message = (f"Alert{'s' if len(opened_ids) > 1 else ''} {ids} opened; " if opened_ids else "Alert raised; ") + (
        f"stop request #{request.id} proposed: an approver other than you decides."
    )
    return GuardResult(alerts, raised, request, True, message, opened_ids, exp.key)


def evaluate(engine: Engine, actor: Actor, ref: str | int, reading: str = "frequentist") -> GuardResult:
    """Read one experiment (default options) and raise its alerts; nothing to do unless it is running."""
    require(actor, Role.analyst, "evaluate experiment guard-rails")
    exp = experiments.find_experiment(engine, ref)
    if exp.status != "running":
        return GuardResult((), (), None, False, f"{exp.key} is {exp.status}: not guarded.", experiment=exp.key)
    return raise_alerts(engine, actor, readout_service.read_experiment(engine, exp.id), reading)


def evaluate_running(engine: Engine, actor: Actor, refs: Iterable[str | int] | None = None) -> list[GuardResult]:
    """The guard on every running experiment (or on those of `refs` that are running)."""
    require(actor, Role.analyst, "evaluate experiment guard-rails")
    with read_session(engine) as session:
        query = select(Experiment.id).where(Experiment.status == "running").order_by(Experiment.id)
        running = [int(i) for i in session.exec(query).all()]
    if refs is not None:
        wanted = {experiments.find_experiment(engine, r).id for r in refs}
        running = [i for i in running if i in wanted]
    return [evaluate(engine, actor, i) for i in running]


def evaluate_after_import(engine: Engine, actor: Actor, experiment_ids: Iterable[int]) -> list[GuardResult]:
    """Called by services.ingest once new exposures or metric observations are committed: the guard on
    the running experiments among those the file touched (one lookup when none is running)."""
    ids = sorted({int(i) for i in experiment_ids})
    if not ids:
        return []
    return evaluate_running(engine, actor, ids)


def alert_history(engine: Engine, ref: str | int) -> list[dict]:
    """The experiment's raised alerts, newest first: ts, actor, signatures, messages, alert ids."""
    exp = experiments.find_experiment(engine, ref)
    events = audit.list_events(
        engine, audit.AuditFilter(action=ALERT_ACTION, subject_type="experiment", subject_id=str(exp.id)), limit=200
    )
    if events is None or len(events) == 0:
        return []
    out = []
    for r in events.itertuples():
        payload = json.loads(r.payload) if isinstance(r.payload, str) else dict(r.payload)
        out.append({"ts": r.ts, "actor": r.actor, "signatures": payload.get("signatures", []),
                    "messages": payload.get("messages", []), "alert_ids": payload.get("alert_ids", [])})  # fmt: skip
    return out


def experiment_alerts(engine: Engine, ref: str | int) -> list[Alert]:
    """The experiment's alerts (the alert table), newest first."""
    exp = experiments.find_experiment(engine, ref)
    with read_session(engine) as session:
        return list(session.exec(select(Alert).where(Alert.experiment_id == exp.id).order_by(Alert.id.desc())).all())
