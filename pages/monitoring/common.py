"""Small helpers the Monitoring views share: a session-state default, and a progress bar for a long call."""

from __future__ import annotations

import streamlit as st

CUSTOM = "custom"  # the window pickers' "Custom range" choice
ALL_ROWS = ""  # the cohort pickers' "(all rows)" choice


def set_default(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def progress_call(fn, text: str):
    """Run fn(progress) with a progress bar that disappears afterwards (cached results finish at once)."""
    holder = st.empty()
    bar = None

    def progress(f: float, message: str) -> None:
        nonlocal bar
        if bar is None:
            bar = holder.progress(0.0, text=text)
        bar.progress(min(max(f, 0.0), 1.0), text=f"{text}: {message}")

    try:
        return fn(progress)
    finally:
        holder.empty()
