"""What every Feedback view of one run shares: the Page (who, which engine, the filter), the cached
reads, and the callback helpers (re-read the actor, one service call with its message, set the filter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import state, widgets
from app.format import md_escape
from pages.feedback.filter_state import FilterState, widget_values
from services.core import users
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.feedback import themes
from services.feedback import triage as feedback
from services.feedback.triage import QueueFilter


@dataclass(frozen=True)
class Page:
    """What every view of one run needs."""

    me: Actor
    engine: Engine
    facets: feedback.QueueFacets
    filter: FilterState
    queue_filter: QueueFilter

    @property
    def can_triage(self) -> bool:
        return self.me.can(Role.analyst)


@st.cache_data(ttl=30, show_spinner=False)
def cached_facets(url: str) -> feedback.QueueFacets:
    """The filters' choices change rarely (an import, a re-clustering, an admin's categories)."""
    return feedback.facets(state.get_engine(url))


@st.cache_data(ttl=120, show_spinner=False)
def cached_theme_volume(url: str, freq: str) -> pd.DataFrame:
    """Items per theme and period change only with new feedback or a re-clustering (which clears
    this); reading them takes ~1.7 s at 100,000 items, so they are not re-read on every click."""
    return themes.theme_volume(state.get_engine(url), freq)


def clear_theme_caches() -> None:
    cached_facets.clear()
    cached_theme_volume.clear()


def fresh_actor(engine: Engine) -> Actor | None:
    """Callbacks run before the page re-reads the user: re-read here so a demoted account cannot act."""
    user_id = st.session_state.get(state.USER_ID)
    return users.current_actor(engine, user_id) if user_id is not None else None


def act(call, success) -> Any:
    """One service call from a callback; its message shows at the top of the run that follows.
    Returns the result, or the LoopdeckError it raised. Error messages quote user data (feedback
    ids, names), so they are escaped before they reach a markdown element."""
    try:
        result = call()
    except LoopdeckError as exc:
        widgets.flash("error", md_escape(str(exc)))
        return exc
    widgets.flash("success", success(result) if callable(success) else success)
    return result


def set_filter(new: FilterState) -> None:
    for key, value in widget_values(new).items():
        st.session_state[key] = value
