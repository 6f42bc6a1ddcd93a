"""The Feedback screen (run by pages/feedback/page.py): the view switch, the filter read from the URL or
the widgets and written back to the URL, then the open view (queue, review, themes or training sets)
and, for admins, the SLA and categories.

Feedback text, theme names, categories and e-mails come from users: the views show them only through
plain-text elements (TextColumn, st.text, widget options). Where one must go into a markdown element
(a success message), `md_escape` neutralises it first.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from pages.feedback import admin, filters, keys, queue, review, themes, training_sets
from pages.feedback.context import Page, cached_facets, set_filter
from pages.feedback.filter_state import (
    PARAMS,
    params_from_state,
    queue_filter,
    same_params,
    sanitize,
    state_from_params,
    state_from_widgets,
    widget_key,
    without_control_characters,
)
from services.core.db import database_url
from services.core.roles import Actor, Role

VIEWS = ("Queue", "Review", "Themes", "Training sets")
VIEW_PARAM = {"Queue": "queue", "Review": "review", "Themes": "themes", "Training sets": "datasets"}
VIEW_FROM_PARAM = {v: k for k, v in VIEW_PARAM.items()}
VIEW_NAMES = {"Queue": "Queue", "Review": "Review mode", "Themes": "Themes", "Training sets": "Training sets"}


def _query_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params.keys()}  # noqa: SIM118


def render(me: Actor, engine: Engine) -> None:
    st.title("Feedback")
    facets = cached_facets(database_url())
    url = _query_params()
    if keys.VIEW not in st.session_state:
        st.session_state[keys.VIEW] = VIEW_FROM_PARAM.get((url.get("view") or ["queue"])[-1], "Queue")
    view = st.segmented_control(
        "View", VIEWS, required=True, key=keys.VIEW, label_visibility="collapsed", format_func=VIEW_NAMES.get
    ) or "Queue"  # fmt: skip

    # The filter: from the URL on the first load (and after a view without filters), else from the
    # widgets; cleaned of values the widgets cannot show; written back to the URL when it changed.
    if any(widget_key(name) not in st.session_state for name in PARAMS):
        current = state_from_params(url)
    else:
        current = state_from_widgets(st.session_state)
    current, problem = without_control_characters(sanitize(current, facets))
    if problem:
        st.warning(problem, icon=":material/warning:")
    if view in ("Queue", "Review"):
        set_filter(current)
        current = filters.draw(me, facets, current)
    wanted = params_from_state(current)
    if view != "Queue":
        wanted["view"] = VIEW_PARAM[view]
    if not same_params(wanted, url):
        st.query_params.from_dict(wanted)

    page = Page(me, engine, facets, current, queue_filter(current, me.label))
    {"Queue": queue.draw, "Review": review.draw, "Themes": themes.draw, "Training sets": training_sets.draw}[view](page)
    if me.can(Role.admin):
        admin.draw(me, engine)
