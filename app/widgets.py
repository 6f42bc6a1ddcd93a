"""Small Streamlit helpers shared by pages: one-shot messages and calling a service safely."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import streamlit as st

from app import format as fmt
from app import state
from services.core.errors import LoopdeckError

Kind = Literal["success", "info", "warning", "error"]


def flash(kind: Kind, text: str) -> None:
    """Queue a message for the next run (use before st.rerun())."""
    st.session_state.setdefault(state.FLASH, []).append((kind, text))


def show_flash() -> None:
    """Show and forget the queued messages."""
    for kind, text in st.session_state.pop(state.FLASH, []):
        getattr(st, kind)(text)


def attempt(call: Callable[[], Any], success: str | Callable[[Any], str] | None = None, rerun: bool = True) -> Any:
    """Run one service call. A LoopdeckError is shown as its message (never a traceback) and
    returns None. On success the message is flashed and the app reruns, so the page redraws
    from fresh data; with rerun=False the message is shown in place and the result returned."""
    try:
        result = call()
    except LoopdeckError as exc:
        st.error(fmt.md_escape(exc))
        return None
    text = success(result) if callable(success) else success
    if rerun:
        if text:
            flash("success", text)
        st.rerun()
    if text:
        st.success(text)
    return result


def form_key(name: str) -> str:
    """A form key that changes after reset_form(name): a fresh form with empty fields."""
    return f"{name}_{st.session_state.get(f'_form_gen_{name}', 0)}"


def reset_form(name: str) -> None:
    key = f"_form_gen_{name}"
    st.session_state[key] = st.session_state.get(key, 0) + 1
