"""Channels (signed webhooks and apprise targets: Slack, Teams, e-mail), their subscriptions, the
delivery log and replay. Admin-only changes, each audited in its transaction. A secret is stored to
sign with and never returned again: views carry only whether one is set, and apprise URLs (which
hold tokens) are shown masked; audit payloads never include either."""

from __future__ import annotations

import secrets as pysecrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.timeutil import utcnow
from services.notify import events, urls
from services.notify.schema import Channel, Delivery, DeliveryAttempt, NotifyEvent

KINDS = ("webhook", "apprise")
MIN_SECRET = 16


@dataclass(frozen=True)
class ChannelView:
    id: int
    name: str
    kind: str
    target: str  # the webhook URL, or the apprise URL with its credentials masked
    events: list[str]
    enabled: bool
    paused_reason: str
    consecutive_failures: int
    allow_private: bool
    has_secret: bool
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, c: Channel) -> ChannelView:
        target = c.url if c.kind == "webhook" else mask(c.url)
        if c.user_id is not None:  # a person's own e-mail (services/notify/personal.py)
            target = f"personal e-mail of user #{c.user_id}"
        return cls(c.id, c.name, c.kind, target, list(c.events), c.enabled, c.paused_reason,
                   c.consecutive_failures, c.allow_private, bool(c.secret), c.created_by, c.created_at)  # fmt: skip


def mask(url: str) -> str:
    """scheme://***@host:port/*** : credentials, path and query (tokens, addresses) hidden."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "***"
    return f"{parts.scheme}://***@{host}{port}/***" if parts.scheme else "***"


def _check_apprise(url: str) -> str:
    import apprise

    if not apprise.Apprise().add(url):
        raise InvalidInput("apprise does not understand that URL (see apprise's list of services).")
    return url


def add_channel(
    engine: Engine,
    actor: Actor,
    kind: str,
    url: str,
    event_types: list[str],
    *,
    secret: str = "",
    name: str = "",
    allow_private: bool = False,
) -> ChannelView:
    """Add a channel. A webhook needs a secret of at least 16 characters (one is generated when empty;
    `generated_secret` returns it once)."""
    require(actor, Role.admin, "add a notification channel")
    if kind not in KINDS:
        raise InvalidInput(f"Unknown channel kind {kind!r}; expected one of: {', '.join(KINDS)}.")
    types = events.check_types(list(event_types))
    if kind == "webhook":
        url = urls.check_webhook_url(url, allow_private)
        if secret and len(secret) < MIN_SECRET:
            raise InvalidInput(f"A webhook secret has at least {MIN_SECRET} characters.")
    else:
        url, secret = _check_apprise(url.strip()), ""
    channel = Channel(name=name[:200] or kind, kind=kind, url=url, secret=secret, events=types,
                      allow_private=allow_private, created_by=actor.label)  # fmt: skip
    with write_session(engine) as session:
        session.add(channel)
        session.flush()
        audit.record(session, actor, "notify.channel.add", "notify_channel", channel.id,
                     {"kind": kind, "target": ChannelView.of(channel).target, "events": types,
                      "allow_private": allow_private})  # fmt: skip
        return ChannelView.of(channel)


def new_secret() -> str:
    return pysecrets.token_urlsafe(32)


def list_channels(engine: Engine, actor: Actor) -> list[ChannelView]:
    require(actor, Role.admin, "list notification channels")
    with read_session(engine) as session:
        return [ChannelView.of(c) for c in session.exec(select(Channel).order_by(Channel.id))]


def _channel(session, channel_id: int) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound(f"There is no channel {channel_id}.")
    return channel


def remove_channel(engine: Engine, actor: Actor, channel_id: int) -> None:
    """Disable it for good and forget its secret (the delivery log keeps its history)."""
    require(actor, Role.admin, "remove a notification channel")
    with write_session(engine) as session:
        channel = _channel(session, channel_id)
        channel.enabled, channel.secret, channel.paused_reason = False, "", "removed"
        channel.events = []
        session.add(channel)
        audit.record(session, actor, "notify.channel.remove", "notify_channel", channel_id, {})


def set_enabled(engine: Engine, actor: Actor, channel_id: int, enabled: bool) -> ChannelView:
    """Pause or resume a channel (resuming clears its failure count)."""
    require(actor, Role.admin, "pause or resume a notification channel")
    with write_session(engine) as session:
        channel = _channel(session, channel_id)
        if channel.paused_reason == "removed":
            raise InvalidInput(f"Channel {channel_id} was removed.")
        channel.enabled, channel.consecutive_failures = enabled, 0
        channel.paused_reason = "" if enabled else f"paused by {actor.label}"
        session.add(channel)
        audit.record(session, actor, "notify.channel.enable" if enabled else "notify.channel.pause",
                     "notify_channel", channel_id, {})  # fmt: skip
        return ChannelView.of(channel)


def test_channel(engine: Engine, actor: Actor, channel_id: int) -> str:
    """Queue a `test` event for this channel only; the worker delivers it like any other. Its event id."""
    require(actor, Role.admin, "test a notification channel")
    with write_session(engine) as session:
        _channel(session, channel_id)
        event = events.publish(session, "test", {"channel_id": channel_id, "by": actor.label}, "/notifications",
                               channel_id=channel_id)  # fmt: skip
        audit.record(session, actor, "notify.channel.test", "notify_channel", channel_id, {"event": event.event_id})
        return event.event_id


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event_id: str
    event_type: str
    channel_id: int
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime


def delivery_log(engine: Engine, actor: Actor, channel_id: int | None = None, limit: int = 200) -> list[DeliveryView]:
    require(actor, Role.admin, "read the delivery log")
    query = (
        select(Delivery, NotifyEvent)
        .join(NotifyEvent, NotifyEvent.id == Delivery.event_id)
        .order_by(Delivery.id.desc())
        .limit(min(max(limit, 1), 1000))
    )
    if channel_id is not None:
        query = query.where(Delivery.channel_id == channel_id)
    with read_session(engine) as session:
        return [DeliveryView(d.id, e.event_id, e.type, d.channel_id, d.status, d.attempts, d.last_status_code,
                             d.last_error, d.created_at, d.delivered_at, d.next_attempt_at)
                for d, e in session.exec(query)]  # fmt: skip


def attempts_of(engine: Engine, actor: Actor, delivery_id: int) -> list[DeliveryAttempt]:
    require(actor, Role.admin, "read the delivery log")
    with read_session(engine) as session:
        query = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.id)
        return list(session.exec(query))


def replay(engine: Engine, actor: Actor, delivery_id: int) -> int:
    """Send a delivered or failed message again (same event id and body, a new signature): a new
    delivery's id."""
    require(actor, Role.admin, "replay a notification")
    with write_session(engine) as session:
        old = session.get(Delivery, delivery_id)
        if old is None:
            raise NotFound(f"There is no delivery {delivery_id}.")
        channel = _channel(session, old.channel_id)
        if not channel.enabled:
            raise InvalidInput(f"Channel {channel.id} is paused ({channel.paused_reason}); resume it first.")
        new = Delivery(event_id=old.event_id, channel_id=old.channel_id, next_attempt_at=utcnow())
        session.add(new)
        session.flush()
        audit.record(session, actor, "notify.delivery.replay", "notify_delivery", delivery_id, {"new": new.id})
        return new.id
