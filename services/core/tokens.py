"""API tokens: what a pipeline or serving system acts as when it calls the HTTP API.

A token is `ldk_` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored: the
secret is high-entropy, so a fast hash cannot be brute-forced, and a fast hash lets every request
look its token up by an index in about a millisecond. argon2 (used for passwords, which are
low-entropy and need a slow hash) would cost ~0.15 s of CPU per request and turn the API's
authentication into a denial-of-service lever, without adding anything against a 256-bit secret.

A token acts as a `TokenActor`: an Actor labelled `token:<name>` whose role is the lowest that its
scopes need (ingest and models:write need analyst, routing:read and erase viewer), so the services' role
checks apply unchanged, and whose scopes and optional model list are checked by `require_scope`.
Every write made with a token is audited with that label. Tokens never hold the admin role: the `erase`
scope is an admin's delegation of that one admin action, which the erasure service checks by its scope.
Creating, listing and revoking tokens is for admins (people), audited.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role, require
from services.core.timeutil import to_utc, utcnow
from services.core.tokens_schema import ApiToken

TOKEN_PREFIX = "ldk_"
SCOPES: dict[str, Role] = {
    "ingest": Role.analyst,
    "routing:read": Role.viewer,
    "models:write": Role.analyst,
    "monitoring:read": Role.viewer,  # raw-row queries (services/monitoring/raw_query.py)
    "raw:export": Role.analyst,  # raw rows leave Loopdeck: an analyst's action, audited
    # an admin's delegation of one admin action (services/ingest/erasure.py checks the scope itself): the role
    # stays the lowest, so the scope grants nothing else
    "erase": Role.viewer,
}
UNLIMITED_SCOPES = ("erase",)  # erasure removes a request id wherever it is: never limited to models
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MODEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
DEFAULT_RATE_PER_MINUTE = 6000
MAX_EXPIRES_DAYS = 3650


@dataclass(frozen=True)
class TokenActor(Actor):
    """An API token acting: scopes and (optionally) the models it may touch."""

    scopes: frozenset[str] = frozenset()
    models: frozenset[str] | None = None  # None: every model
    token_id: int | None = None
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    models: tuple[str, ...] | None
    rate_per_minute: int
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    def status(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and to_utc(self.expires_at) <= (now or utcnow()):
            return "expired"
        return "active"


@dataclass(frozen=True)
class CreatedToken:
    token: TokenView
    secret: str  # shown once, never stored


def _view(row: ApiToken) -> TokenView:
    return TokenView(row.id, row.name, row.prefix, tuple(row.scopes), tuple(row.models) if row.models else None,
                     row.rate_per_minute, row.created_by, row.created_at, row.expires_at, row.revoked_at,
                     row.revoked_by)  # fmt: skip


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def role_for(scopes: Iterable[str]) -> Role:
    return max((SCOPES[s] for s in scopes), default=Role.viewer)


def require_scope(actor: Actor, scope: str, models: Iterable[str] = ()) -> None:
    """A token needs `scope` and, when it is limited to models, every model in `models`.
    People (not tokens) pass: their role checks apply as always."""
    if not isinstance(actor, TokenActor):
        return
    if scope not in actor.scopes:
        raise PermissionDenied(f"{actor.label} lacks the {scope!r} scope (it has: {', '.join(sorted(actor.scopes))}).")
    if actor.models is not None:
        outside = sorted({m for m in models if m not in actor.models})
        if outside:
            raise PermissionDenied(
                f"{actor.label} is limited to the models {', '.join(sorted(actor.models))}; "
                f"not allowed: {', '.join(outside[:10])}."
            )


def _clean(name: str, scopes: Iterable[str], models: Iterable[str] | None, expires_days: int | None) -> tuple:
    name = (name or "").strip()
    if not NAME_PATTERN.match(name):
        raise InvalidInput(f"Token name {name!r} is not valid: letters, digits, '.', '_' or '-' (at most 100).")
    wanted = sorted({s.strip() for s in scopes if s and s.strip()})
    unknown = [s for s in wanted if s not in SCOPES]
    if not wanted or unknown:
        raise InvalidInput(f"Scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}.")
    model_list = sorted({m.strip() for m in models or () if m and m.strip()}) or None
    bad = [m for m in model_list or () if not MODEL_PATTERN.match(m)]
    if bad:
        raise InvalidInput(f"Not a model name: {', '.join(bad)}.")
    unlimited = [s for s in wanted if s in UNLIMITED_SCOPES]
    if model_list and unlimited:
        raise InvalidInput(f"The {', '.join(unlimited)} scope reaches every model: give it to a token without models.")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise InvalidInput(f"Expiry must be between 1 and {MAX_EXPIRES_DAYS} days; got {expires_days}.")
    return name, wanted, model_list


def create_token(
    engine: Engine,
    actor: Actor,
    name: str,
    scopes: Iterable[str],
    models: Iterable[str] | None = None,
    expires_days: int | None = None,
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
) -> CreatedToken:
    """Admins only. The secret is returned once; only its hash is kept."""
    require(actor, Role.admin, "create API tokens")
    name, wanted, model_list = _clean(name, scopes, models, expires_days)
    if not 1 <= rate_per_minute <= 1_000_000:
        raise InvalidInput(f"The rate limit must be between 1 and 1,000,000 requests a minute; got {rate_per_minute}.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + timedelta(days=expires_days) if expires_days else None
    try:
        with write_session(engine) as session:
            if session.exec(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
                raise Conflict(f"A token named {name!r} exists already (revoked tokens keep their name).")
            row = ApiToken(
                name=name,
                token_hash=digest(secret),
                prefix=secret[:10],
                scopes=wanted,
                models=model_list,
                rate_per_minute=rate_per_minute,
                created_by=actor.label,
                created_at=now,
                expires_at=expires,
            )
            session.add(row)
            session.flush()
            payload = {"scopes": wanted, "models": model_list, "expires_at": expires, "rate": rate_per_minute}
            audit.record(session, actor, "token.create", "api_token", name, payload)
            return CreatedToken(_view(row), secret)
    except sa.exc.IntegrityError:
        raise Conflict(f"A token named {name!r} was created at the same time.") from None


def list_tokens(engine: Engine, actor: Actor) -> list[TokenView]:
    require(actor, Role.admin, "list API tokens")
    with read_session(engine) as session:
        return [_view(t) for t in session.exec(select(ApiToken).order_by(ApiToken.name)).all()]


def revoke_token(engine: Engine, actor: Actor, name: str) -> TokenView:
    """Admins only; at once for every later request. Revoking twice is refused."""
    require(actor, Role.admin, "revoke API tokens")
    with write_session(engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == (name or "").strip()).with_for_update()).first()
        if row is None:
            raise NotFound(f"No API token named {name!r}.")
        if row.revoked_at is not None:
            raise Conflict(f"The token {row.name!r} was revoked already ({to_utc(row.revoked_at):%Y-%m-%d %H:%M} UTC).")
        row.revoked_at, row.revoked_by = utcnow(), actor.label
        session.add(row)
        session.flush()
        audit.record(session, actor, "token.revoke", "api_token", row.name, {})
        return _view(row)


def authenticate(engine: Engine, secret: str | None, now: datetime | None = None) -> TokenActor:
    """The acting token for a request's bearer secret; AuthenticationFailed saying why not."""
    if not secret:
        raise AuthenticationFailed("No API token: send 'Authorization: Bearer <token>'.")
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationFailed("Unknown API token.")
    with read_session(engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(secret))).first()
    if row is None:
        raise AuthenticationFailed("Unknown API token.")
    view = _view(row)
    status = view.status(now)
    if status != "active":
        raise AuthenticationFailed(f"The API token {row.name!r} is {status}.")
    return TokenActor(label=f"token:{row.name}", role=role_for(row.scopes), scopes=frozenset(row.scopes),
                      models=frozenset(row.models) if row.models else None, token_id=row.id,
                      rate_per_minute=row.rate_per_minute)  # fmt: skip
