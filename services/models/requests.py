"""The request kinds of models: promote, canary (or shadow), rollback and retrain, registered with
governance (services/governance/kinds.py) when this module is imported; services/kinds.py imports it
at every entry point. Also the rollback request the Models page and the guard rails file.

Fingerprints: a version's is everything a reviewer judged (artifact and lineage, evaluation, model
card, training data snapshot, status); a model's is its serving state (which deployments are open:
a rollout in between changes it).

Execution (by the governance executor, in its transaction): promote, canary and rollback lock the
model's version rows, re-plan (services/models/plans.py), write the deployment changes
(services/models/deployments.py) and, once committed, the routing file (services/models/routing.py).
A retrain fits its candidate before the transaction (minutes of work, services/models/retraining.py)
and registers it inside, so the version and the executed request commit together; the executor
removes the artifact file again when the transaction fails.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role
from services.core.schema_governance import ApprovalRequest
from services.core.schema_models import Deployment, ModelVersion
from services.governance import approvals, kinds
from services.governance.kinds import Preview, Progress, RequestKind
from services.models import deployments, external_pipeline, plans, registry, retraining, routing
from services.models.serving import lock_model


def fingerprint_version(session: Session, subject_id: str) -> str:
    row = session.get(ModelVersion, int(subject_id))
    if row is None:
        raise NotFound(f"No model version with id {subject_id}.")
    return kinds.digest(
        {
            "artifact_sha256": row.artifact_sha256,
            "artifact_uri": row.artifact_uri,
            "metrics": row.metrics,
            "params": row.params,
            "feature_schema": row.feature_schema,
            "model_card": row.model_card,
            "training_data": row.training_data,
            "parent_id": row.parent_id,
            "trigger": row.trigger,
            "status": row.status,
        }
    )


def fingerprint_model(session: Session, subject_id: str) -> str:
    """A model's serving state: which deployments are open. A rollout in between changes it."""
    open_rows = session.exec(
        select(Deployment.id)
        .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
        .where(ModelVersion.model_name == subject_id, Deployment.ended_at.is_(None))
        .order_by(Deployment.id)
    ).all()
    return kinds.digest(list(open_rows))


# --- promote, canary, rollback ------------------------------------------------------------------------


