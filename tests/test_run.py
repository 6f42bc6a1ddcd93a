"""`python3 run.py app`: the demo (published passwords) loads only into the default SQLite file or when
asked, and the UI binds to 127.0.0.1 unless configured (issue 13.6)."""

from __future__ import annotations

import pytest

import run


@pytest.fixture
def launched(monkeypatch):
    """The commands run_app would start, without starting anything."""
    calls: list[list[str]] = []
    monkeypatch.setattr(run, "ensure_environment", lambda _requirements: None)
    monkeypatch.setattr(run.subprocess, "run", lambda command, **_: calls.append(command))
    monkeypatch.setattr(run.subprocess, "call", lambda command, **_: calls.append(command) or 0)
    for name in ("LOOPDECK_DATABASE_URL", "LOOPDECK_HOST", "LOOPDECK_PORT"):
        monkeypatch.delenv(name, raising=False)
    return calls


def _init_db(calls: list[list[str]]) -> list[str]:
    return next(c for c in calls if "init-db" in c)


def _streamlit(calls: list[list[str]]) -> list[str]:
    return next(c for c in calls if "streamlit" in c)


def test_the_default_sqlite_file_gets_the_demo_on_localhost(launched):
    assert run.run_app([]) == 0
    assert "--demo" in _init_db(launched)
    ui = _streamlit(launched)
    assert ui[ui.index("--server.address") + 1] == "127.0.0.1"


def test_a_team_database_gets_no_demo_unless_asked(launched, monkeypatch):
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", "postgresql+psycopg://team@db:5432/loopdeck")
    run.run_app([])
    assert "--demo" not in _init_db(launched)
    launched.clear()
    run.run_app(["--demo"])
    assert "--demo" in _init_db(launched) and "--demo" not in _streamlit(launched)


def test_host_and_port_are_configurable(launched, monkeypatch):
    monkeypatch.setenv("LOOPDECK_HOST", "0.0.0.0")
    monkeypatch.setenv("LOOPDECK_PORT", "9000")
    run.run_app([])
    ui = _streamlit(launched)
    assert ui[ui.index("--server.address") + 1] == "0.0.0.0" and ui[ui.index("--server.port") + 1] == "9000"
