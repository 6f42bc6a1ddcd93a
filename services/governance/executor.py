"""The one executor of approved requests: the only code that turns an approval into a change.

For every kind, `execute` applies one role rule (the kind's execute_role, the same from every page and
the shell), persists a reset when the subject changed since the approval, and then, in ONE transaction:
locks the request row (SELECT ... FOR UPDATE on Postgres; on SQLite every write transaction takes the
database lock with BEGIN IMMEDIATE) and then the kind's subject; re-checks that the request is approved,
that its subject is what the approvers judged and that its valid approvals still reach the required
number; re-plans and refuses when the plan differs from the one the user confirmed; runs the kind's
plan (the change and its own audit events); marks the request executed (who, when, result) and writes
the `approval.execute` audit event. Two approvers racing get one execution and one refusal.

A kind with slow work (a training run) does it in `prepare`, before the transaction; only its result
is written inside it, and `discard` undoes the work's side effects (an artifact file) on a refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import Conflict, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_governance import ApprovalRequest
from services.core.timeutil import utcnow
from services.governance import approvals, kinds
from services.governance.kinds import Preview, Progress, RequestKind
from services.notify import events


@dataclass(frozen=True)
class Execution:
    request: ApprovalRequest
    preview: Preview
    result: dict[str, Any]
    prepared: Any = None  # what the kind's prepare step produced (e.g. the fitted candidate)
    after: Any = None  # what the kind's after_commit returned (e.g. the routing file written)

    def summary(self) -> str:
        spec = kinds.get(self.request.kind)
        if spec.summarize is not None:
            return spec.summarize(self.result, self.prepared)
        what = self.preview.steps[0] if self.preview.steps else "done"
        return f"Request #{self.request.id} executed: {what}"


def _read(engine: Engine, request_id: int) -> ApprovalRequest:
    with read_session(engine) as session:
        row = session.get(ApprovalRequest, request_id)
    if row is None:
        raise NotFound(f"No approval request #{request_id}.")
    return row


def _preview_in(session: Session, row: ApprovalRequest) -> Preview:
    return replace(kinds.get(row.kind).preview(session, row), kind=row.kind)


def preview(engine: Engine, request_id: int) -> Preview:
    """What executing the request would do now (read only)."""
    with read_session(engine) as session:
        row = session.get(ApprovalRequest, request_id)
        if row is None:
            raise NotFound(f"No approval request #{request_id}.")
        return _preview_in(session, row)


def execute_role(kind: str) -> Role:
    """The role that executing a request of this kind needs (pages show the button to it only)."""
    return kinds.get(kind).execute_role


def _check_status(row: ApprovalRequest) -> None:
    if row.status == "executed":
        when = f" at {row.executed_at:%Y-%m-%d %H:%M} UTC" if row.executed_at else ""
        raise Conflict(f"Request #{row.id} was already executed by {row.executed_by}{when}.")
    if row.status != "approved":
        raise Conflict(f"Request #{row.id} is {row.status}; only approved requests can be executed.")


def _precheck(row: ApprovalRequest) -> None:
    """Refuse before minutes of preparation what the lock would refuse anyway (checked again under it)."""
    _check_status(row)


def _lock_approved(session: Session, request_id: int, spec: RequestKind, cutoff: datetime) -> ApprovalRequest:
    """Lock the request, then its subject; refuse unless it is approved, not expired, unchanged and still
    approved by enough valid approvals (of approvers whose accounts are still enabled and approvers)."""
    row = approvals.locked(session, request_id)
    _check_status(row)
    approvals.refuse_expired(row, cutoff)
    if spec.lock_subject is not None:
        spec.lock_subject(session, row)
    if spec.fingerprint(session, row.subject_id) != row.subject_fingerprint:
        raise Conflict(
            f"The subject of request #{row.id} changed after it was approved: its approvals are reset. "
            "The approvers need to look again."
        )
    valid = approvals.counting_approvals(session, row.id)
    if valid < row.required_approvals:
        raise Conflict(
            f"Request #{row.id} has {valid} of {row.required_approvals} approvals "
            "(approvals by accounts disabled or demoted below approver since do not count)."
        )
    return row


def _mark_executed(session: Session, actor: Actor, row: ApprovalRequest, result: dict[str, Any]) -> None:
    row.status, row.executed_at, row.executed_by = "executed", utcnow(), actor.label
    row.result = json.loads(audit.canonical_json(result or {}))
    session.add(row)
    audit.record(
        session, actor, "approval.execute", "approval_request", row.id,
        {"kind": row.kind, "subject": f"{row.subject_type}:{row.subject_id}", "result": row.result},
    )  # fmt: skip
    payload = {"request_id": row.id, "kind": row.kind, "subject": f"{row.subject_type}:{row.subject_id}",
               "executed_by": actor.label, "result": row.result}  # fmt: skip
    events.publish(session, "request.executed", payload, f"/approval-requests?request={row.id}")
    if row.kind == "rollback":
        events.publish(session, "deployment.rollback", payload, f"/approval-requests?request={row.id}")


def execute(
    engine: Engine,
    actor: Actor,
    request_id: int,
    expected_digest: str | None = None,
    progress: Progress | None = None,
) -> Execution:
    """Execute an approved request of any kind (see the module docstring).

    expected_digest: the Preview.digest the user confirmed; when the state changed since, nothing
    happens (Conflict) and the confirmation shows the new preview."""
    current = _read(engine, request_id)
    spec = kinds.get(current.kind)
    require(actor, spec.execute_role, f"execute approved {spec.name} requests")
    if approvals.refresh(engine, request_id):
        raise Conflict(
            f"The subject of request #{request_id} changed after it was approved, so its approvals were reset. "
            "The approvers need to look again."
        )
    prepared, cutoff = None, approvals.expiry_cutoff(engine)
    if spec.prepare is not None:
        _precheck(current)
        approvals.refuse_expired(current, cutoff)
        prepared = spec.prepare(engine, actor, current, progress)
    try:
        with write_session(engine) as session:
            row = _lock_approved(session, request_id, spec, cutoff)
            seen = _preview_in(session, row)
            if expected_digest is not None and seen.digest != expected_digest:
                raise Conflict("What this request would do changed since you confirmed it: review the new plan.")
            if not seen.executable:
                raise Conflict(f"Request #{row.id} cannot be executed now: {seen.blocker}")
            row.status = approvals.EXECUTING  # what feature code checks (approvals.require_executing)
            session.add(row)
            session.flush()
            result = spec.plan(session, row, actor, prepared)
            _mark_executed(session, actor, row, result)
    except BaseException:
        if spec.discard is not None and prepared is not None:
            spec.discard(prepared)
        raise
    after = spec.after_commit(engine, row.result) if spec.after_commit is not None else None
    return Execution(row, seen, row.result, prepared, after)
