"""External retraining pipelines: a model whose training runs elsewhere.

An admin sets, per model, the pipeline's webhook URL and a secret (validated like a notification
webhook: http/https only, no private/loopback/link-local address unless allowed; a secret of at least
16 characters, never shown again). The pair is kept as a notify channel subscribed to no event, so the
call is signed, retried, logged and replayable like every other webhook (services/notify/delivery.py).

When an approved retrain request of such a model is executed, the governance executor does not fit a
candidate here: in its transaction it queues one `retrain.external` message for that channel (the
outbox) and marks the request executed; the worker delivers it. The body's `data` carries the training
window, the feedback training-set version (id, name, version, checksum), the base version, the trigger
(e.g. "alert:12") and where to register the result: the pipeline trains, then calls
POST /api/v1/models/{name}/versions, and the new candidate is judged like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_feedback import TrainingDataset
from services.core.schema_governance import ApprovalRequest
from services.core.schema_models import ModelPipeline, ModelVersion
from services.notify import events, urls
from services.notify.channels import MIN_SECRET, new_secret
from services.notify.schema import Channel

EVENT = "retrain.external"


@dataclass(frozen=True)
class PipelineView:
    """What a screen shows of a model's pipeline: never the secret."""

    model_name: str
    url: str
    channel_id: int
    enabled: bool
    paused_reason: str
    allow_private: bool
    created_by: str
    created_at: datetime


@dataclass
class ExternalRun:
    """The prepared step of a retrain request whose model trains elsewhere: nothing fitted here."""

    request_id: int
    model_name: str
    result: dict[str, Any] | None = None

    def summary(self) -> str:
        event = (self.result or {}).get("event_id", "?")
        return (
            f"Request #{self.request_id} was sent to {self.model_name}'s external retraining pipeline "
            f"(message {event}); the pipeline registers the new version through the API."
        )


def _row(session: Session, model_name: str) -> tuple[ModelPipeline, Channel] | None:
    row = session.get(ModelPipeline, model_name)
    if row is None:
        return None
    channel = session.get(Channel, row.channel_id)
    return (row, channel) if channel is not None else None


def _view(row: ModelPipeline, channel: Channel) -> PipelineView:
    return PipelineView(row.model_name, channel.url, channel.id, channel.enabled, channel.paused_reason,
                        channel.allow_private, row.created_by, row.created_at)  # fmt: skip


def _retire(channel: Channel, why: str) -> None:
    channel.enabled, channel.secret, channel.paused_reason, channel.events = False, "", why, []


def set_pipeline(
    engine: Engine, actor: Actor, model_name: str, url: str, secret: str = "", *, allow_private: bool = False,
) -> tuple[PipelineView, str]:  # fmt: skip
    """Set (or replace) a model's external retraining pipeline. Returns the view and the secret, which is
    generated when empty and shown this once."""
    require(actor, Role.admin, "set an external retraining pipeline")
    url = urls.check_webhook_url(url, allow_private)
    if secret and len(secret) < MIN_SECRET:
        raise InvalidInput(f"A webhook secret has at least {MIN_SECRET} characters.")
    secret = secret or new_secret()
    with write_session(engine) as session:
        if session.exec(select(ModelVersion.id).where(ModelVersion.model_name == model_name)).first() is None:
            raise NotFound(f"No model named {model_name!r}.")
        current = _row(session, model_name)
        if current is not None:
            _retire(current[1], "replaced")
            session.add(current[1])
        channel = Channel(name=f"retraining pipeline of {model_name}"[:200], kind="webhook", url=url, secret=secret,
                          events=[], allow_private=allow_private, created_by=actor.label)  # fmt: skip
        session.add(channel)
        session.flush()
        row = current[0] if current is not None else ModelPipeline(model_name=model_name, channel_id=channel.id)
        row.channel_id, row.created_by = channel.id, actor.label
        session.add(row)
        session.flush()
        audit.record(session, actor, "model.pipeline.set", "model", model_name,
                     {"url": url, "channel_id": channel.id, "allow_private": allow_private})  # fmt: skip
        return _view(row, channel), secret


