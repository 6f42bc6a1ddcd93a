"""Each screen folder declares its session-state keys in one place (pages/<screen>/keys.py): the
constants are unique, carry the screen's prefix and a comment each, and no view module spells a key as
a string literal (checked on the source with `ast`, without importing Streamlit pages).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENS = {"feedback": "fb_", "monitoring": "mon_"}


def _constants(screen: str) -> list[tuple[str, str, int]]:
    """(name, value, line) of every module-level string constant in pages/<screen>/keys.py."""
    tree = ast.parse((ROOT / "pages" / screen / "keys.py").read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), ast.unparse(node)
            assert isinstance(node.value, ast.Constant) and isinstance(node.value.value, str), ast.unparse(node)
            found.append((node.targets[0].id, node.value.value, node.lineno))
        else:
            assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant), "keys.py holds constants only"
    return found


def _literal_head(node: ast.expr) -> str | None:
    """The literal text a key expression starts with: a plain string, or an f-string's leading text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return None


def _is_session_state(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


def _literal_keys(path: Path) -> list[str]:
    """Where a module writes a key as a literal: key="..." / key=f"fb_...{x}", st.session_state["..."],
    st.session_state.get/pop/setdefault("..."), st.form("...")."""
    problems = []
    for node in ast.walk(ast.parse(path.read_text())):
        spots: list[ast.expr] = []
        if isinstance(node, ast.Call):
            spots += [kw.value for kw in node.keywords if kw.arg == "key"]
            func = node.func
            if isinstance(func, ast.Attribute) and node.args:
                if func.attr in ("get", "pop", "setdefault") and _is_session_state(func.value):
                    spots.append(node.args[0])
                if func.attr == "form":
                    spots.append(node.args[0])
        elif isinstance(node, ast.Subscript) and _is_session_state(node.value):
            spots.append(node.slice)
        problems += [
            f"{path.parent.name}/{path.name}:{spot.lineno}: {ast.unparse(spot)}"
            for spot in spots
            if _literal_head(spot) is not None
        ]
    return problems


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_key_constants_are_unique_prefixed_and_commented(screen):
    constants = _constants(screen)
    assert constants, f"pages/{screen}/keys.py declares no keys"
    values = [value for _, value, _ in constants]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    assert not duplicates, f"keys declared twice in pages/{screen}/keys.py: {duplicates}"
    names = [name for name, _, _ in constants]
    assert len(set(names)) == len(names), "a constant is assigned twice"
    assert all(name.isupper() for name in names), names
    assert all(value.startswith(SCREENS[screen]) for value in values), values
    lines = (ROOT / "pages" / screen / "keys.py").read_text().splitlines()
    uncommented = [name for name, _, line in constants if "#" not in lines[line - 1]]
    assert not uncommented, f"say what each key holds: {uncommented}"


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_view_modules_use_the_declared_keys(screen):
    modules = sorted(p for p in (ROOT / "pages" / screen).glob("*.py") if p.name != "keys.py")
    assert len(modules) > 3, modules
    problems = [problem for path in modules for problem in _literal_keys(path)]
    assert not problems, "use the constants of keys.py, not literals:\n" + "\n".join(problems)


def test_the_check_finds_a_literal_key(tmp_path):
    view = tmp_path / "probe.py"
    view.write_text(
        'import streamlit as st\nst.button("x", key="fb_x")\nst.text_input("y", key=f"fb_y_{1}")\n'
        'st.session_state["fb_z"] = 1\nst.session_state.get("fb_w")\nst.form("fb_f")\n'
        "st.button('ok', key=keys.OK)\nst.button('ok', key=f'{keys.P}{1}_a')\n"
    )
    assert len(_literal_keys(view)) == 5
