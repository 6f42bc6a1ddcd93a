"""Engine set-up: SQLite in WAL mode with foreign keys enforced; writers start with BEGIN IMMEDIATE."""

import pytest
import sqlalchemy as sa

from services.core.db import make_engine, write_session
from services.core.schema_ingest import Outcome


def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_row_pointing_at_nothing_is_refused(engine):
    """Foreign keys hold on both databases: an outcome for a prediction that does not exist is refused."""
    from datetime import UTC, datetime

    with pytest.raises(sa.exc.IntegrityError), write_session(engine) as session:
        session.add(Outcome(request_id="nope", ts=datetime(2026, 1, 1, tzinfo=UTC), actual_label=1))
