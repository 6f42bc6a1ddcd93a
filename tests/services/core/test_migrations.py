"""Migrations: empty database to head on SQLite and Postgres, and the result matches the models
(so a table change without a migration fails here)."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from services.core import audit, users
from services.core.db import make_engine, migrate


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("postgres_engine")
        monkeypatch.setenv("LOOPDECK_AUDIT_CHECKPOINT_FILE", str(tmp_path / "audit-checkpoints.log"))  # a new chain
        with eng.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        yield eng
        # Leave the shared Postgres test database as the other tests expect it.
        with eng.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        SQLModel.metadata.create_all(eng)


def include_name(name, type_, parent_names) -> bool:
    """Autogenerate ignores the queue library's own tables (procrastinate, created by migration 0014)."""
    table = name if type_ == "table" else (parent_names or {}).get("table_name") or ""
    return not table.startswith("procrastinate_")


def test_empty_to_head_matches_the_models(empty_engine):
    migrate(empty_engine)
    tables = set(sa.inspect(empty_engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    with empty_engine.connect() as conn:
        opts = {"compare_type": False, "include_name": include_name}  # procrastinate's tables are not ours
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), SQLModel.metadata)
    assert diff == [], f"the models differ from the migrated schema; write a migration: {diff}"


def test_migrating_twice_is_a_no_op_and_the_app_works(empty_engine):
    migrate(empty_engine)
    migrate(empty_engine)
    users.create_first_admin(empty_engine, "root@example.com", "Root", "password-123")
    assert audit.verify(empty_engine).intact
    with empty_engine.connect() as conn:
        head = conn.execute(sa.text("SELECT last_event_id FROM audit_head")).scalar_one()
    assert head == 1
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), empty_engine.begin() as conn:  # 0012_audit_guard
        conn.exec_driver_sql("DELETE FROM audit_event")
