"""Code size limits on the runtime tree (DESIGN.md: modules under 500 lines, functions under 80).

Runtime code is services/, app/, pages/, api/ and worker/ (when present), streamlit_app.py and run.py;
tests/, bench/ and migrations/ are not checked. A module's size is its line count; a function's is
end_lineno - lineno + 1 of its def, for every def and async def, nested ones and methods included.
Cyclomatic complexity (at most 20) is ruff's C901, run by tests/test_lint.py.

ALLOW_LIST holds the only exceptions, "path" for a module or "path::qualified.name" for a function,
each with the reason it may stay. Keep it short: an entry that no longer exceeds its limit fails the
test too, so it is removed as soon as the code is fixed. bench/code_metrics.py prints the figures.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIRS = ("services", "app", "pages", "api", "worker")
RUNTIME_FILES = ("streamlit_app.py", "run.py")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

ALLOW_LIST: dict[str, str] = {}


def runtime_files() -> list[Path]:
    files = [ROOT / name for name in RUNTIME_FILES if (ROOT / name).is_file()]
    for name in RUNTIME_DIRS:
        if (ROOT / name).is_dir():
            files.extend(p for p in (ROOT / name).rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(files)


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, line count) of every def under `tree`, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{prefix}{node.name}"
            yield name, node.end_lineno - node.lineno + 1
            yield from _functions(node, f"{name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def measure() -> dict[str, int]:
    """{"path": lines} for modules over the limit and {"path::function": lines} for functions over it."""
    over: dict[str, int] = {}
    for path in runtime_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            over[rel] = lines
        for name, length in _functions(ast.parse(text, filename=rel)):
            if length > MAX_FUNCTION_LINES:
                over[f"{rel}::{name}"] = length
    return over


def test_runtime_tree_is_found() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in runtime_files()}
    assert "streamlit_app.py" in files
    assert any(f.startswith("services/") for f in files)
    assert not any(f.startswith(("tests/", "bench/", "migrations/")) for f in files)


def test_no_module_or_function_over_the_limits() -> None:
    over = {key: n for key, n in measure().items() if key not in ALLOW_LIST}
    if over:
        lines = "\n".join(
            f"  {key}: {n} lines (limit {MAX_FUNCTION_LINES if '::' in key else MAX_MODULE_LINES})"
            for key, n in sorted(over.items())
        )
        pytest.fail(f"Over the size limits (split them, or allow-list with a reason in {__name__}):\n{lines}")


def test_allow_list_has_no_stale_entries() -> None:
    over = measure()
    stale = sorted(key for key in ALLOW_LIST if key not in over)
    assert not stale, f"These allow-list entries are within the limits now (or gone): remove them: {stale}"


def test_allow_list_entries_say_why() -> None:
    assert all(len(reason.strip()) >= 20 for reason in ALLOW_LIST.values()), "every entry needs a reason"
