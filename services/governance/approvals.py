"""Approval requests with the four-eyes rule.

A change with consequences (promote, canary, rollback, retrain from an alert, stop an experiment)
is requested with a comment and an evidence snapshot. Approvers other than the requester approve
or reject. A kind needs N approvals (admin setting; default 1, 2 for promotions to full traffic).
Each request keeps a fingerprint of its subject; when the subject changes after the request, the
approvals so far are reset and the approvers must look again.

What a kind is (its subject, fingerprint and payload check) comes from the feature that registered it
(services/governance/kinds.py); executing an approved request is services/governance/executor.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, or_, select

from services.core import audit, settings
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, SelfApprovalError
from services.core.roles import Actor, Role, allowed, require
from services.core.schema_accounts import User
from services.core.schema_governance import ApprovalDecision, ApprovalRequest
from services.core.timeutil import to_utc, utcnow
from services.governance import kinds
from services.notify import events

# the registered kinds (name -> RequestKind), live: features register theirs (services/governance/kinds.py)
KINDS = kinds.REGISTRY
OPEN_STATUSES = ("pending", "approved")
# the status of a request while the executor carries it out, inside its one transaction: never committed
# (the same transaction marks it executed). Feature code that accepts a request checks it (`authorising`).
EXECUTING = "executing"


def fingerprint(session: Session, row: ApprovalRequest) -> str:
    """The current fingerprint of a request's subject, as its kind computes it."""
    return kinds.get(row.kind).fingerprint(session, row.subject_id)


def required_approvals(engine: Engine, kind: str) -> int:
    return int(settings.get(engine, "approvals.required").get(kind, 1))


def expiry_cutoff(engine: Engine) -> datetime:
    """Open requests made at or before this moment have expired (admin setting approvals.expiry_days)."""
    return utcnow() - timedelta(days=int(settings.get(engine, "approvals.expiry_days")))


def is_expired(row: ApprovalRequest, cutoff: datetime) -> bool:
    return row.status in OPEN_STATUSES and to_utc(row.requested_at) <= cutoff


def refuse_expired(row: ApprovalRequest, cutoff: datetime) -> None:
    if is_expired(row, cutoff):
        days = (utcnow() - cutoff).days
        raise Conflict(
            f"Request #{row.id} expired: it was made on {to_utc(row.requested_at):%Y-%m-%d} and requests stay open "
            f"{days} days. Request the change again."
        )


def _shown(rows: list[ApprovalRequest], cutoff: datetime) -> list[ApprovalRequest]:
    """Read rows as lists show them: an open request past its expiry reads `expired` (not stored)."""
    for row in rows:
        if is_expired(row, cutoff):
            row.status = "expired"
    return rows


def counting_approvals(session: Session, request_id: int) -> int:
    """Valid approvals that still count: not by an account disabled or demoted below approver since
    (an approver without an account, the shell or a token, counts as it was). One query."""
    query = (
        select(func.count())
        .select_from(ApprovalDecision)
        .outerjoin(User, User.email == ApprovalDecision.actor)
        .where(
            ApprovalDecision.request_id == request_id,
            ApprovalDecision.valid,
            ApprovalDecision.verdict == "approve",
            or_(User.id.is_(None), User.disabled.is_(False) & User.role.in_((Role.approver.name, Role.admin.name))),
        )
    )
    return int(session.exec(query).one())


@dataclass(frozen=True)
class RequestView:
    request: ApprovalRequest
    decisions: list[ApprovalDecision]
    approvals: int  # valid approvals so far
    required: int


def request_change(
    engine: Engine,
    actor: Actor,
    kind: str,
    subject_id: str | int,
    comment: str,
    payload: dict[str, Any] | None = None,
    evidence: dict[str, Any] | None = None,
) -> ApprovalRequest:
    require(actor, Role.analyst, "request approvals")
    spec = kinds.get(kind)
    comment = (comment or "").strip()
    if not comment:
        raise InvalidInput("Say why: a request needs a comment.")
    subject_type, subject_id = spec.subject_type, str(subject_id)
    payload = dict(payload or {})
    required, cutoff = required_approvals(engine, kind), expiry_cutoff(engine)
    with write_session(engine) as session:
        if spec.validate is not None:
            payload = spec.validate(session, payload)
        subject_fingerprint = spec.fingerprint(session, subject_id)
        duplicate = session.exec(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.kind == kind,
                ApprovalRequest.subject_id == subject_id,
                ApprovalRequest.status.in_(OPEN_STATUSES),
            )
            .order_by(ApprovalRequest.id.desc())
        ).first()
        if duplicate and not is_expired(duplicate, cutoff):
            raise Conflict(f"Request #{duplicate.id} for the same change is still {duplicate.status}.")
        row = ApprovalRequest(
            kind=kind, subject_type=subject_type, subject_id=subject_id, payload=payload or {},
            evidence=evidence or {}, subject_fingerprint=subject_fingerprint, required_approvals=required,
            comment=comment[:2000], requested_by=actor.label,
        )  # fmt: skip
        session.add(row)
        session.flush()
        audit.record(
            session, actor, "approval.request", "approval_request", row.id,
            {"kind": kind, "subject": f"{subject_type}:{subject_id}", "comment": row.comment,
             "required_approvals": required, "payload": row.payload},
        )  # fmt: skip
        addressed = approver_ids(session, actor.label)
        events.publish(session, "approval.requested",
                       {"request_id": row.id, "kind": kind, "subject": f"{subject_type}:{subject_id}",
                        "requested_by": actor.label, "approvals_needed": required},
                       f"/approval-requests?request={row.id}", recipients=addressed)  # fmt: skip
        return row


