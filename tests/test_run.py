"""`python3 run.py app`: the demo (published passwords) loads only into the default SQLite file or when
asked, and the UI binds to 127.0.0.1 unless configured (issue 13.6)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def test_the_dev_set_installs_as_listed_and_resolves_only_when_pip_check_fails(monkeypatch):
    """run.py test installs constraints.txt's list --no-deps, then `pip check`; a failed check resolves."""
    for check_code, resolves in ((0, False), (1, True)):
        calls: list[list[str]] = []

        def fake_run(command, check_code=check_code, calls=calls, **_):
            calls.append(command)
            return run.subprocess.CompletedProcess(command, check_code if "check" in command else 0, "", "")

        monkeypatch.setattr(run.subprocess, "run", fake_run)
        run.install_pinned("requirements-dev.txt")
        assert "--no-deps" in calls[0] and str(run.ROOT / "constraints.txt") in calls[0]
        assert calls[1][-2:] == ["pip", "check"]
        assert (len(calls) == 3) == resolves
        if resolves:
            assert "--no-deps" not in calls[2] and calls[2][-2:] == ["-c", str(run.ROOT / "constraints.txt")]
    calls.clear()
    run.install_pinned("requirements.txt")  # the app's set: resolved within the pins, no dev packages
    assert len(calls) == 1 and "--no-deps" not in calls[0]


def _pins(path: Path) -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {canonicalize_name(r.name): str(r.specifier)[2:] for r in map(Requirement, filter(None, lines))}


def test_constraints_pin_every_dependency_of_the_dev_set():
    """The dev set's closure (requirements-dev.txt with the extras it asks for, through every installed
    package's own requirements) is exactly what constraints.txt pins, at those versions: what makes the
    --no-deps install of that list (run.install_pinned) the install pip's resolver would make."""
    pins = _pins(run.ROOT / "constraints.txt")
    lines = [line.split("#", 1)[0].strip() for name in ("requirements.txt", "requirements-dev.txt")
             for line in (run.ROOT / name).read_text().splitlines()]  # fmt: skip
    todo = [Requirement(line) for line in lines if line and not line.startswith("-r")]
    seen: set[tuple[str, str]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} (a dependency) is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {requirement}"
        for extra in {"", *requirement.extras} - {e for n, e in seen if n == name}:
            seen.add((name, extra))
            for text in metadata.requires(name) or []:
                needed = Requirement(text)
                if needed.marker is None or needed.marker.evaluate({"extra": extra}):
                    todo.append(needed)
    # A pin nothing here needs must be a dependency on another platform (pandas' tzdata on Windows), not stale.
    elsewhere = {
        canonicalize_name(Requirement(text).name) for name, _ in seen for text in metadata.requires(name) or []
    }
    assert set(pins) - {name for name, _ in seen} <= elsewhere
