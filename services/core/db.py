"""Engine and sessions. One engine per process; one session (one transaction) per action.

LOOPDECK_DATABASE_URL picks the database (default: SQLite at data/loopdeck.db; see services/core/config.py).
SQLite runs in WAL mode with foreign keys on; write transactions start with BEGIN IMMEDIATE so
two writers queue on the lock instead of failing halfway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core import (
    db_errors,
    schema,  # noqa: F401  (registers every table before any session opens; see its docstring)
)
from services.core.config import database_url

ROOT = Path(__file__).resolve().parents[2]


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str | None = None) -> Engine:
    """An engine for the URL (default: LOOPDECK_DATABASE_URL). A URL that cannot name a database, or
    names a driver that is not installed, raises DatabaseUnavailable saying so."""
    url = url or database_url()
    try:
        return _create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise db_errors.explain(exc) from exc


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get("loopdeck_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: commits on success, rolls back on any error."""
    with Session(engine.execution_options(loopdeck_write=True), expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """Objects stay readable after the block (close() detaches them without expiring)."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def migrate(engine_or_url: Engine | str | None = None, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic (the only way the schema changes outside tests)."""
    from alembic import command
    from alembic.config import Config

    engine = engine_or_url if isinstance(engine_or_url, Engine) else make_engine(engine_or_url)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def schema_problem(engine: Engine) -> str | None:
    """None when the database is at the latest migration; otherwise what to do about it. A database that
    cannot be opened raises DatabaseUnavailable."""
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        if db_errors.is_connection_error(exc):
            raise db_errors.explain(exc) from exc  # one sentence and a hint, not the driver's traceback
        raise
    if current == head:
        return None
    return (
        f"The database schema is at {current or 'nothing (empty database)'}, not at the latest migration {head}. "
        "Run `python -m services init-db` (or `python3 run.py app`, which does it) and reload."
    )


def utc_day(column, engine: Engine):
    """SQL for the UTC calendar day of a timestamp column, as 'YYYY-MM-DD' text on both databases."""
    if is_sqlite(engine):
        return sa.func.date(column)  # SQLite stores UTC text
    return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
