"""The request kind of experiments: stop-experiment, registered with governance
(services/governance/kinds.py) when this module is imported; services/kinds.py imports it at every
entry point.

The governance executor runs it like every kind: the approver role (from the Approvals page, the
Experiments page and the shell alike), the request locked and then the experiment, the approvals
re-checked, then in the same transaction the experiment stopped (`experiment.stop`), the request
marked executed (who, when, result) and its `approval.execute` event.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from services.core import audit
from services.core.errors import Conflict, NotFound
from services.core.roles import Actor, Role
from services.core.schema_experiments import Experiment
from services.core.schema_governance import ApprovalRequest
from services.core.timeutil import utcnow
from services.experiments.lifecycle import STOP_KIND, find_in, snapshot
from services.governance import kinds
from services.governance.kinds import Preview, RequestKind


def fingerprint_experiment(session: Session, subject_id: str) -> str:
    row = session.exec(select(Experiment).where(Experiment.key == subject_id)).first()
    if row is None:
        raise NotFound(f"No experiment with key {subject_id}.")
    return kinds.digest([row.variants, row.primary_metric, row.guardrail_metrics, row.status, row.planned_sample_size])


def _lock_experiment(session: Session, request: ApprovalRequest) -> None:
    find_in(session, request.subject_id, lock=True)


def _preview(session: Session, request: ApprovalRequest) -> Preview:
    row = session.exec(select(Experiment).where(Experiment.key == request.subject_id)).first()
    steps = (
        f"Experiment {request.subject_id} stops: running -> stopped, from now.",
        f"Request #{request.id} is marked executed; the experiment, the request and their audit events are "
        "written in one transaction.",
    )
    if row is None:
        return Preview((), False, f"No experiment with key {request.subject_id}.", kinds.simple_digest(request))
    if row.status != "running":
        blocker = f"Experiment {row.key} is {row.status}: only a running experiment can be stopped."
        return Preview(steps, False, blocker, kinds.simple_digest(request))
    return Preview(steps, True, "", kinds.simple_digest(request))


def _stop(session: Session, request: ApprovalRequest, actor: Actor, prepared: Any) -> dict[str, Any]:
    row = find_in(session, request.subject_id, lock=True)
    if row.status != "running":
        raise Conflict(f"Experiment {row.key} is {row.status}: only a running experiment can be stopped.")
    row.status, row.end_at = "stopped", utcnow()
    session.add(row)
    payload = {**snapshot(row), "from": "running", "request_id": request.id, "comment": request.comment}
    audit.record(session, actor, "experiment.stop", "experiment", row.id, payload)
    step = f"Experiment {row.key} stopped: running -> stopped at {row.end_at:%Y-%m-%d %H:%M} UTC."
    return {"steps": [step], "experiment": row.key, "status": row.status, "end_at": row.end_at.isoformat()}


STOP = RequestKind(
    name=STOP_KIND, subject_type="experiment", fingerprint=fingerprint_experiment, preview=_preview, plan=_stop,
    execute_role=Role.approver, lock_subject=_lock_experiment,
)  # fmt: skip

kinds.register(STOP)
