"""Playing someone with write access to the database: the audit triggers stop plain SQL, so the
attacker first takes them away (the tables' owner can on Postgres; anyone who can write the file on
SQLite), changes rows, and puts them back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from services.core import audit_guard


@contextmanager
def as_attacker(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        audit_guard.remove(conn)
        yield conn
        audit_guard.install(conn)
