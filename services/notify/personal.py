"""A person's own e-mail: the approval requests addressed to them and the decisions on their own requests.

Each person opts in for themselves (My account; any role): that keeps a channel of kind "email" with their
user id (notify_channel.user_id, one per person), subscribed to PERSONAL_EVENTS. `events.publish` gives it
only the events whose `recipients` name that person: governance names, for `approval.requested`, every
enabled account that may approve it (approver and up) except the requester, and for `approval.decided`
the requester. The mail goes to the account's address as it is when the mail is sent (a disabled account
gets nothing), through the SMTP server an admin configured as an apprise mail URL in LOOPDECK_SMTP_URL
(`mailtos://user:password@smtp.example.com?from=loopdeck@example.com`; the recipient is added per mail).
Delivery, retries and the log are those of every channel (services/notify/delivery.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core import audit, config
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput
from services.core.roles import Actor
from services.core.schema_accounts import User
from services.notify.schema import Channel

KIND = "email"
PERSONAL_EVENTS = ("approval.requested", "approval.decided")


@dataclass(frozen=True)
class PersonalView:
    available: bool  # an SMTP server is configured
    enabled: bool
    events: tuple[str, ...]
    email: str
    paused_reason: str


def available() -> bool:
    return config.smtp_url() is not None


def _channel(session: Session, user_id: int) -> Channel | None:
    return session.exec(select(Channel).where(Channel.user_id == user_id)).first()


def _user_id(actor: Actor) -> int:
    if actor.user_id is None:
        raise InvalidInput(f"{actor.label} has no account to mail: personal e-mail is for people who sign in.")
    return actor.user_id


def get_personal(engine: Engine, actor: Actor) -> PersonalView:
    user_id = _user_id(actor)
    with read_session(engine) as session:
        channel, user = _channel(session, user_id), session.get(User, user_id)
        email = user.email if user else ""
        if channel is None:
            return PersonalView(available(), False, PERSONAL_EVENTS, email, "")
        return PersonalView(available(), channel.enabled, tuple(channel.events), email, channel.paused_reason)


def set_personal(
    engine: Engine, actor: Actor, enabled: bool, event_types: tuple[str, ...] = PERSONAL_EVENTS
) -> PersonalView:
    """Opt in or out of one's own e-mail (for oneself only; audited)."""
    user_id = _user_id(actor)
    chosen = sorted(set(event_types))
    if enabled and not chosen:
        raise InvalidInput("Choose at least one kind of message to receive.")
    if any(t not in PERSONAL_EVENTS for t in chosen):
        raise InvalidInput(f"Personal e-mail covers {', '.join(PERSONAL_EVENTS)}.")
    with write_session(engine) as session:
        channel = _channel(session, user_id) or Channel(name=f"e-mail of {actor.label}"[:200], kind=KIND, url="",
                                                        user_id=user_id, created_by=actor.label)  # fmt: skip
        channel.enabled, channel.events = bool(enabled), chosen or list(channel.events or PERSONAL_EVENTS)
        channel.paused_reason, channel.consecutive_failures = "" if enabled else "turned off by its owner", 0
        session.add(channel)
        session.flush()
        audit.record(session, actor, "notify.personal.set", "notify_channel", channel.id,
                     {"enabled": channel.enabled, "events": list(channel.events)})  # fmt: skip
    return get_personal(engine, actor)


def address(session: Session, channel: Channel) -> str | None:
    """Where a person's channel mails to now: the account's address; None when the account is disabled."""
    user = session.get(User, channel.user_id) if channel.user_id is not None else None
    return user.email if user is not None and not user.disabled else None


def mail_url(recipient: str) -> str | None:
    """The apprise URL of one mail to `recipient` through the configured SMTP server (None: none set)."""
    smtp = config.smtp_url()
    if smtp is None:
        return None
    return f"{smtp}{'&' if '?' in smtp else '?'}to={quote(recipient, safe='@')}"
