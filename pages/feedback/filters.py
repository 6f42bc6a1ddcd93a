"""The filter bar over the Queue and Review views: search, status, assignee and sort, the "More filters"
expander, and the "My queue" and "Clear filters" shortcuts. Each widget's key is filter_state.widget_key.
"""

from __future__ import annotations

import streamlit as st

from app.format import md_escape
from pages.feedback import keys
from pages.feedback.context import set_filter
from pages.feedback.filter_state import (
    ANY,
    LABELS,
    ME,
    OUTCOMES,
    FilterState,
    advanced_filters_active,
    my_queue,
    state_from_widgets,
    widget_key,
)
from services.core.roles import Actor
from services.feedback import triage as feedback


def draw(me: Actor, facets: feedback.QueueFacets, current: FilterState) -> FilterState:
    top = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
    top[0].text_input("Search", key=widget_key("text"), placeholder="words in the text, or a feedback id")
    top[1].multiselect("Status", feedback.STATUSES, key=widget_key("statuses"), placeholder="any status")
    top[2].selectbox(
        "Assignee", [ANY, ME, feedback.UNASSIGNED, *facets.assignees], key=widget_key("assignee"),
        format_func=lambda a: {ANY: "anyone", ME: "me"}.get(a, a), help=f"me: {md_escape(me.label)}",
    )  # fmt: skip
    top[3].selectbox("Sort", list(feedback.SORTS), key=widget_key("sort"))
    with st.expander("More filters", expanded=advanced_filters_active(current), icon=":material/filter_list:"):
        row = st.columns(5)
        row[0].multiselect("Source", facets.sources, key=widget_key("sources"), placeholder="any")
        row[1].multiselect("Rating", [1, 2, 3, 4, 5], key=widget_key("ratings"), placeholder="any")
        row[2].multiselect("Category", facets.categories, key=widget_key("categories"), placeholder="any")
        theme_names = dict(facets.themes)
        row[3].multiselect(
            "Theme", list(theme_names), key=widget_key("theme_ids"), format_func=theme_names.get, placeholder="any"
        )
        row[4].multiselect("Priority", feedback.PRIORITIES, key=widget_key("priorities"), placeholder="any")
        row = st.columns(5, vertical_alignment="bottom")
        versions = dict(facets.model_versions)
        row[0].multiselect(
            "Model version", list(versions), key=widget_key("model_ids"), format_func=versions.get, placeholder="any"
        )
        field = row[1].selectbox(
            "Cohort field", ["", *facets.cohort_fields], key=widget_key("cohort_field"),
            format_func=lambda f: f or "any",
        )  # fmt: skip
        row[2].multiselect(
            "Cohort values", facets.cohort_fields.get(field, []), key=widget_key("cohort_values"),
            placeholder="any", disabled=not field, help="Items of any of these values (e.g. ios or android).",
        )  # fmt: skip
        row[3].selectbox(
            "Outcome known", OUTCOMES, key=widget_key("outcome"),
            format_func=lambda o: {"": "either", "yes": "yes", "no": "no"}[o],
        )  # fmt: skip
        row[4].toggle("Overdue only", key=widget_key("overdue"), help="New items older than the SLA.")
        row = st.columns(6, vertical_alignment="bottom")
        # value=None: each can be emptied again (no bound), not only changed.
        day = {"value": None, "format": "YYYY-MM-DD", "help": "A UTC day, included."}
        row[0].date_input("Received from", key=widget_key("since"), **day)
        row[1].date_input("Received to", key=widget_key("until"), **day)
        score = dict(value=None, min_value=0.0, max_value=1.0, step=0.05, format="%.2f", placeholder="any")
        row[2].number_input("Score from", key=widget_key("score_min"), **score)
        row[3].number_input("Score to", key=widget_key("score_max"), **score)
        row[4].multiselect("Predicted label", LABELS, key=widget_key("predicted"), placeholder="any")
        row[5].multiselect(
            "Outcome label", LABELS, key=widget_key("actual"), placeholder="any",
            help="The actual label, where the outcome is known.",
        )  # fmt: skip
    shortcuts = st.container(horizontal=True)  # each button as wide as its label
    shortcuts.button(
        "My queue", icon=":material/person:", key=keys.MY_QUEUE, help="Open items assigned to me, oldest first.",
        on_click=lambda: set_filter(my_queue(state_from_widgets(st.session_state))),
    )  # fmt: skip
    shortcuts.button(
        "Clear filters", icon=":material/filter_alt_off:", key=keys.CLEAR_FILTERS, on_click=set_filter,
        args=(FilterState(),),
    )  # fmt: skip
    return state_from_widgets(st.session_state)
