"""Deployments: the history of what served when, written one model at a time.

Deployments are never edited away: a deployment that stops serving gets `ended_at`. Starting a full
deployment ends the model's current full deployment (and this version's canary/shadow); starting a
canary or shadow ends the same version's earlier one at that stage (a new traffic share is a new row).
The governance executor runs the approved promote, canary and rollback requests through the
in-session functions (`deploy_in_session`, `end_in_session`) so that a deployment, the approval it
executes and their audit events commit together (services/models/requests.py); after such a commit
the request kind rewrites the routing file, and `record_deployment` / `end_deployment` rewrite it
themselves (services/models/routing.py): every change of what serves does.

Four-eyes holds here too: an approver changes what serves only by executing an approved request
(the executor passes the request it has locked and is carrying out), and only with exactly the change
the request's plan describes (version, stage, share, or the deployment it ends); a direct call with an
approved request is refused, and an executed request is consumed. A deployment without a request
(`record_deployment`, `end_deployment`, or the in-session functions without `approval_request_id`)
is an admin's or the system's (the demo loader, an import of history), never a lone approver's.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core import audit
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_governance import ApprovalRequest
from services.core.schema_models import Deployment, ModelVersion
from services.core.timeutil import to_utc, utcnow
from services.governance import approvals
from services.models import plans, routing
from services.models.serving import lock_model, open_deployments_in
from services.notify import events

STAGES = ("shadow", "canary", "full")


def _check_share(stage: str, traffic_share: float) -> float:
    if stage not in STAGES:
        raise InvalidInput(f"Unknown stage {stage!r}; expected one of: {', '.join(STAGES)}.")
    try:
        share = float(traffic_share)
    except (TypeError, ValueError):
        raise InvalidInput("traffic_share must be a number between 0 and 1.") from None
    if not math.isfinite(share) or not 0.0 <= share <= 1.0:
        raise InvalidInput("traffic_share must be between 0 and 1.")
    if stage == "shadow" and share != 0.0:
        raise InvalidInput("A shadow deployment serves no traffic: its share is 0.")
    if stage != "shadow" and share <= 0.0:
        raise InvalidInput(f"A {stage} deployment needs a traffic share above 0.")
    return share


def _check_authority(
    session: Session,
    actor: Actor,
    approval_request_id: int | None,
    action: str,
    kinds: tuple[str, ...],
    version: ModelVersion,
    change: dict[str, Any],
) -> None:
    """An approver acts on what serves only while the governance executor carries out an approved
    request of a matching kind about this model, and only with exactly the change the request's plan
    describes (`change`: {model_version_id, stage, traffic_share} or {end_deployment_id}); without a
    request, only an admin (or the system)."""
    require(actor, Role.approver, action)
    if approval_request_id is None:
        require(actor, Role.admin, f"{action} without an approved request (request the change instead)")
        return
    request = approvals.authorising(session, approval_request_id, kinds, action)
    subject = str(version.id) if request.subject_type == "model_version" else version.model_name
    if request.subject_id != subject:
        raise Conflict(
            f"Request #{request.id} is about {request.subject_type} {request.subject_id}, "
            f"not {version.model_name} v{version.version}."
        )
    _check_change(session, request, change)
    approvals.require_executing(request)


def _describe(change: dict[str, Any]) -> str:
    if "end_deployment_id" in change:
        return f"ending deployment #{change['end_deployment_id']}"
    return f"a {change['stage']} deployment of version id {change['model_version_id']} at {change['traffic_share']:.4g}"


def _check_change(session: Session, request: ApprovalRequest, change: dict[str, Any]) -> None:
    """Refuse any change but the one the request's plan describes, as it is now."""
    p = plans.plan_in(session, request)
    if "end_deployment_id" in change:
        allowed = p.deploy is None and change["end_deployment_id"] in p.end_deployment_ids
        described = [{"end_deployment_id": i} for i in p.end_deployment_ids] if p.deploy is None else []
    else:
        allowed = (
            p.deploy is not None
            and all(p.deploy[k] == change[k] for k in ("model_version_id", "stage"))
            and math.isclose(float(p.deploy["traffic_share"]), change["traffic_share"], abs_tol=1e-9)
        )
        described = [p.deploy] if p.deploy is not None else []
    if not allowed:
        what = " and ".join(_describe(c) for c in described) or f"nothing now ({p.blocker or 'no change'})"
        raise Conflict(
            f"Request #{request.id} ({request.kind}) authorises {what}, not {_describe(change)}: "
            "an approval authorises exactly the change it describes."
        )


