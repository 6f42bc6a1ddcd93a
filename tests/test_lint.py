"""Lint and format in CI: `ruff check .` and `ruff format --check .` from the repository root, with the
ruff installed next to the interpreter running the tests (CI runs only pytest). The rules, including
the cyclomatic complexity limit (C901, at most 20), are in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).parent / "ruff"


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    if not RUFF.is_file():
        pytest.skip(f"ruff is not installed next to {sys.executable} (pip install -r requirements-dev.txt)")
    return subprocess.run([str(RUFF), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check() -> None:
    result = _ruff("check", ".", "--output-format", "concise")
    assert result.returncode == 0, f"ruff check . found problems:\n{result.stdout}{result.stderr}"


def test_ruff_format() -> None:
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, f"ruff format --check . would reformat:\n{result.stdout}{result.stderr}"
