"""Tables of the HTTP API: API tokens and remembered answers to Idempotency-Key requests.

Kept out of schema.py so the API's tables travel with the API; services/core/db.py imports this
module, so every process that opens the database has them on SQLModel.metadata (create_all, Alembic).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from services.core.timeutil import utcnow

_Json = sa.JSON().with_variant(JSONB(), "postgresql")


class ApiToken(SQLModel, table=True):
    """A token a pipeline or serving system uses. Only the SHA-256 of the secret is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)  # sha256 hex of the whole token text
    prefix: str = Field(max_length=16)  # the first characters, to recognise a token in a list
    scopes: list = Field(sa_column=sa.Column(_Json, nullable=False))
    models: list | None = Field(default=None, sa_column=sa.Column(_Json, nullable=True))  # None: every model
    rate_per_minute: int = Field(default=6000)
    created_by: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=320)


class ApiIdempotency(SQLModel, table=True):
    """The answer given to a write with an Idempotency-Key, replayed when the same token sends the key again."""

    __tablename__ = "api_idempotency"

    token_name: str = Field(max_length=100, primary_key=True)
    key: str = Field(max_length=200, primary_key=True)
    endpoint: str = Field(max_length=200)
    response: Any = Field(sa_column=sa.Column(_Json, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)