def _replaced_by(open_rows: list[Deployment], row: ModelVersion, stage: str) -> list[Deployment]:
    """The open deployments a new `stage` deployment of `row` ends."""
    if stage == "full":
        return [d for d in open_rows if d.stage == "full" or d.model_version_id == row.id]
    if any(d.model_version_id == row.id and d.stage == "full" for d in open_rows):
        raise InvalidInput(f"{row.model_name} v{row.version} already serves full traffic.")
    return [d for d in open_rows if d.model_version_id == row.id and d.stage in (stage, "shadow", "canary")]


def _update_statuses(
    session: Session, versions: dict[int, ModelVersion], open_rows: list[Deployment], to_end: list[Deployment],
    row: ModelVersion, stage: str,
) -> dict[int, tuple[str, str]]:  # fmt: skip
    """Champion, challenger or archived after the change; version -> (before, after) of each change."""
    ended_ids = {d.id for d in to_end}
    still_open = {d.model_version_id for d in open_rows if d.id not in ended_ids}
    status_changes: dict[int, tuple[str, str]] = {}

    def set_status(version: ModelVersion, status: str) -> None:
        if version.status != status:
            status_changes[version.version] = (version.status, status)
            version.status = status
            session.add(version)

    if stage == "full":
        for d in to_end:
            old = versions[d.model_version_id]
            if old.id != row.id and d.stage == "full":
                set_status(old, "challenger" if old.id in still_open else "archived")
        set_status(row, "champion")
    elif row.status != "champion":
        set_status(row, "challenger")
    return status_changes


def deploy_in_session(
    session: Session,
    actor: Actor,
    model_version_id: int,
    stage: str,
    traffic_share: float,
    started_at: datetime | None = None,
    reason: str = "",
    approval_request_id: int | None = None,
) -> Deployment:
    """record_deployment inside the caller's transaction (the caller commits; see record_deployment).

    Locks the model's versions first, then writes; the audit event goes last so that the audit
    chain's lock is always taken after the model's (one lock order for every writer).
    With `approval_request_id`, the request must be an approved promote, canary or rollback request;
    without one, the actor must be an admin (see the module docstring)."""
    require(actor, Role.approver, "deploy model versions")
    share = _check_share(stage, traffic_share)
    when = to_utc(started_at) if started_at else utcnow()
    row = session.get(ModelVersion, model_version_id)
    if row is None:
        raise NotFound(f"No model version with id {model_version_id}.")
    change = {"model_version_id": row.id, "stage": stage, "traffic_share": share}
    _check_authority(
        session, actor, approval_request_id, "deploy model versions", ("promote", "canary", "rollback"), row, change
    )
    versions = {v.id: v for v in lock_model(session, row.model_name)}
    row = versions[row.id]
    open_rows = open_deployments_in(session, list(versions))
    to_end = _replaced_by(open_rows, row, stage)
    for d in to_end:
        if to_utc(d.started_at) > when:
            raise InvalidInput(
                f"Deployment {d.id} started at {to_utc(d.started_at):%Y-%m-%d %H:%M} UTC, after "
                f"{when:%Y-%m-%d %H:%M} UTC: a deployment cannot end before it started."
            )
        d.ended_at, d.ended_by = when, actor.label
        d.end_reason = f"replaced by a {stage} deployment of v{row.version}"
        session.add(d)
    deployment = Deployment(
        model_version_id=row.id,
        stage=stage,
        traffic_share=share,
        started_at=when,
        started_by=actor.label,
        reason=(reason or "")[:2000],
        approval_request_id=approval_request_id,
    )
    session.add(deployment)
    status_changes = _update_statuses(session, versions, open_rows, to_end, row, stage)
    session.flush()
    audit.record(
        session,
        actor,
        "model.deploy",
        "deployment",
        deployment.id,
        {
            "model_name": row.model_name,
            "version": row.version,
            "model_version_id": row.id,
            "stage": stage,
            "traffic_share": share,
            "started_at": when.isoformat(),
            "reason": deployment.reason,
            "ended_deployments": [d.id for d in to_end],
            "status_changes": {str(k): list(v) for k, v in status_changes.items()},
            "approval_request_id": approval_request_id,
        },
    )
    changed = {"model": row.model_name, "version": row.version, "stage": stage, "traffic_share": share,
               "deployment_id": deployment.id, "by": actor.label}  # fmt: skip
    events.publish(session, "deployment.changed", changed, "/model-registry")
    return deployment


