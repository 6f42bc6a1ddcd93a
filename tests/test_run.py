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
    monkeypatch.setattr(run.subprocess, "Popen", lambda command, **_: calls.append(command) or _Exited())
    for name in ("LOOPDECK_DATABASE_URL", "LOOPDECK_HOST", "LOOPDECK_PORT"):
        monkeypatch.delenv(name, raising=False)
    return calls


class _Exited:
    """A child process that has already exited (stop_child leaves it alone)."""

    def poll(self) -> int:
        return 0


def _init_db(calls: list[list[str]]) -> list[str]:
    return next(c for c in calls if "init-db" in c)


def _streamlit(calls: list[list[str]]) -> list[str]:
    return next(c for c in calls if "streamlit" in c)


def test_the_default_sqlite_file_gets_the_demo_on_localhost(launched):
    assert run.run_app([]) == 0
    assert "--demo" in _init_db(launched)
    ui = _streamlit(launched)
    assert ui[ui.index("--server.address") + 1] == "127.0.0.1"
    started = [c[c.index("services") + 1] for c in launched if "services" in c]
    assert started == ["init-db", "api", "worker"]  # beside the UI: the API and the job worker


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


def test_children_cache_bytecode_outside_the_sources(monkeypatch):
    """PYTHONDONTWRITEBYTECODE would make every child compile every module again; they cache it in .venv."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    environment = run.child_environment()
    assert "PYTHONDONTWRITEBYTECODE" not in environment
    assert environment["PYTHONPYCACHEPREFIX"] == str(run.VENV / "pycache")
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE")
    assert "PYTHONPYCACHEPREFIX" not in run.child_environment()  # otherwise Python's own default
