"""Bearer tokens: every route but /api/v1/health acts as the request's token (services.core.tokens)."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from services.core import tokens

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`python -m services tokens create` or the Admin page): `Authorization: Bearer ldk_...`",
)


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def token_actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> tokens.TokenActor:
    """The acting token (401 when missing, unknown, expired or revoked), within its rate limit (429)."""
    actor = tokens.authenticate(engine_of(request), credentials.credentials if credentials else None)
    request.app.state.limiter.check(actor.label, actor.rate_per_minute, actor.label)
    return actor
