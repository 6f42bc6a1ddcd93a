"""Every environment variable is read in services/core/config.py and listed in the README."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from services.core import config

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("services", "app", "pages", "api", "worker", "data")
CONFIG = ROOT / "services" / "core" / "config.py"


def _runtime_files() -> list[Path]:
    files = [ROOT / "streamlit_app.py", ROOT / "run.py"]
    for folder in RUNTIME:
        files += sorted((ROOT / folder).rglob("*.py")) if (ROOT / folder).is_dir() else []
    return files


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that touch os.environ or os.getenv (reading or writing)."""
    names = {"environ", "getenv", "putenv"}
    attributes = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in names]
    imports = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "os" and any(a.name in names for a in n.names)
    ]  # fmt: skip
    return sorted(n.lineno for n in attributes + imports)


def test_only_the_config_module_reads_the_environment():
    offenders = []
    for path in _runtime_files():
        if path == CONFIG:
            continue
        for line in _reads_environment(ast.parse(path.read_text(), str(path))):
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert not offenders, f"read environment variables through services/core/config.py: {offenders}"


def test_every_variable_the_config_module_reads_is_catalogued():
    used = set(re.findall(r'"(LOOPDECK_[A-Z0-9_]+)"', CONFIG.read_text()))
    assert used == {v.name for v in config.VARIABLES}


def test_the_readme_lists_every_variable():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `(LOOPDECK_[A-Z0-9_]+)` \|", readme, flags=re.M))
    assert listed == {v.name for v in config.VARIABLES}


def test_a_bad_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("LOOPDECK_PORT", "eighty")
    try:
        config.ui_port()
    except config.ConfigError as error:
        assert "LOOPDECK_PORT" in str(error) and "'eighty'" in str(error)
    else:
        raise AssertionError("expected a ConfigError")
