"""The admins' expander under every Feedback view: the triage SLA and the category list."""

from __future__ import annotations

import re

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.feedback import keys
from pages.feedback.context import cached_facets
from services.core import settings
from services.core.roles import Actor


def categories_from_text(text: str) -> list[str]:
    """The admin's category box (one per line, or comma-separated) -> a list."""
    return [part.strip() for part in re.split(r"[\n,]", text or "") if part.strip()]


def draw(me: Actor, engine: Engine) -> None:
    with st.expander("Admin: SLA and categories", icon=":material/settings:"):
        cols = st.columns(2, gap="large")
        with cols[0], st.form(keys.ADMIN_SLA_FORM):
            days = st.number_input(
                "SLA (days a new item may wait for triage)", 1, 90, int(settings.get(engine, "feedback.sla_days"))
            )
            if st.form_submit_button("Save SLA"):
                widgets.attempt(lambda: settings.set_value(engine, me, "feedback.sla_days", int(days)), "SLA saved.")
        with cols[1], st.form(keys.ADMIN_CATEGORIES_FORM):
            text = st.text_area(
                "Categories (one per line)", "\n".join(settings.get(engine, "feedback.categories")), height=160
            )
            if st.form_submit_button("Save categories"):
                saved = widgets.attempt(
                    lambda: settings.set_value(engine, me, "feedback.categories", categories_from_text(text)),
                    rerun=False,
                )
                if saved is not None:
                    cached_facets.clear()
                    widgets.flash("success", f"{len(saved)} categories saved.")
                    st.rerun()
