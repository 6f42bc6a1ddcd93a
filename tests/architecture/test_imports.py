"""The import graph of services/: no cycles, no UI or server frameworks, no lower package importing a
higher one. Built with `ast` from the source, counting imports inside functions too (an import hidden
in a function to dodge a cycle is still a dependency)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"

# The loop's layers, top -> bottom (DESIGN.md): a package may import its own layer's packages only
# without a cycle, and any package below it; never one above. `models | experiments` share a level.
# Top-level modules of services/ (services.kinds, the request-kind bootstrap) sit with cli at the top.
LAYERS: list[set[str]] = [
    {"cli", "__main__", "kinds"},
    {"overview"},
    {"ingest"},
    {"models", "experiments"},
    {"monitoring"},
    {"feedback"},
    {"governance"},
    {"backlog"},
    {"jobs"},  # the queue and schedules: any service may enqueue; tasks live in worker/, above everything
    {"notify"},  # events and channels: any service may publish inside its transaction
    {"stats"},
    {"core"},
]
FORBIDDEN_ROOTS = {"streamlit", "fastapi", "starlette", "app", "pages", "api", "worker"}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """Every module `path` imports, at module level or inside a function (names resolved to modules)."""
    out: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path.name == "__init__.py", node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    return out


def import_graph(package: Path = SERVICES) -> dict[str, set[str]]:
    """module -> the modules it imports, for every module under `package` (named from its parent)."""
    files = {_module_name(p, package.parent): p for p in package.rglob("*.py")}
    known = set(files)
    return {m: _imports(p, m, known) for m, p in files.items()}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" else None


def _level(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"services/{package} is in no layer: add it to LAYERS in {__file__}")


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def edges(m: str) -> Iterable[str]:
        return (t for t in graph.get(m, ()) if t in graph and t != m)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return cycles


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "services"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("def f():\n    from services.a import y\n")
    (pkg / "a" / "y.py").write_text("from services.a import x\n")
    g = import_graph(pkg)
    assert find_cycles(g) == [["services.a.x", "services.a.y"]]


def test_no_import_cycle_between_services_modules(graph):
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in services/:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_services_import_no_ui_server_or_worker(graph):
    bad = sorted(
        f"{m} imports {t}" for m, targets in graph.items() for t in targets if t.split(".")[0] in FORBIDDEN_ROOTS
    )
    assert not bad, "\n".join(bad)


def test_no_lower_package_imports_a_higher_one(graph):
    bad = []
    for module, targets in graph.items():
        here = _package(module)
        if here is None:
            continue
        for target in targets:
            there = _package(target)
            if there is not None and there != here and _level(there) < _level(here):
                bad.append(f"{module} ({here}) imports {target} ({there}), a higher layer")
    assert not bad, "\n".join(sorted(bad))


def test_packages_on_one_level_do_not_import_each_other_both_ways(graph):
    deps: dict[str, set[str]] = {}
    for module, targets in graph.items():
        here = _package(module)
        for target in targets:
            there = _package(target)
            if here and there and here != there:
                deps.setdefault(here, set()).add(there)
    both = sorted({tuple(sorted((a, b))) for a, bs in deps.items() for b in bs if a in deps.get(b, set())})
    assert not both, f"packages importing each other: {both}"


def test_a_lower_package_importing_a_higher_one_is_found(tmp_path):
    pkg = tmp_path / "services"
    for sub in ("core", "governance", "models"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "governance" / "approvals.py").write_text("def f():\n    from services.models import rollout\n")
    (pkg / "models" / "rollout.py").write_text("import streamlit\n")
    g = import_graph(pkg)
    assert g["services.governance.approvals"] == {"services.models.rollout"}
    assert _level(_package("services.models.rollout")) < _level(_package("services.governance.approvals"))
    assert "streamlit" in g["services.models.rollout"]
