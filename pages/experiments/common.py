"""What several views of the Experiments screen share: switching view (and experiment) on the next run,
the experiment picker, and the labels of model versions."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from pages.experiments import keys
from services.models import registry


def model_labels(engine: Engine) -> dict[int, str]:
    return {v.id: f"{v.model_name} v{v.version} ({v.status})" for v in registry.list_versions(engine)}


def select_experiment(rows, key: str, label: str = "Experiment"):
    choices = [r.key for r in rows]
    if not choices:
        return None
    current = st.session_state.get(keys.SELECTED)
    if current not in choices:
        running = [r.key for r in rows if r.status == "running"]
        current = running[0] if running else choices[0]
    names = {r.key: f"{r.key} ({r.status}) — {r.name}" for r in rows}
    chosen = st.selectbox(label, choices, index=choices.index(current), format_func=names.get, key=key)
    st.session_state[keys.SELECTED] = chosen
    return next(r for r in rows if r.key == chosen)


def go(view: str, selected: str | None = None) -> None:
    """Switch view (and experiment) on the next run (a callback, or before st.rerun())."""
    st.session_state[keys.GOTO] = (view, selected)


def apply_goto() -> None:
    view, selected = st.session_state.pop(keys.GOTO, (None, None))
    if view:
        st.session_state[keys.VIEW] = view
    if selected:
        st.session_state[keys.SELECTED] = selected
        st.session_state.pop(keys.PICK_READ, None)
        st.session_state.pop(keys.PICK_MANAGE, None)
