"""Guard-rails of a running experiment: when a readout shows a sample-ratio mismatch or a guardrail
metric significantly worse than control, raise the alert on the record and propose to stop the
experiment (an approval request of kind stop-experiment, decided by an approver other than the
requester, executed by services.experiments.stop_experiment).

`raise_alerts` is idempotent, so the Read view calls it on every reading by an analyst and an import
or a script may call it too:

- the alert is an audit event `experiment.alert` (subject the experiment) with the alerts' messages
  and their signature (kind:metric:variant); an alert whose signature was already raised for this
  experiment is not raised again;
- a stop is proposed when a new alert is raised and no stop request is open (pending or approved);
  the request carries the readout as evidence and the alert signature in its payload. A request an
  approver rejected is not filed again for the same alerts; a new alert files a new one.

services.alerts holds model alert rules (drift, performance) and has no public way to open an alert
about an experiment; experiment alerts live here, on the experiment's audit trail and in the
approvals queue, until it does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import select

from services import approvals, audit, experiments
from services import experiment_readout as er
from services.db import write_session
from services.errors import Conflict
from services.roles import Actor, Role, require
from services.schema import ApprovalRequest, AuditEvent

ALERT_ACTION = "experiment.alert"


@dataclass(frozen=True)
class GuardResult:
    alerts: tuple[er.Alert, ...]  # what the readout shows now
    raised: tuple[str, ...]  # signatures raised by this call (empty: nothing new)
    request: ApprovalRequest | None  # the stop request filed now, or the one already open
    proposed: bool  # True when this call filed the stop request
    message: str


def signature(alert: er.Alert) -> str:
    return f"{alert.kind}:{alert.metric or ''}:{alert.variant or ''}"


def _raised_before(session, experiment_id: int) -> set[str]:
    rows = session.exec(
        select(AuditEvent.payload).where(
            AuditEvent.action == ALERT_ACTION,
            AuditEvent.subject_type == "experiment",
            AuditEvent.subject_id == str(experiment_id),
        )
    ).all()
    out: set[str] = set()
    for payload in rows:
        out.update(json.loads(payload).get("signatures", ()))
    return out


def _open_request(requests: list[ApprovalRequest]) -> ApprovalRequest | None:
    return next((r for r in requests if r.status in approvals.OPEN_STATUSES), None)


def raise_alerts(engine: Engine, actor: Actor, readout: er.Readout, reading: str = "frequentist") -> GuardResult:
    """Raise the readout's new alerts (audited) and propose to stop a running experiment. Needs the
    analyst role (it files an approval request in the actor's name)."""
    require(actor, Role.analyst, "raise experiment alerts and propose stops")
    alerts = tuple(a for a in readout.alerts if a.propose_stop)
    exp = readout.experiment
    if not alerts:
        return GuardResult(readout.alerts, (), None, False, "No alert: sample ratio and guardrails are fine.")
    with write_session(engine) as session:
        row = experiments._find(session, exp.id, lock=True)  # one guard at a time per experiment
        if row.status != "running":
            return GuardResult(alerts, (), None, False, f"{row.key} is {row.status}: nothing to stop.")
        before = _raised_before(session, row.id)
        new = [a for a in alerts if signature(a) not in before]
        if new:
            audit.record(
                session, actor, ALERT_ACTION, "experiment", row.id,
                {"key": row.key, "signatures": [signature(a) for a in new], "messages": [a.message for a in new],
                 "read_at": readout.as_of.isoformat(), "reading": reading},
            )  # fmt: skip
    raised = tuple(signature(a) for a in new)
    requests = experiments.stop_requests(engine, exp.key)
    current = _open_request(requests)
    if current is not None:
        return GuardResult(alerts, raised, current, False,
                           f"Stop request #{current.id} is already {current.status}.")  # fmt: skip
    proposed_for = {s for r in requests for s in (r.payload or {}).get("alerts", ())}
    if not new and all(signature(a) in proposed_for for a in alerts):
        done = "A stop was already proposed for these alerts and decided; nothing new to propose."
        return GuardResult(alerts, raised, None, False, done)
    comment = "Raised automatically by the experiment's guard-rails: " + " ".join(a.message for a in alerts)
    try:
        request = approvals.request_change(
            engine, actor, experiments.STOP_KIND, exp.key, comment[:2000],
            payload={"experiment": exp.key, "action": "stop", "automatic": True,
                     "alerts": [signature(a) for a in alerts]},
            evidence=er.evidence(readout, reading),
        )  # fmt: skip
    except Conflict:  # another reader filed it a moment ago
        current = _open_request(experiments.stop_requests(engine, exp.key))
        return GuardResult(alerts, raised, current, False, "A stop request was filed a moment ago.")
    message = f"Alert raised; stop request #{request.id} proposed: an approver other than you decides."
    return GuardResult(alerts, raised, request, True, message)


def alert_history(engine: Engine, ref: str | int) -> list[dict]:
    """The experiment's raised alerts, newest first: ts, actor, signatures, messages."""
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
                    "messages": payload.get("messages", [])})  # fmt: skip
    return out
