"""`python -m services retention set|run|list` and `erase REQUEST_ID --reason TEXT` on a migrated
database (the 0018 migration included): the same audited services, as the host's operator."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.cli.main import main
from services.core.db import make_engine
from services.core.schema_accounts import AuditEvent
from services.core.schema_ingest import Prediction
from tests.services import factories

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def engine_url(migrated_sqlite_url, tmp_path, monkeypatch):
    url = migrated_sqlite_url
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    return url


def test_retention_set_run_list_and_erase(engine_url, capsys):
    engine = make_engine(engine_url)
    mv = factories.model_version(engine, "churn")
    ids = factories.predictions(engine, mv, 24 * 5, start=START)
    assert main(["retention", "set", "churn", "2"]) == 0
    assert "churn: raw rows are kept 2 days." in capsys.readouterr().out
    assert main(["retention", "run"]) == 0
    assert "churn: kept 2 days (from 2026-11-03); purged 48 prediction(s)" in capsys.readouterr().out
    assert main(["retention", "list"]) == 0
    assert "churn: 2 days (purged before 2026-11-03)" in capsys.readouterr().out
    assert main(["erase", ids[-5], "--reason", "DSR-7"]) == 0
    assert "Erased: 1 prediction(s), 0 outcome(s)" in capsys.readouterr().out
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Prediction)).scalar() == 24 * 5 - 48 - 1
        actions = conn.execute(sa.select(AuditEvent.action, AuditEvent.actor).order_by(AuditEvent.id)).all()
    assert [a for a, _ in actions] == ["retention.set", "retention.purge", "request.erase"]
    assert all(actor.startswith("cli:") for _, actor in actions)


def test_erase_needs_a_reason_and_reports_errors(engine_url, capsys):
    with pytest.raises(SystemExit):
        main(["erase", "req-1"])
    assert main(["erase", "req-1", "--reason", " "]) == 2
    assert "reason" in capsys.readouterr().err
    assert main(["retention", "set", "nope", "3"]) == 2
