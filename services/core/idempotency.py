"""Idempotency-Key: the answer to a write is remembered per (token, key) and replayed on a retry.

Writes are idempotent on their natural ids anyway (a retried batch finds its rows known); the
remembered answer lets a retry get the first answer back (same counts, same ids) instead of
"0 new, N known". The answer is stored after the write commits: a crash in between only means the
retry is answered from the natural ids. Keys are kept for RETENTION, then pruned.
"""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput
from services.core.timeutil import utcnow
from services.core.tokens_schema import ApiIdempotency

RETENTION = timedelta(hours=24)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")  # printable ASCII without spaces
PRUNE_CHANCE = 0.01


def check_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not KEY_PATTERN.match(key):
        raise InvalidInput("The Idempotency-Key header must be 1 to 200 printable ASCII characters without spaces.")
    return key


def replay(engine: Engine, who: str, key: str | None, endpoint: str) -> dict[str, Any] | None:
    """The remembered answer for this key, or None. The same key on another endpoint is refused."""
    if key is None:
        return None
    with read_session(engine) as session:
        row = session.get(ApiIdempotency, (who[:100], key))
    if row is None or row.created_at is None:
        return None
    if row.endpoint != endpoint:
        raise Conflict(f"The Idempotency-Key {key!r} was used for {row.endpoint}; use a new key for {endpoint}.")
    return dict(row.response)


def remember(engine: Engine, who: str, key: str | None, endpoint: str, response: dict[str, Any]) -> None:
    if key is None:
        return
    row = {"token_name": who[:100], "key": key, "endpoint": endpoint, "response": response, "created_at": utcnow()}
    with write_session(engine) as session:
        insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(ApiIdempotency).values(**row).on_conflict_do_nothing())
        if random.random() < PRUNE_CHANCE:
            session.execute(sa.delete(ApiIdempotency).where(ApiIdempotency.created_at < utcnow() - RETENTION))
