"""The queue editor's session state: its pending edits, the rows they were made on, and reloading it
(shared by the queue and the bulk bar).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from pages.feedback import keys
from pages.feedback.editor_rows import snapshot
from services.core.errors import Conflict, LoopdeckError


def editor_state(key: str) -> dict:
    return st.session_state.get(key) or {}


def snapshot_rows(key: str) -> list[dict[str, Any]]:
    stored = st.session_state.get(keys.SNAPSHOT) or {}
    return snapshot(stored["rows"]) if stored.get("key") == key else []


def reload_editor() -> None:
    st.session_state[keys.GENERATION] = st.session_state.get(keys.GENERATION, 0) + 1
    st.session_state.pop(keys.SNAPSHOT, None)


def after(result: Any) -> None:
    """Saved, or someone else was first (Conflict): drop the edits and show the current rows.
    Other refusals (a transition not allowed, ...) keep the edits so they can be corrected."""
    if not isinstance(result, LoopdeckError) or isinstance(result, Conflict):
        reload_editor()