def remove_pipeline(engine: Engine, actor: Actor, model_name: str) -> None:
    """Train this model here again: the pipeline's channel is retired (its delivery log stays)."""
    require(actor, Role.admin, "remove an external retraining pipeline")
    with write_session(engine) as session:
        current = _row(session, model_name)
        if current is None:
            raise NotFound(f"{model_name} has no external retraining pipeline.")
        row, channel = current
        _retire(channel, "removed")
        session.add(channel)
        session.delete(row)
        audit.record(session, actor, "model.pipeline.remove", "model", model_name, {"channel_id": channel.id})


def get_pipeline(engine: Engine, model_name: str) -> PipelineView | None:
    with read_session(engine) as session:
        current = _row(session, model_name)
        return _view(*current) if current is not None else None


def target_in(session: Session, model_name: str) -> str | None:
    """The pipeline's URL when the model trains elsewhere (for a request's preview), else None."""
    current = _row(session, model_name)
    return current[1].url if current is not None else None


def preview_steps(request: ApprovalRequest, url: str, window: str) -> tuple[str, ...]:
    p = dict(request.payload or {})
    dataset = f"feedback training set id {p['dataset_id']}" if p.get("dataset_id") else "no feedback training set"
    return (
        f"{request.subject_id} trains in an external pipeline: Loopdeck sends it a signed retrain.external webhook "
        f"({url}) with the window {window}, {dataset}, base v{p.get('base_version', '?')} and trigger "
        f"{p.get('trigger', 'manual')}; nothing is fitted here.",
        "The request is marked executed when the message is queued; the pipeline registers the new version "
        f"through POST /api/v1/models/{request.subject_id}/versions, and it is judged like any candidate.",
    )


def prepare(engine: Engine, request: ApprovalRequest) -> ExternalRun | None:
    """Before the executor's transaction: an ExternalRun when the request's model trains elsewhere."""
    with read_session(engine) as session:
        current = _row(session, request.subject_id)
    return ExternalRun(int(request.id), request.subject_id) if current is not None else None


def _dataset(session: Session, dataset_id: Any) -> dict[str, Any] | None:
    if dataset_id is None:
        return None
    row = session.get(TrainingDataset, int(dataset_id))
    if row is None:
        raise NotFound(f"No training set with id {dataset_id}.")
    return {"id": row.id, "name": row.name, "version": row.version, "items": row.item_count,
            "content_sha256": row.content_sha256}  # fmt: skip


def message(session: Session, request: ApprovalRequest) -> dict[str, Any]:
    """What the pipeline is told: the training window, the feedback training-set version, the base, the
    trigger and where to register what it trains."""
    p = dict(request.payload or {})
    evidence = dict(request.evidence or {})
    return {
        "request_id": request.id, "model_name": request.subject_id, "requested_by": request.requested_by,
        "comment": request.comment, "base_version_id": p.get("base_version_id"), "base_version": p.get("base_version"),
        "training_window": {"start": p.get("train_from"), "end": p.get("train_to"), "end_exclusive": True},
        "feedback_training_set": _dataset(session, p.get("dataset_id")), "seed": p.get("seed", 0),
        "trigger": p.get("trigger", "manual"), "alert_id": evidence.get("alert_id"),
        "register": {"method": "POST", "path": f"/api/v1/models/{request.subject_id}/versions",
                     "scope": "models:write", "body": {"retrain_request_id": request.id}},
    }  # fmt: skip


def dispatch_in_session(session: Session, request: ApprovalRequest, actor: Actor, run: ExternalRun) -> dict[str, Any]:
    """In the executor's transaction: queue the signed call to the pipeline (delivered by the worker)."""
    current = _row(session, request.subject_id)
    if current is None:
        raise Conflict(f"{request.subject_id}'s external retraining pipeline was removed; execute the request again.")
    row, channel = current
    data = message(session, request)
    event = events.publish(session, EVENT, data, f"/approval-requests?request={request.id}", channel_id=channel.id)
    audit.record(session, actor, "model.pipeline.dispatch", "approval_request", request.id,
                 {"model": request.subject_id, "channel_id": channel.id, "event": event.event_id,
                  "trigger": data["trigger"]})  # fmt: skip
    result = {"external_pipeline": channel.url, "event_id": event.event_id, "channel_id": channel.id,
              "trigger": data["trigger"], "training_window": data["training_window"],
              "feedback_training_set": data["feedback_training_set"]}  # fmt: skip
    run.result = result
    return result
