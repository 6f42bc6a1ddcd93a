"""The `engine` fixture's cheap set-ups hand a test what the expensive ones did: on SQLite a copy of a
template made once per process has the schema create_all makes (tables, indexes, the audit triggers); on
Postgres, emptying only the tables the last test wrote leaves every table empty and every id back at 1."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from services.core import audit_guard
from services.core.db import make_engine
from tests.conftest import _sqlite_copy, _truncate_postgres


def _sqlite_master(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(conn.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_master").all())


def test_a_copy_of_the_sqlite_template_has_the_schema_create_all_makes(sqlite_template, tmp_path):
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    SQLModel.metadata.create_all(fresh)
    copy = _sqlite_copy(sqlite_template, tmp_path)
    assert _sqlite_master(copy) == _sqlite_master(fresh)
    triggers = {name for kind, name, *_ in _sqlite_master(copy) if kind == "trigger"}
    assert set(audit_guard.SQLITE_TRIGGERS) <= triggers
    tables = {name for kind, name, *_ in _sqlite_master(copy) if kind == "table"}
    assert set(SQLModel.metadata.tables) <= tables
    fresh.dispose()
    copy.dispose()


def test_postgres_is_emptied_of_what_a_test_wrote_and_ids_restart(postgres_engine):
    tables = SQLModel.metadata.tables
    with postgres_engine.begin() as conn:  # a row kept
        conn.execute(tables["theme"].insert().values(label="kept"))
    with postgres_engine.connect() as conn:  # a row rolled back: the table stays empty, its sequence moved on
        conn.execute(tables["user_account"].insert().values(email="gone@example.com"))
        conn.rollback()
    _truncate_postgres(postgres_engine)
    counts = " UNION ALL ".join(f"SELECT '{name}', count(*) FROM \"{name}\"" for name in tables)
    with postgres_engine.begin() as conn:
        assert [name for name, n in conn.exec_driver_sql(counts) if n] == []
        assert conn.execute(tables["theme"].insert().values(label="new")).inserted_primary_key[0] == 1
        assert (
            conn.execute(tables["user_account"].insert().values(email="new@example.com")).inserted_primary_key[0] == 1
        )
    _truncate_postgres(postgres_engine)
