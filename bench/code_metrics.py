"""Print code-size figures for the runtime tree: the largest modules and the longest functions.

    python bench/code_metrics.py [--top N] [--over LINES]

Runtime code is what tests/architecture/test_code_size.py checks: services/, app/, pages/, api/
and worker/ (when present), streamlit_app.py and run.py; tests/, bench/ and migrations/ are not.
A function's length is end_lineno - lineno + 1 of its def (nested defs counted on their own too).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIRS = ("services", "app", "pages", "api", "worker")
RUNTIME_FILES = ("streamlit_app.py", "run.py")


def runtime_files(root: Path = ROOT) -> list[Path]:
    """Every runtime Python file under root, sorted."""
    files = [root / name for name in RUNTIME_FILES if (root / name).is_file()]
    for name in RUNTIME_DIRS:
        if (root / name).is_dir():
            files.extend(p for p in (root / name).rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(files)


def module_lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def function_lengths(path: Path) -> list[tuple[str, int]]:
    """(qualified name, line count) for every def in the file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                found.append((name, child.end_lineno - child.lineno + 1))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5, help="how many of the largest modules to list")
    parser.add_argument("--over", type=int, default=60, help="list functions longer than this")
    args = parser.parse_args(argv)

    files = runtime_files()
    sizes = sorted(((module_lines(p), p.relative_to(ROOT).as_posix()) for p in files), reverse=True)
    print(f"runtime modules: {len(files)}, lines: {sum(n for n, _ in sizes):,}")
    over_500 = sum(1 for n, _ in sizes if n > 500)
    print(f"modules over 500 lines: {over_500}, over 400: {sum(1 for n, _ in sizes if n > 400)}")
    print(f"largest {args.top} modules:")
    for n, rel in sizes[: args.top]:
        print(f"  {n:>6,}  {rel}")

    long_functions = sorted(
        (
            (n, f"{p.relative_to(ROOT).as_posix()}::{name}")
            for p in files
            for name, n in function_lengths(p)
            if n > args.over
        ),
        reverse=True,
    )
    over_80 = sum(1 for n, _ in long_functions if n > 80)
    print(f"functions over {args.over} lines: {len(long_functions)} (over 80: {over_80})")
    for n, where in long_functions:
        print(f"  {n:>6}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
