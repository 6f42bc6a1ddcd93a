"""Every screen declares its session-state keys in one place, pages/<screen>/keys.py, and its view modules
use those constants: checked on the source (ast), for every screen folder under pages/.

- A screen folder with view modules besides page.py has a keys.py that declares its keys (string
  constants, each with a comment saying what it holds).
- The key values are unique across the app (two screens never share a key by accident; a key both
  screens need is declared once in app/ and re-exported by name, which is not a new declaration).
- No module of a screen passes a string literal as a key: not as `key=`, not as st.form's key (its
  first argument), not as a subscript or .get/.pop/.setdefault/`in` of st.session_state. An f-string is
  a literal when its literal text has a letter or digit (f"{keys.EDIT}{item.id}_{version}" is fine,
  f"mdl_verify_{v.id}" is not).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from app import nav

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "pages"
SCREENS = sorted(p for p in PAGES.iterdir() if p.is_dir() and (p / "page.py").is_file())
NOT_VIEWS = {"keys.py", "__init__.py"}
STATE_METHODS = {"get", "pop", "setdefault"}


def _views(screen: Path) -> list[Path]:
    return sorted(p for p in screen.rglob("*.py") if p.name not in NOT_VIEWS)


def _declared(keys_py: Path) -> dict[str, tuple[str, int]]:
    """name -> (value, line) of the module-level string constants of a keys.py."""
    out = {}
    for node in ast.parse(keys_py.read_text()).body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            for target in targets:
                if isinstance(target, ast.Name) and not target.id.startswith("_"):
                    out[target.id] = (value.value, node.lineno)
    return out


def _literal(expr: ast.AST) -> str | None:
    """The literal text of a key expression when it is (or builds on) a string literal, else None."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        text = "".join(v.value for v in expr.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        return text if any(ch.isalnum() for ch in text) else None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _literal(expr.left) or _literal(expr.right)
    return None


def _is_session_state(expr: ast.AST) -> bool:
    return (isinstance(expr, ast.Attribute) and expr.attr == "session_state") or (
        isinstance(expr, ast.Name) and expr.id == "session_state"
    )


def _literal_keys(path: Path, root: Path = ROOT) -> list[str]:
    """'line: literal' for every string literal used as a key in this module."""
    found = []

    def check(expr: ast.AST, line: int, what: str) -> None:
        text = _literal(expr)
        if text is not None:
            found.append(f"{path.relative_to(root)}:{line}: {what} {text!r}")

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "key":
                    check(kw.value, node.lineno, "key=")
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "form" and node.args:
                check(node.args[0], node.lineno, "form key")
            if (
                isinstance(func, ast.Attribute)
                and func.attr in STATE_METHODS
                and _is_session_state(func.value)
                and node.args
            ):
                check(node.args[0], node.lineno, f"session_state.{func.attr}")
        elif isinstance(node, ast.Subscript) and _is_session_state(node.value):
            check(node.slice, node.lineno, "session_state[]")
        elif isinstance(node, ast.Compare) and any(_is_session_state(c) for c in node.comparators):
            check(node.left, node.lineno, "in session_state")
    return found


def test_every_screen_of_the_navigation_is_checked():
    folders = {Path(spec.path).parent for spec in nav.PAGES}
    assert {ROOT / folder for folder in folders} <= set(SCREENS), "a screen of app/nav.py is not a pages/ folder"
    assert not list(PAGES.glob("*.py")), "no script sits directly in pages/ (Streamlit would serve it ungated)"


@pytest.mark.parametrize("screen", SCREENS, ids=lambda p: p.name)
def test_a_screen_with_view_modules_declares_its_keys_in_keys_py(screen):
    views = [p for p in _views(screen) if p.name != "page.py"]
    keys_py = screen / "keys.py"
    if not views:  # only the thin entry: nothing to declare (yet)
        assert not _literal_keys(screen / "page.py")
        return
    assert keys_py.is_file(), f"{screen.name} has view modules but no keys.py"
    declared = _declared(keys_py)
    assert declared, f"{keys_py.relative_to(ROOT)} declares no key"
    lines = keys_py.read_text().splitlines()
    uncommented = [name for name, (_, line) in declared.items() if "#" not in lines[line - 1]]
    assert not uncommented, f"{keys_py.relative_to(ROOT)}: say what each key holds: {uncommented}"


def test_key_values_are_unique_across_the_app():
    """Keys and prefixes are unique; suffixes (values starting with "_", always appended to a prefix of
    their screen) may repeat, e.g. "_name" in two forms."""
    owners: dict[str, list[str]] = defaultdict(list)
    for screen in SCREENS:
        keys_py = screen / "keys.py"
        if keys_py.is_file():
            for name, (value, _) in _declared(keys_py).items():
                if not value.startswith("_"):
                    owners[value].append(f"{screen.name}.{name}")
    shared = {value: names for value, names in owners.items() if len(names) > 1}
    assert owners, "no screen declares keys"
    assert not shared, f"key values declared more than once: {shared}"


@pytest.mark.parametrize("screen", SCREENS, ids=lambda p: p.name)
def test_no_module_of_a_screen_uses_a_string_literal_as_a_key(screen):
    found = [hit for path in _views(screen) for hit in _literal_keys(path)]
    assert not found, "use the constants of keys.py:\n" + "\n".join(found)


def test_the_check_finds_literal_keys(tmp_path):
    """The checker itself: each way of writing a literal key is caught, constants are not."""
    module = tmp_path / "view.py"
    module.write_text(
        "import streamlit as st\n"
        "from pages.x import keys\n"
        "st.button('A', key='lit')\n"
        "st.button('B', key=f'mdl_verify_{v}')\n"
        "st.button('C', key='pre_' + x)\n"
        "st.form('a_form')\n"
        "st.session_state['k1'] = 1\n"
        "st.session_state.get('k2')\n"
        "if 'k3' in st.session_state: pass\n"
        "st.button('D', key=keys.OK)\n"
        "st.button('E', key=f'{keys.PREFIX}{v}_{w}')\n"
        "st.form(keys.FORM)\n"
        "st.session_state[keys.K] = 1\n"
    )
    hits = _literal_keys(module, tmp_path)
    assert sorted(h.split(": ", 1)[1] for h in hits) == sorted(
        [
            "key= 'lit'",
            "key= 'mdl_verify_'",
            "key= 'pre_'",
            "form key 'a_form'",
            "session_state[] 'k1'",
            "session_state.get 'k2'",
            "in session_state 'k3'",
        ]
    )