def record_deployment(
    engine: Engine,
    actor: Actor,
    model_version_id: int,
    stage: str,
    traffic_share: float,
    started_at: datetime | None = None,
    reason: str = "",
) -> Deployment:
    """Start serving a version at `stage` with `traffic_share` (0..1) from `started_at` (default now).

    full: ends the model's open full deployment and this version's open canary/shadow; the version
    becomes champion, the replaced one archived (or challenger while it still serves a canary).
    canary/shadow: ends this version's open canary or shadow (a new traffic share is a new row); a
    candidate or archived version becomes challenger. A version that serves full cannot also be a
    canary or shadow.

    No approval request is involved, so this is for admins and the system (the demo loader, importing
    a deployment history): approvers deploy by executing an approved request (services/governance/executor.py).
    """
    require(actor, Role.admin, "deploy model versions without an approved request (request the change instead)")
    _check_share(stage, traffic_share)
    with write_session(engine) as session:
        deployment = deploy_in_session(session, actor, model_version_id, stage, traffic_share, started_at, reason)
        model_name = session.get(ModelVersion, model_version_id).model_name
    routing.write_routing_file(engine, model_name)
    return deployment


def end_in_session(
    session: Session,
    actor: Actor,
    deployment_id: int,
    ended_at: datetime | None = None,
    reason: str = "",
    approval_request_id: int | None = None,
) -> Deployment:
    """end_deployment inside the caller's transaction. Ending a full deployment is refused: a model
    always keeps a champion (replace it with deploy_in_session instead). Needs an approved rollback
    request (`approval_request_id`) or an admin, like deploy_in_session."""
    require(actor, Role.approver, "end deployments")
    when = to_utc(ended_at) if ended_at else utcnow()
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"No deployment with id {deployment_id}.")
    version = session.get(ModelVersion, deployment.model_version_id)
    change = {"end_deployment_id": deployment.id}
    _check_authority(session, actor, approval_request_id, "end deployments", ("rollback",), version, change)
    versions = {v.id: v for v in lock_model(session, version.model_name)}
    version = versions[version.id]
    session.refresh(deployment)
    if deployment.ended_at is not None:
        raise Conflict(f"Deployment {deployment_id} already ended.")
    if deployment.stage == "full":
        raise InvalidInput(
            "A full deployment is never just ended (the model would have no champion): promote or roll back instead."
        )
    if to_utc(deployment.started_at) > when:
        raise InvalidInput("A deployment cannot end before it started.")
    deployment.ended_at, deployment.ended_by, deployment.end_reason = when, actor.label, (reason or "")[:2000]
    session.add(deployment)
    session.flush()
    status_change = None
    still_serving = [d for d in open_deployments_in(session, [version.id]) if d.id != deployment.id]
    if not still_serving and version.status == "challenger":
        status_change = [version.status, "archived"]
        version.status = "archived"
        session.add(version)
    audit.record(
        session,
        actor,
        "model.undeploy",
        "deployment",
        deployment.id,
        {
            "model_name": version.model_name,
            "version": version.version,
            "stage": deployment.stage,
            "ended_at": when.isoformat(),
            "reason": reason,
            "status_change": status_change,
            "approval_request_id": approval_request_id,
        },
    )
    ended = {"model": version.model_name, "version": version.version, "stage": deployment.stage, "ended": True,
             "deployment_id": deployment.id, "by": actor.label}  # fmt: skip
    events.publish(session, "deployment.changed", ended, "/model-registry")
    return deployment


def end_deployment(
    engine: Engine, actor: Actor, deployment_id: int, ended_at: datetime | None = None, reason: str = ""
) -> Deployment:
    """Stop one open canary or shadow deployment without starting another. Admins and the system only:
    approvers end a canary by executing an approved rollback request (services/governance/executor.py)."""
    require(actor, Role.admin, "end deployments without an approved request (request a rollback instead)")
    with write_session(engine) as session:
        deployment = end_in_session(session, actor, deployment_id, ended_at, reason)
        model_name = session.get(ModelVersion, deployment.model_version_id).model_name
    routing.write_routing_file(engine, model_name)
    return deployment
