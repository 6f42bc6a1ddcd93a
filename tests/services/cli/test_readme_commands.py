"""The README's import commands work as written on a fresh database (issue 13.6): each line of the
"Importing data" block runs in order, through the shell's own entry point, and exits 0."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from services.cli.main import main as cli
from services.core.db import make_engine, migrate

ROOT = Path(__file__).resolve().parents[3]
PREFIX = ".venv/bin/python -m services "


def _documented_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Importing data", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    return [shlex.split(line[len(PREFIX) :]) for line in lines if line.startswith(PREFIX)]


def test_the_readme_import_commands_run_on_a_fresh_database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    monkeypatch.chdir(ROOT)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    commands = _documented_commands()
    assert [c[0] for c in commands[:2]] == ["models", "experiments-create"] and len(commands) == 7
    for command in commands:
        assert cli(command) == 0, command


@pytest.mark.parametrize(("kind", "missing"), [("predictions", "demo-churn"), ("exposures", "exp-demo-offer")])
def test_without_the_set_up_lines_the_samples_are_refused_with_a_reason(tmp_path, monkeypatch, capsys, kind, missing):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    assert cli(["ingest", kind, str(ROOT / "data" / "samples" / f"{kind}.csv")]) == 2
    shown = capsys.readouterr()
    assert missing in shown.out + shown.err
