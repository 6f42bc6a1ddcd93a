"""`python -m services monitoring refresh|check-summaries|rebuild-summaries MODEL VERSION` on a migrated
database (0019_fold included): the fold, the check (exit 1 when the summaries differ from the rows) and
the audited rebuild, as the host's operator; the worker's rebuild task runs the same service."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.cli.main import main
from services.core.db import make_engine, write_session
from services.core.roles import Actor
from services.core.schema_accounts import AuditEvent
from services.core.schema_monitoring import MonitoringDaySummary
from tests.services import factories
from worker import loop_tasks
from worker.tasks import TaskContext

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def engine_url(migrated_sqlite_url, tmp_path, monkeypatch):
    url = migrated_sqlite_url
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    return url


def test_refresh_check_and_rebuild(engine_url, capsys):
    engine = make_engine(engine_url)
    mv = factories.model_version(engine, "churn")
    factories.predictions(engine, mv, 48, start=START)
    assert main(["monitoring", "refresh"]) == 0
    assert "Day summaries updated: 48 prediction(s) folded" in capsys.readouterr().out
    assert main(["monitoring", "check-summaries", "churn", "1"]) == 0
    assert "agree with the table: 2 day(s), 48 row(s)" in capsys.readouterr().out
    with write_session(engine) as session:
        session.execute(sa.delete(MonitoringDaySummary).where(MonitoringDaySummary.day == START.date()))
    assert main(["monitoring", "check-summaries", "churn", "1"]) == 1
    assert "difference" in capsys.readouterr().out
    assert main(["monitoring", "rebuild-summaries", "churn", "1"]) == 0
    assert "Day summaries rebuilt: 48 prediction(s)" in capsys.readouterr().out
    assert main(["monitoring", "check-summaries", "churn", "1"]) == 0
    assert main(["monitoring", "check-summaries", "nope", "1"]) == 2
    assert "No version 1 of a model named 'nope'" in capsys.readouterr().err
    task = loop_tasks.rebuild_summaries(TaskContext(engine, Actor.cli(), 0, lambda f, m: None),
                                        {"model_name": "churn", "version": 1})  # fmt: skip
    assert task["predictions"] == 48 and task["days"] == 2
    with engine.connect() as conn:
        actions = conn.execute(sa.select(AuditEvent.action).where(AuditEvent.action.like("monitoring.%"))).scalars()
        assert list(actions) == ["monitoring.summaries_rebuild"] * 2
