"""Alembic environment: batch mode on SQLite so ALTERs work; the URL comes from LOOPDECK_DATABASE_URL."""

from alembic import context
from sqlmodel import SQLModel

import services.core.schema  # noqa: F401  (registers the tables on SQLModel.metadata)
import services.jobs.schema  # noqa: F401
import services.notify.schema  # noqa: F401
from services.core.db import make_engine

target_metadata = SQLModel.metadata


def include_name(name, type_, parent_names) -> bool:
    """Autogenerate ignores the queue library's own tables (procrastinate, created by migration 0014)."""
    table = name if type_ == "table" else (parent_names or {}).get("table_name") or ""
    return not table.startswith("procrastinate_")


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with make_engine().begin() as conn:
        _run(conn)
