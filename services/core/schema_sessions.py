"""SQLModel tables: browser sign-in sessions and the sign-in throttle.

A session row stores only SHA-256 hashes: of the cookie token (token_hash) and of the one-time
code the browser trades for that cookie (handoff_hash). The raw values never reach the database.
A throttle row counts failed sign-ins for one key ("account:<e-mail>" or "source:<ip>") and holds the
time before which the next attempt is refused; it never locks for longer than the cap in
services/core/signin_throttle.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from services.core.timeutil import utcnow


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    handoff_hash: str | None = Field(default=None, max_length=64, unique=True)
    handoff_expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    source: str = Field(default="", max_length=64)


class SignInThrottle(SQLModel, table=True):
    __tablename__ = "sign_in_throttle"

    key: str = Field(primary_key=True, max_length=400)
    failures: int = Field(default=0)
    blocked_until: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
