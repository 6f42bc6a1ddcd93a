"""Event types and `publish`: called by a service inside its own transaction (the outbox pattern).

`publish` writes the event and one pending delivery per channel subscribed to its type; nothing
leaves the process until the transaction commits, and the worker delivers within a tick or two.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core.db import write_session
from services.core.errors import InvalidInput
from services.notify import urls
from services.notify.schema import Channel, Delivery, NotifyEvent

EVENT_TYPES: dict[str, str] = {
    "alert.opened": "An alert rule found a new breach",
    "alert.resolved": "An alert was resolved",
    "approval.requested": "A request awaits approval",
    "approval.decided": "A request was approved or rejected",
    "request.executed": "An approved request was executed",
    "retrain.external": "An approved retrain was sent to a model's external training pipeline",
    "deployment.changed": "What serves a model changed",
    "deployment.rollback": "A model was rolled back",
    "experiment.srm": "An experiment shows a sample-ratio mismatch",
    "experiment.guardrail": "An experiment breached a guard rail",
    "job.failed": "A background job failed",
    "report.weekly_ready": "The weekly report is ready",
    "channel.paused": "A notification channel was paused after repeated failures",
    "test": "A test message (webhooks test)",
}
ALL = "*"  # a channel subscribed to every event


def check_types(types: list[str]) -> list[str]:
    unknown = [t for t in types if t != ALL and t not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(f"Unknown event type(s) {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}.")
    if not types:
        raise InvalidInput("Subscribe the channel to at least one event.")
    return sorted(set(types))


def publish(
    session: Session,
    event_type: str,
    payload: dict[str, Any],
    deep_link: str = "",
    *,
    channel_id: int | None = None,
    recipients: Iterable[int] = (),
) -> NotifyEvent:
    """Record the event and queue it for every enabled channel subscribed to it (or only `channel_id`,
    for a test message), in the caller's transaction. Returns the event. A person's own channel
    (services/notify/personal.py) gets it only when the person is among `recipients` (user ids).
    `deep_link` is a page path (`/monitor?alert=7`); the event keeps it absolute, on the UI's public
    address."""
    if event_type not in EVENT_TYPES:
        raise InvalidInput(f"Unknown event type {event_type!r}.")
    link = urls.absolute(deep_link)[:500]
    event = NotifyEvent(event_id=uuid.uuid4().hex, type=event_type, payload=payload, deep_link=link)
    session.add(event)
    session.flush()
    query = select(Channel).where(Channel.enabled == True)  # noqa: E712
    if channel_id is not None:
        query = select(Channel).where(Channel.id == channel_id)
    addressed = {int(r) for r in recipients}
    for channel in session.exec(query):
        if channel.user_id is not None and channel_id is None and channel.user_id not in addressed:
            continue  # a person's own channel hears only what is addressed to them
        if channel_id is not None or event_type in channel.events or ALL in channel.events:
            session.add(Delivery(event_id=event.id, channel_id=channel.id, next_attempt_at=event.created_at))
    session.flush()
    return event


def announce(engine: Engine, event_type: str, payload: dict[str, Any], deep_link: str = "") -> str:
    """Publish in a transaction of its own (for callers with no transaction open, e.g. a worker task
    that has finished its work); the event id."""
    with write_session(engine) as session:
        return publish(session, event_type, payload, deep_link).event_id
