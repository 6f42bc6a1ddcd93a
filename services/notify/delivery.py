"""Delivering the outbox (run by the worker's `notify.deliver` job): signed webhooks and apprise.

A webhook is a POST of a JSON body {"id", "type", "created_at", "deep_link", "data"} with headers
X-Loopdeck-Event, X-Loopdeck-Timestamp (Unix seconds) and X-Loopdeck-Signature: sha256=<hex of
HMAC-SHA256 keyed by the channel's secret over "<timestamp>.<body>">. A 2xx answer is delivered;
anything else is retried with exponential backoff (2, 4, 8, 16, 32 s ...), and after MAX_ATTEMPTS
the delivery has failed. A channel whose deliveries fail PAUSE_AFTER times in a row is paused and a
`channel.paused` event goes to the other channels (the admins'); the audit log records it.
Every attempt is logged with its status code; no secret or apprise URL is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import write_session
from services.core.errors import InvalidInput
from services.core.timeutil import utcnow
from services.notify import events, personal, urls
from services.notify.schema import Channel, Delivery, DeliveryAttempt, NotifyEvent

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
PAUSE_AFTER = 5  # failed deliveries in a row
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=30)
TIMEOUT_SECONDS = 10
BATCH = 200
Progress = Callable[[float, str], None]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def body_of(event: NotifyEvent) -> bytes:
    doc = {"id": event.event_id, "type": event.type, "created_at": event.created_at.isoformat(),
           "deep_link": event.deep_link, "data": event.payload}  # fmt: skip
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _post_webhook(channel: Channel, event: NotifyEvent) -> Outcome:
    started = time.perf_counter()
    try:
        urls.check_webhook_url(channel.url, channel.allow_private)  # again: DNS may have changed
        body, ts = body_of(event), str(int(time.time()))
        headers = {"Content-Type": "application/json", "User-Agent": "Loopdeck-Webhooks/1",
                   "X-Loopdeck-Event": event.type, "X-Loopdeck-Timestamp": ts,
                   "X-Loopdeck-Signature": sign(channel.secret, ts, body)}  # fmt: skip
        answer = requests.post(channel.url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False)
        code, error = answer.status_code, "" if answer.ok else f"HTTP {answer.status_code}"
    except InvalidInput as exc:
        code, error = None, str(exc)
    except requests.RequestException as exc:
        code, error = None, type(exc).__name__  # not str(exc): it may quote the URL
    return Outcome(code, error[:500], int((time.perf_counter() - started) * 1000))


def _notify_apprise(channel: Channel, event: NotifyEvent) -> Outcome:
    return _apprise(channel.url, event)


def _send_email(recipient: str | None, event: NotifyEvent) -> Outcome:
    """A person's own e-mail (services/notify/personal.py) to their account's address now."""
    if recipient is None:
        return Outcome(None, "the account is disabled or gone", 0)
    url = personal.mail_url(recipient)
    if url is None:
        return Outcome(None, "no SMTP server is configured (LOOPDECK_SMTP_URL)", 0)
    return _apprise(url, event)


def _apprise(url: str, event: NotifyEvent) -> Outcome:
    import apprise

    started = time.perf_counter()
    sender = apprise.Apprise()
    if not sender.add(url):
        return Outcome(None, "apprise no longer accepts this channel's URL", 0)
    title = f"Loopdeck: {events.EVENT_TYPES.get(event.type, event.type)}"
    lines = [f"{k}: {v}" for k, v in sorted(event.payload.items())][:20]
    body = "\n".join([*lines, "", f"Open: {event.deep_link}" if event.deep_link else ""]).strip()
    ok = bool(sender.notify(title=title, body=body))
    ms = int((time.perf_counter() - started) * 1000)
    return Outcome(200 if ok else None, "" if ok else "apprise could not deliver", ms)


SENDERS: dict[str, Callable[[Channel, NotifyEvent], Outcome]] = {"webhook": _post_webhook, "apprise": _notify_apprise}


def due(engine: Engine, now: datetime | None = None, limit: int = BATCH) -> list[int]:
    now = now or utcnow()
    query = (
        select(Delivery.id)
        .join(Channel, Channel.id == Delivery.channel_id)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now, Channel.enabled == True)  # noqa: E712
        .order_by(Delivery.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(query)]


def deliver_due(engine: Engine, now: datetime | None = None, progress: Progress | None = None) -> dict[str, int]:
    """Attempt every due delivery once; counts of delivered / retrying / failed."""
    ids = due(engine, now)
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    for i, delivery_id in enumerate(ids):
        verdict = deliver_one(engine, delivery_id, now)
        if verdict:
            counts[verdict] += 1
        if progress:
            progress((i + 1) / len(ids), f"{i + 1} of {len(ids)} notifications")
    return counts


def deliver_one(engine: Engine, delivery_id: int, now: datetime | None = None) -> str | None:
    with write_session(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status != "pending":
            return None
        channel, event = session.get(Channel, delivery.channel_id), session.get(NotifyEvent, delivery.event_id)
        recipient = personal.address(session, channel) if channel.kind == personal.KIND else None
    # outside any transaction: the network is slow
    if channel.kind == personal.KIND:
        outcome = _send_email(recipient, event)
    else:
        outcome = SENDERS[channel.kind](channel, event)
    return _record(engine, delivery_id, outcome, now or utcnow())


def _record(engine: Engine, delivery_id: int, outcome: Outcome, now: datetime) -> str:
    with write_session(engine) as session:
        delivery = session.get(Delivery, delivery_id)
        channel = session.get(Channel, delivery.channel_id, with_for_update=True)
        session.add(DeliveryAttempt(delivery_id=delivery_id, ts=now, status_code=outcome.status_code,
                                    error=outcome.error, duration_ms=outcome.ms))  # fmt: skip
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
        if outcome.ok:
            delivery.status, delivery.delivered_at, verdict = "delivered", now, "delivered"
            channel.consecutive_failures = 0
        elif delivery.attempts < MAX_ATTEMPTS:
            delivery.next_attempt_at, verdict = now + backoff(delivery.attempts), "retrying"
        else:
            delivery.status, verdict = "failed", "failed"
            channel.consecutive_failures += 1
            if channel.enabled and channel.consecutive_failures >= PAUSE_AFTER:
                _pause(session, channel)
        if not outcome.ok:
            log.warning("notification %s to channel %s: attempt %s failed (%s)", delivery_id, channel.id,
                        delivery.attempts, outcome.error or outcome.status_code)  # fmt: skip
        session.add_all([delivery, channel])
        return verdict


def _pause(session, channel: Channel) -> None:
    channel.enabled = False
    channel.paused_reason = f"paused after {channel.consecutive_failures} failed deliveries in a row"
    audit.record(session, "system:notify", "notify.channel.pause", "notify_channel", channel.id,
                 {"reason": channel.paused_reason})  # fmt: skip
    session.flush()
    events.publish(session, "channel.paused", {"channel_id": channel.id, "name": channel.name,
                                               "reason": channel.paused_reason}, "/notifications")  # fmt: skip


def pending_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).where(Delivery.status == "pending")).scalar_one()
