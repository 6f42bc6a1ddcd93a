"""Accounts: local passwords (argon2), growing delays after failed sign-ins, roles, the first admin."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import object_session
from sqlmodel import Session, func, select, update

from services.core import audit
from services.core import signin_throttle as throttle
from services.core.db import read_session, write_session
from services.core.errors import (
    AccountDisabled,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
)
from services.core.roles import Actor, Role, require
from services.core.schema_accounts import User
from services.core.schema_sessions import AuthSession
from services.core.timeutil import to_utc, utcnow

MIN_PASSWORD_LENGTH = 8
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password: an
# argon2 hash of "loopdeck-timing-equaliser" with the hasher's parameters, written out because hashing it at
# import cost every process ~0.7 CPU-s (tests/services/core/test_users.py checks the parameters still match).
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$tGuy5RfLYLNTYPuMx3Efbw$s83SvUT8dbQdskI9+UG3JgbcMxzNFxZfWCUimol27DY"


@dataclass(frozen=True)
class UserView:
    id: int
    email: str
    name: str
    role: str
    disabled: bool
    locked_until: datetime | None
    failed_attempts: int
    created_at: datetime
    last_login_at: datetime | None


def _view(user: User) -> UserView:
    return UserView(
        user.id,
        user.email,
        user.name,
        user.role,
        user.disabled,
        user.locked_until,
        user.failed_attempts,
        user.created_at,
        user.last_login_at,
    )


@dataclass(frozen=True)
class _Recheck:
    """Reads an account's role now (None when disabled or gone): what `roles.require` calls for the
    actor of an account. One primary-key read, outside the caller's transaction (never a write lock)."""

    engine: Engine

    def __call__(self, actor: Actor) -> Role | None:
        with read_session(self.engine) as session:
            row = session.exec(select(User.role, User.disabled).where(User.id == actor.user_id)).first()
        return None if row is None or row.disabled else Role.parse(row.role)


def rechecked(engine: Engine, actor: Actor) -> Actor:
    """The actor of an account, re-checked against it on every permission check (see _Recheck): for
    actors rebuilt from a stored label and role (a queued job's requester)."""
    if actor.user_id is None or actor.recheck is not None:
        return actor
    return replace(actor, recheck=_Recheck(engine.execution_options(loopdeck_write=False)))


def _actor(user: User) -> Actor:
    bind = getattr(object_session(user), "bind", None)
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    recheck = _Recheck(engine.execution_options(loopdeck_write=False)) if engine is not None else None
    return Actor(label=user.email, role=Role.parse(user.role), user_id=user.id, recheck=recheck)


def _clean_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_PATTERN.match(email):
        raise InvalidInput(f"'{email}' is not a valid e-mail address.")
    return email


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")


def _get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def _end_sessions(session: Session, user_id: int) -> None:
    """Revoke every open browser session of the account (disabled, or its password reset by an admin)."""
    session.exec(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def _admins_left(session: Session, excluding: int) -> int:
    return session.exec(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.admin.name, User.disabled.is_(False), User.id != excluding)
    ).one()


# --- reading -----------------------------------------------------------------------------------


def count_users(engine: Engine) -> int:
    with read_session(engine) as session:
        return session.exec(select(func.count()).select_from(User)).one()


def list_users(engine: Engine, actor: Actor) -> list[UserView]:
    require(actor, Role.admin, "list users")
    with read_session(engine) as session:
        waits = throttle.waiting_accounts(session, utcnow())
        views = [_view(u) for u in session.exec(select(User).order_by(User.email)).all()]
    return [replace(v, locked_until=waits.get(v.email)) for v in views]


def find(engine: Engine, actor: Actor, email: str) -> UserView:
    """The account with this e-mail (admins; for the shell's unlock and reset-password)."""
    require(actor, Role.admin, "look up users")
    email = (email or "").strip().lower()
    with read_session(engine) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            raise NotFound(f"No user with e-mail {email}.")
        return _view(user)


def user_emails(engine: Engine) -> list[str]:
    """E-mails of active users (for assignee pickers)."""
    with read_session(engine) as session:
        return list(session.exec(select(User.email).where(User.disabled.is_(False)).order_by(User.email)).all())


def current_actor(engine: Engine, user_id: int) -> Actor | None:
    """Re-read the signed-in user on every page run: a disabled or deleted account loses access at once."""
    with read_session(engine) as session:
        user = session.get(User, user_id)
        if user is None or user.disabled:
            return None
        return _actor(user)


# --- signing in --------------------------------------------------------------------------------


REFUSED = (
    "Wrong e-mail or password. (After repeated failures each new attempt waits a little longer; "
    "disabled accounts cannot sign in.)"
)


def authenticate(
    engine: Engine, email: str, password: str, now: datetime | None = None, source: str | None = None
) -> Actor:
    """Check a local password. Every refusal (unknown e-mail, wrong password, disabled account, an
    account or source that must still wait) raises the same AuthenticationFailed after the same work:
    one argon2 verification. Failures slow further attempts down (services/core/signin_throttle.py)."""
    now = to_utc(now) if now else utcnow()
    email = (email or "").strip().lower()
    with write_session(engine) as session:
        signed_in = _check_password_attempt(session, email, password, now, source)
    if signed_in is None:  # raised after the commit, so the failure is counted
        raise AuthenticationFailed(REFUSED)
    return signed_in