def _validate_canary(session: Session, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("guardrail") is None:
        return payload
    rail = payload["guardrail"]
    if not isinstance(rail, dict) or set(rail) - {"metric", "max_drop"} or "max_drop" not in rail:
        raise InvalidInput("A guard rail is {'metric': 'accuracy', 'max_drop': <number>}.")
    return {**payload, "guardrail": plans.guardrail_condition(rail["max_drop"], rail.get("metric", "accuracy"))}


def _lock_model(session: Session, request: ApprovalRequest) -> None:
    model_name = plans.subject_model(session, request)
    if model_name is not None:
        lock_model(session, model_name)


def _preview_rollout(session: Session, request: ApprovalRequest) -> Preview:
    p = plans.plan_in(session, request)
    return Preview(p.steps, p.executable, p.blocker, p.digest, detail=p)


def _execute_rollout(session: Session, request: ApprovalRequest, actor: Actor, prepared: Any) -> dict[str, Any]:
    p = plans.plan_in(session, request)  # under the model's lock: the plan the executor just checked
    reason = f"Request #{request.id} ({request.kind}), approved: {request.comment}"[:2000]
    deployment = None
    if p.deploy is not None:
        deployment = deployments.deploy_in_session(
            session, actor, p.deploy["model_version_id"], p.deploy["stage"], p.deploy["traffic_share"],
            reason=reason, approval_request_id=request.id,
        )  # fmt: skip
    else:
        for deployment_id in p.end_deployment_ids:
            deployments.end_in_session(session, actor, deployment_id, reason=reason, approval_request_id=request.id)
    return {
        "steps": list(p.steps),
        "deployment_id": deployment.id if deployment else None,
        "ended_deployment_ids": list(p.end_deployment_ids),
        "model_name": p.model_name,
    }


def _write_routing(engine: Engine, result: dict[str, Any]) -> Path | None:
    """After the commit: the routing file production reads."""
    return routing.write_routing_file(engine, result["model_name"]) if result.get("model_name") else None


def _rollout_kind(name: str, subject_type: str, fingerprint: Any, **extra: Any) -> RequestKind:
    return RequestKind(
        name=name, subject_type=subject_type, fingerprint=fingerprint, preview=_preview_rollout,
        plan=_execute_rollout, execute_role=Role.approver, lock_subject=_lock_model, after_commit=_write_routing,
        **extra,
    )  # fmt: skip


# --- retrain ---------------------------------------------------------------------------------------------


def _retrain_base_label(session: Session, payload: dict[str, Any]) -> Any:
    base = payload.get("base_version", "?")
    if "base_version" not in payload and str(payload.get("base_version_id", "")).isdigit():
        row = session.get(ModelVersion, int(payload["base_version_id"]))
        base = row.version if row is not None else "?"
    return base


def _preview_retrain(session: Session, request: ApprovalRequest) -> Preview:
    payload = dict(request.payload or {})
    start, end = str(payload.get("train_from", "?"))[:10], str(payload.get("train_to", "?"))[:10]
    window = f"{start} to {end} (end excluded)"
    external = external_pipeline.target_in(session, request.subject_id)
    if external is not None:
        steps = external_pipeline.preview_steps(request, external, window)
        return Preview(steps, True, "", kinds.simple_digest(request))
    steps = (
        f"A retraining run of {request.subject_id} starts in the background from "
        f"v{_retrain_base_label(session, payload)} (its pipeline cloned: same family, preprocessing and parameters), "
        f"on {window}, "
        + (f"with feedback training set id {payload['dataset_id']}, " if payload.get("dataset_id") else "")
        + f"seed {payload.get('seed', 0)}, trigger {payload.get('trigger', 'manual')}.",
        "The new version is registered as a candidate (nothing serves it) and the request is marked executed in "
        "the same transaction. Promoting it is a separate request.",
    )
    return Preview(steps, True, "", kinds.simple_digest(request))


def _fit(
    engine: Engine, actor: Actor, request: ApprovalRequest, progress: Progress | None
) -> retraining.Candidate | external_pipeline.ExternalRun:
    """The training run of an approved retrain request (payload: base_version_id, train_from, train_to,
    dataset_id, seed, trigger), before the executor's transaction; nothing to fit when the model trains
    in an external pipeline (services/models/external_pipeline.py)."""
    external = external_pipeline.prepare(engine, request)
    if external is not None:
        return external
    payload = request.payload or {}
    try:
        base_id = int(payload["base_version_id"])
        start = datetime.fromisoformat(str(payload["train_from"]))
        end = datetime.fromisoformat(str(payload["train_to"]))
    except (KeyError, ValueError, TypeError):
        raise InvalidInput(
            f"Request #{request.id} does not say what to train (base_version_id, train_from, train_to)."
        ) from None
    return retraining.fit_candidate(
        engine, actor, base_id, start, end, payload.get("dataset_id"), seed=int(payload.get("seed", 0)),
        trigger=str(payload.get("trigger") or "manual"), progress=progress, approval_request_id=request.id,
        comment=request.comment,
    )  # fmt: skip


def _register(session: Session, request: ApprovalRequest, actor: Actor, c: Any) -> dict[str, Any]:
    if isinstance(c, external_pipeline.ExternalRun):  # the pipeline is called instead (after the commit)
        return external_pipeline.dispatch_in_session(session, request, actor, c)
    if request.subject_id != c.base.model_name:
        raise InvalidInput(f"Request #{request.id} is about {request.subject_id}, not {c.base.model_name}.")
    started = time.perf_counter()
    c.version = registry.register_in_session(session, actor, c.new)
    c.registered(time.perf_counter() - started)
    return {"model_version_id": c.version.id, "version": c.version.version}


def _discard(c: Any) -> None:
    if isinstance(c, retraining.Candidate):
        c.new.discard()


def _summarize_retrain(result: dict[str, Any], c: Any) -> str:
    return c.summary() if isinstance(c, external_pipeline.ExternalRun) else c.result().summary()


RETRAIN = RequestKind(
    name="retrain", subject_type="model", fingerprint=fingerprint_model, preview=_preview_retrain, plan=_register,
    # behaviour kept: an analyst starts the training run of an approved retrain request (the Approvals
    # page, the shell); promoting its result is a separate request that an approver executes
    execute_role=Role.analyst, prepare=_fit, discard=_discard, summarize=_summarize_retrain,
)  # fmt: skip

kinds.register(
    _rollout_kind("promote", "model_version", fingerprint_version),
    _rollout_kind("canary", "model_version", fingerprint_version, validate=_validate_canary),
    _rollout_kind("rollback", "model", fingerprint_model),
    RETRAIN,
)


# --- requests that the Models page makes ------------------------------------------------------------


def request_rollback(
    engine: Engine,
    actor: Actor,
    model_name: str,
    comment: str,
    to_version_id: int | None = None,
    end_deployment_id: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Ask to go back to the previous champion (default), to a named earlier version, or to end a canary."""
    payload: dict[str, Any] = {}
    if end_deployment_id is not None:
        payload["end_deployment_id"] = int(end_deployment_id)
    else:
        target = (
            registry.get_version(engine, to_version_id)
            if to_version_id
            else registry.previous_champion(engine, model_name)
        )
        if target is None:
            raise InvalidInput(f"{model_name} has no earlier champion to roll back to.")
        if target.model_name != model_name:
            raise InvalidInput(f"v{target.version} is a version of {target.model_name}.")
        payload.update(to_version_id=target.id, to_version=target.version)
    return approvals.request_change(engine, actor, "rollback", model_name, comment, payload, evidence)
