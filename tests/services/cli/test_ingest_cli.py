"""`python -m services ingest KIND FILE`: result line on success, file:row:column problems and exit 2."""

from __future__ import annotations

import pytest
from sqlmodel import SQLModel

from services.cli.main import main
from services.core import audit
from services.core.db import make_engine
from tests.services.ingest.test_ingest import SAMPLES, counts, csv_bytes, prediction_rows, seed


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    seed(engine)
    yield engine
    engine.dispose()


def test_cli_imports_and_prints_the_result(cli_db, capsys):
    assert main(["ingest", "predictions", str(SAMPLES / "predictions.csv")]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("10 rows: 10 new, 0 already known, 0 redactions, ") and out.endswith(" s")
    assert main(["ingest", "predictions", str(SAMPLES / "predictions.csv"), "--no-progress"]) == 0
    assert "10 rows: 0 new, 10 already known" in capsys.readouterr().out
    events = audit.list_events(cli_db, audit.AuditFilter(action="data.import"))
    assert events.iloc[0].actor.startswith("cli:")


def test_cli_lists_problems_and_exits_2(cli_db, capsys, tmp_path):
    rows = prediction_rows(30, score=3)
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(rows))
    before = counts(cli_db)
    assert main(["ingest", "predictions", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "30 problems; nothing was imported." in err
    assert "bad.csv:2:score: score 3 is outside [0, 1]" in err
    assert "... and 10 more" in err
    assert counts(cli_db) == before


def test_cli_missing_file(cli_db, capsys, tmp_path):
    assert main(["ingest", "outcomes", str(tmp_path / "nope.csv"), "--no-progress"]) == 2
    assert "nope.csv: cannot read the file" in capsys.readouterr().err


def test_cli_shows_a_progress_bar_on_a_terminal(cli_db, monkeypatch, capsys):
    """On a terminal the import draws a tqdm bar on stderr through its stages; piped, it draws none."""
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["ingest", "predictions", str(SAMPLES / "predictions.csv")]) == 0
    err = capsys.readouterr().err
    assert "reading the file:" in err and "writing 10 new rows:  98%|" in err, err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert main(["ingest", "predictions", str(SAMPLES / "predictions.csv")]) == 0
    assert "%" not in capsys.readouterr().err