def _check_password_attempt(session: Session, email: str, password: str, now: datetime, source: str | None):
    user = session.exec(select(User).where(User.email == email)).first()
    if throttle.waiting(session, email, source, now):
        _verify(_DUMMY_HASH, password)  # not counted: guessing on cannot push the wait further out
        return None
    usable = user is not None and bool(user.password_hash) and not user.disabled
    if not _verify(user.password_hash if usable else _DUMMY_HASH, password) or not usable:
        blocked = throttle.record_failure(session, email, source, now)
        payload = {"email": email[:200], "source": source or "", "waits_until": blocked}
        subject = user.id if user else email[:200]
        audit.record(session, email[:320] or "?", "user.login_failed", "user", subject, payload)
        return None
    throttle.clear(session, email, source)
    user.failed_attempts, user.locked_until, user.last_login_at = 0, None, now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.add(user)
    audit.record(session, user.email, "user.login", "user", user.id, {"source": source or ""})
    return _actor(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False


def actor_for_sso(engine: Engine, email: str) -> Actor:
    """An OIDC-authenticated user: their role comes from the Loopdeck account with that e-mail."""
    email = (email or "").strip().lower()
    with write_session(engine) as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None:
            raise AuthenticationFailed(f"{email} has no Loopdeck account. Ask an admin to add it.")
        if user.disabled:
            raise AccountDisabled("This account is disabled. Ask an admin to enable it.")
        user.last_login_at = utcnow()
        session.add(user)
        audit.record(session, user.email, "user.login", "user", user.id, {"method": "oidc"})
        return _actor(user)


# --- changing accounts -------------------------------------------------------------------------


def create_first_admin(engine: Engine, email: str, name: str, password: str) -> UserView:
    """Only on a fresh install (no users at all): the person at the keyboard becomes the admin."""
    email = _clean_email(email)
    _check_password(password)
    with write_session(engine) as session:
        if session.exec(select(func.count()).select_from(User)).one() > 0:
            raise Conflict("Loopdeck already has users; ask an admin for an account.")
        user = User(email=email, name=name.strip(), role=Role.admin.name, password_hash=_hasher.hash(password))
        session.add(user)
        session.flush()
        audit.record(session, email, "user.create_first_admin", "user", user.id, {"email": email, "role": "admin"})
        return _view(user)


def add_user(engine: Engine, actor: Actor, email: str, role: str, password: str | None, name: str = "") -> UserView:
    """Add an account. Without a password the user can only sign in through SSO."""
    require(actor, Role.admin, "add users")
    email = _clean_email(email)
    role_value = _parse_role(role)
    if password is not None:
        _check_password(password)
    with write_session(engine) as session:
        if session.exec(select(User).where(User.email == email)).first():
            raise Conflict(f"A user with e-mail {email} already exists.")
        user = User(
            email=email,
            name=(name or "").strip(),
            role=role_value.name,
            password_hash=_hasher.hash(password) if password else None,
        )
        session.add(user)
        session.flush()
        audit.record(
            session, actor, "user.add", "user", user.id, {"email": email, "role": role_value.name, "name": user.name}
        )
        return _view(user)


def _parse_role(role: str) -> Role:
    try:
        return Role.parse(role)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def change_role(engine: Engine, actor: Actor, user_id: int, role: str) -> UserView:
    require(actor, Role.admin, "change roles")
    new_role = _parse_role(role)
    with write_session(engine) as session:
        user = _get(session, user_id)
        old = user.role
        if old == new_role.name:
            return _view(user)
        if old == Role.admin.name and _admins_left(session, user.id) == 0:
            raise Conflict("This is the last active admin; make someone else admin first.")
        user.role = new_role.name
        session.add(user)
        audit.record(
            session, actor, "user.change_role", "user", user.id, {"email": user.email, "from": old, "to": new_role.name}
        )
        return _view(user)


def set_disabled(engine: Engine, actor: Actor, user_id: int, disabled: bool) -> UserView:
    require(actor, Role.admin, "enable or disable accounts")
    with write_session(engine) as session:
        user = _get(session, user_id)
        if user.disabled == disabled:
            return _view(user)
        if disabled and user.role == Role.admin.name and _admins_left(session, user.id) == 0:
            raise Conflict("This is the last active admin; it cannot be disabled.")
        user.disabled = disabled
        if disabled:
            _end_sessions(session, user.id)
        session.add(user)
        action = "user.disable" if disabled else "user.enable"
        audit.record(session, actor, action, "user", user.id, {"email": user.email})
        return _view(user)


def unlock(engine: Engine, actor: Actor, user_id: int) -> UserView:
    require(actor, Role.admin, "unlock accounts")
    with write_session(engine) as session:
        user = _get(session, user_id)
        user.locked_until, user.failed_attempts = None, 0
        throttle.clear(session, user.email)
        session.add(user)
        audit.record(session, actor, "user.unlock", "user", user.id, {"email": user.email})
        return _view(user)


def set_password(engine: Engine, actor: Actor, user_id: int, password: str) -> UserView:
    """Admins reset anyone's password; every user may change their own."""
    if actor.user_id != user_id:
        require(actor, Role.admin, "reset another user's password")
    _check_password(password)
    with write_session(engine) as session:
        user = _get(session, user_id)
        user.password_hash = _hasher.hash(password)
        user.locked_until, user.failed_attempts = None, 0
        throttle.clear(session, user.email)
        if actor.user_id != user_id:  # a reset by an admin ends every session of the account
            _end_sessions(session, user.id)
        session.add(user)
        audit.record(session, actor, "user.set_password", "user", user.id, {"email": user.email})
        return _view(user)


def sign_out(engine: Engine, actor: Actor) -> None:
    """Record the end of a session (the app forgets the user; this leaves the trace)."""
    with write_session(engine) as session:
        audit.record(session, actor, "user.logout", "user", actor.user_id or actor.label, {})
