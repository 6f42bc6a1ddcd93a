"""Browser sign-in sessions that survive a reload and a new tab, revocable on the server.

How a browser gets its session (the UI side is app/auth.py and app/session_cookie.py):
1. `sign_in` checks the password (users.authenticate: throttled, audited) and opens a session row that
   holds only the SHA-256 of a one-time code, valid for HANDOFF_LIFETIME (60 s).
2. The page hands that code to the browser, which POSTs it to the app's own route; `redeem` trades it,
   once, for a fresh random token whose hash replaces the code's. The route returns the token in an
   HttpOnly, SameSite=Strict cookie, so page scripts never read the long-lived token.
3. On every page load the UI reads the cookie and calls `resume`; while the tab stays open it calls
   `check` with the session id kept in the server-side session state. Both re-read the account on every
   run (disabled accounts and changed roles take effect at once) and enforce the idle timeout (setting
   auth.idle_timeout_hours, 8 h by default) and the absolute expiry (auth.session_max_hours, 24 h).
4. `sign_out` revokes the row: the cookie is worthless from then on, even if a copy of it survives.
Only hashes are stored, so a copy of the database lets nobody sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit, settings, users
from services.core.db import read_session, write_session
from services.core.errors import AuthenticationFailed, PermissionDenied
from services.core.roles import Actor, Role, require
from services.core.schema_accounts import Setting, User
from services.core.schema_sessions import AuthSession
from services.core.timeutil import to_utc, utcnow

HANDOFF_LIFETIME = timedelta(seconds=60)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often (not on every click)
COOKIE_NAME = "loopdeck_session"


@dataclass(frozen=True)
class Started:
    session_id: int
    actor: Actor
    code: str  # the one-time code the browser trades for its cookie; never stored


@dataclass(frozen=True)
class Current:
    session_id: int
    actor: Actor
    cookie_issued: bool  # the browser has traded its code for the cookie


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def sign_in(
    engine: Engine, email: str, password: str, source: str | None = None, now: datetime | None = None
) -> Started:
    """Check the password and open a session (raises AuthenticationFailed like users.authenticate)."""
    now = to_utc(now) if now else utcnow()
    actor = users.authenticate(engine, email, password, now=now, source=source)
    code = secrets.token_urlsafe(32)
    max_hours = int(settings.get(engine, "auth.session_max_hours"))
    with write_session(engine) as session:
        row = AuthSession(
            user_id=actor.user_id,
            handoff_hash=_digest(code),
            handoff_expires_at=now + HANDOFF_LIFETIME,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=max_hours),
            source=(source or "")[:64],
        )
        session.add(row)
        session.flush()
        audit.record(session, actor, "session.start", "session", row.id, {"expires_at": row.expires_at.isoformat()})
        return Started(row.id, actor, code)


def redeem(engine: Engine, code: str, now: datetime | None = None) -> str:
    """Trade a one-time code for the session's cookie token (once, within HANDOFF_LIFETIME)."""
    now = to_utc(now) if now else utcnow()
    token = secrets.token_urlsafe(32)
    with write_session(engine) as session:
        row = session.exec(select(AuthSession).where(AuthSession.handoff_hash == _digest(code or ""))).first()
        if row is None or row.revoked_at is not None or to_utc(row.handoff_expires_at) < now:
            raise AuthenticationFailed("This sign-in link is used up or expired. Sign in again.")
        row.handoff_hash, row.handoff_expires_at, row.token_hash = None, None, _digest(token)
        session.add(row)
    return token


def resume(engine: Engine, token: str | None, now: datetime | None = None) -> Current | None:
    """The session a cookie token belongs to, if it is still valid; None otherwise."""
    if not token:
        return None
    return _valid(engine, AuthSession.token_hash == _digest(token), now)


def check(engine: Engine, session_id: int | None, now: datetime | None = None) -> Current | None:
    """The session this tab opened, if it is still valid; None otherwise."""
    if session_id is None:
        return None
    return _valid(engine, AuthSession.id == session_id, now)


def _valid(engine: Engine, where, now: datetime | None) -> Current | None:
    now = to_utc(now) if now else utcnow()
    idle = timedelta(hours=int(settings.get(engine, "auth.idle_timeout_hours")))
    with read_session(engine) as session:
        row = session.exec(select(AuthSession).where(where)).first()
        user = session.get(User, row.user_id) if row is not None else None
        if row is None or user is None or user.disabled or row.revoked_at is not None:
            return None
        if to_utc(row.expires_at) <= now or to_utc(row.last_seen_at) + idle <= now:
            return None
        current = Current(
            row.id, Actor(label=user.email, role=Role.parse(user.role), user_id=user.id), bool(row.token_hash)
        )
        stale = to_utc(row.last_seen_at) + TOUCH_EVERY <= now
    if stale:
        _touch(engine, current.session_id, now)
    return current


def _touch(engine: Engine, session_id: int, now: datetime) -> None:
    with write_session(engine) as session:
        row = session.get(AuthSession, session_id)
        if row is not None and to_utc(row.last_seen_at) < now:
            row.last_seen_at = now
            session.add(row)


def sign_out(engine: Engine, actor: Actor, session_id: int | None) -> None:
    """End this browser's session on the server (its cookie stops working) and audit the sign-out."""
    now = utcnow()
    with write_session(engine) as session:
        row = session.get(AuthSession, session_id) if session_id is not None else None
        if row is not None and row.user_id != actor.user_id:
            raise PermissionDenied("That is not your session.")
        if row is not None and row.revoked_at is None:
            row.revoked_at = now
            session.add(row)
        audit.record(session, actor, "user.logout", "user", actor.user_id or actor.label, {"session": session_id})


def set_limits(engine: Engine, actor: Actor, idle_hours: int, max_hours: int) -> tuple[int, int]:
    """Admins: the idle timeout and the absolute lifetime of browser sessions, in one audited change."""
    require(actor, Role.admin, "change the session limits")
    values = {
        "auth.idle_timeout_hours": settings.SPECS["auth.idle_timeout_hours"].validate(idle_hours),
        "auth.session_max_hours": settings.SPECS["auth.session_max_hours"].validate(max_hours),
    }
    with write_session(engine) as session:
        for key, value in values.items():
            row = session.get(Setting, key)
            old = settings.SPECS[key].default if row is None else row.value
            row = row or Setting(key=key, value=value)
            row.value, row.updated_at, row.updated_by = value, utcnow(), actor.label
            session.add(row)
            audit.record(session, actor, "setting.change", "setting", key, {"from": old, "to": value})
    return values["auth.idle_timeout_hours"], values["auth.session_max_hours"]