def approver_ids(session: Session, requested_by: str) -> list[int]:
    """Whom a new request is addressed to (their personal e-mail, services/notify/personal.py): every
    enabled account that may decide it (approver and up), except the requester (four eyes)."""
    query = select(User.id).where(User.disabled.is_(False), User.role.in_((Role.approver.name, Role.admin.name)),
                                  User.email != requested_by)  # fmt: skip
    return list(session.exec(query))


def account_ids(session: Session, labels: list[str]) -> list[int]:
    """The accounts behind these actor labels (a token or the system has none)."""
    return list(session.exec(select(User.id).where(User.email.in_(labels)))) if labels else []


def locked(session: Session, request_id: int) -> ApprovalRequest:
    row = session.exec(select(ApprovalRequest).where(ApprovalRequest.id == request_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"No approval request #{request_id}.")
    return row


def authorising(session: Session, request_id: int, kinds_: tuple[str, ...], action: str) -> ApprovalRequest:
    """The request that authorises `action` in this transaction, or a refusal: it must be of one of
    `kinds_` and being executed by the governance executor right now (an approved request is carried out
    only by the executor, once; an executed one is consumed). The caller checks that its change is
    exactly the one the request describes."""
    row = session.get(ApprovalRequest, request_id)
    if row is None:
        raise NotFound(f"No approval request #{request_id}.")
    if row.kind not in kinds_ or row.status not in (*OPEN_STATUSES, EXECUTING, "executed"):
        raise Conflict(f"Request #{row.id} ({row.kind}, {row.status}) does not authorise you to {action}.")
    if row.status == "executed":
        raise Conflict(f"Request #{row.id} was already executed: an approval authorises its change once.")
    if row.status == "pending":
        raise Conflict(f"Request #{row.id} ({row.kind}, pending) does not authorise you to {action}.")
    return row


def require_executing(row: ApprovalRequest) -> None:
    """Refuse unless the governance executor is carrying the request out in this transaction."""
    if row.status != EXECUTING:
        raise PermissionDenied(
            f"Request #{row.id} is {row.status}: only the governance executor carries out an approved request "
            "(execute it from the Approvals page or `python -m services approvals execute`), and only once."
        )


def valid_decisions(session: Session, request_id: int) -> list[ApprovalDecision]:
    return list(
        session.exec(
            select(ApprovalDecision).where(ApprovalDecision.request_id == request_id, ApprovalDecision.valid)
        ).all()
    )


def reset_if_changed(session: Session, actor: Actor | str, row: ApprovalRequest) -> bool:
    current = fingerprint(session, row)
    if current == row.subject_fingerprint:
        return False
    invalidated = 0
    for decision in valid_decisions(session, row.id):
        decision.valid = False
        session.add(decision)
        invalidated += 1
    row.subject_fingerprint, row.status = current, "pending"
    session.add(row)
    audit.record(
        session, actor, "approval.reset", "approval_request", row.id,
        {"reason": "the subject changed after the request", "invalidated_decisions": invalidated},
    )  # fmt: skip
    return True


def refresh(engine: Engine, request_id: int) -> bool:
    """Reset the request's approvals when its subject changed. True when it did."""
    with write_session(engine) as session:
        row = locked(session, request_id)
        if row.status not in OPEN_STATUSES:
            return False
        return reset_if_changed(session, "system", row)


def decide(engine: Engine, actor: Actor, request_id: int, verdict: str, comment: str = "") -> RequestView:
    """Approve or reject. Never one's own request; once per approver; on the subject as it is now."""
    require(actor, Role.approver, "approve or reject requests")
    if verdict not in ("approve", "reject"):
        raise InvalidInput("The verdict is approve or reject.")
    if refresh(engine, request_id):
        raise Conflict(
            f"The subject of request #{request_id} changed after it was requested, so its approvals were reset. "
            "Review the current state and decide again."
        )
    cutoff = expiry_cutoff(engine)
    with write_session(engine) as session:
        row = locked(session, request_id)
        if row.requested_by == actor.label:
            raise SelfApprovalError("Four-eyes rule: you cannot approve or reject your own request.")
        if row.status != "pending":
            raise Conflict(f"Request #{row.id} is {row.status}; only pending requests take decisions.")
        refuse_expired(row, cutoff)
        if reset_if_changed(session, actor, row):
            raise Conflict(f"The subject of request #{row.id} changed just now; review it again.")
        decisions = valid_decisions(session, row.id)
        if any(d.actor == actor.label for d in decisions):
            raise Conflict(f"You already decided on request #{row.id}.")
        if verdict == "reject" and not (comment or "").strip():
            raise InvalidInput("Say why: a rejection needs a comment.")
        decision = ApprovalDecision(
            request_id=row.id, actor=actor.label, verdict=verdict, comment=(comment or "")[:2000]
        )
        session.add(decision)
        decisions.append(decision)
        session.flush()
        approvals = counting_approvals(session, row.id)
        if verdict == "reject":
            row.status = "rejected"
        elif approvals >= row.required_approvals:
            row.status = "approved"
        session.add(row)
        audit.record(
            session, actor, f"approval.{verdict}", "approval_request", row.id,
            {"comment": decision.comment, "approvals": approvals, "required": row.required_approvals,
             "status": row.status},
        )  # fmt: skip
        events.publish(session, "approval.decided",
                       {"request_id": row.id, "kind": row.kind, "verdict": verdict, "by": actor.label,
                        "status": row.status}, f"/approval-requests?request={row.id}",
                       recipients=account_ids(session, [row.requested_by]))  # fmt: skip
        session.flush()
        return RequestView(row, decisions, approvals, row.required_approvals)


def cancel(engine: Engine, actor: Actor, request_id: int, comment: str = "") -> ApprovalRequest:
    """The requester (or an admin) withdraws an open request."""
    require(actor, Role.analyst, "cancel requests")
    with write_session(engine) as session:
        row = locked(session, request_id)
        if row.requested_by != actor.label and not allowed(actor, Role.admin):
            raise SelfApprovalError("Only the requester or an admin can cancel a request.")
        if row.status not in OPEN_STATUSES:
            raise Conflict(f"Request #{row.id} is already {row.status}.")
        row.status = "cancelled"
        session.add(row)
        audit.record(session, actor, "approval.cancel", "approval_request", row.id, {"comment": comment})
        return row


def get_request(engine: Engine, request_id: int) -> RequestView:
    cutoff = expiry_cutoff(engine)
    with read_session(engine) as session:
        row = session.get(ApprovalRequest, request_id)
        if row is None:
            raise NotFound(f"No approval request #{request_id}.")
        decisions = list(
            session.exec(
                select(ApprovalDecision).where(ApprovalDecision.request_id == request_id).order_by(ApprovalDecision.id)
            ).all()
        )
        approvals = counting_approvals(session, request_id)
    _shown([row], cutoff)
    return RequestView(row, decisions, approvals, row.required_approvals)


def list_requests(engine: Engine, status: str | None = None, awaiting: Actor | None = None) -> list[ApprovalRequest]:
    """All requests, newest first; `awaiting` keeps the pending ones this approver may still decide. An open
    request past its expiry reads (and filters as) `expired`."""
    cutoff = expiry_cutoff(engine)
    with read_session(engine) as session:
        query = select(ApprovalRequest).order_by(ApprovalRequest.id.desc())
        if status:
            stored = OPEN_STATUSES if status in (*OPEN_STATUSES, "expired") else (status,)
            query = query.where(ApprovalRequest.status.in_(stored))
        rows = _shown(list(session.exec(query).all()), cutoff)
        if status:
            rows = [r for r in rows if r.status == status]
        if awaiting is None:
            return rows
        decided = set(
            session.exec(
                select(ApprovalDecision.request_id).where(
                    ApprovalDecision.actor == awaiting.label, ApprovalDecision.valid
                )
            ).all()
        )
    return [
        r for r in rows if r.status == "pending" and r.requested_by != awaiting.label and r.id not in decided
    ]  # fmt: skip


def count_awaiting(engine: Engine, actor: Actor) -> int:
    """How many pending requests this user may still decide (0 below the approver role): the inbox badge."""
    if not actor.can(Role.approver):
        return 0
    decided = select(ApprovalDecision.id).where(
        ApprovalDecision.request_id == ApprovalRequest.id, ApprovalDecision.actor == actor.label, ApprovalDecision.valid
    )
    query = (
        select(func.count())
        .select_from(ApprovalRequest)
        .where(
            ApprovalRequest.status == "pending",
            ApprovalRequest.requested_by != actor.label,
            ApprovalRequest.requested_at > expiry_cutoff(engine),
            ~decided.exists(),
        )
    )  # one count, without reading the evidence snapshots: it runs on every page view (the sidebar badge)
    with read_session(engine) as session:
        return int(session.exec(query).one())
