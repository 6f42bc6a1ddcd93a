"""The Settings screen (admins): every admin setting in one place, one section at a time, and the server's
paths. Each save is one service call (services/core/settings.set_value: role check and audit event in
one transaction); the sections are drawn by pages/settings/sections.py."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.settings import keys, sections
from services.core.roles import Actor

SECTIONS = {
    "Feedback": sections.feedback,
    "Approvals": sections.approvals,
    "Judge gates": sections.judge_gates,
    "Alerts": sections.alert_defaults,
    "Server": sections.server,
}


def render(me: Actor, engine: Engine) -> None:
    st.title("Settings")
    widgets.show_flash()
    st.caption("Every change is checked against your role and recorded in the audit log.")
    section = st.segmented_control("Section", list(SECTIONS), default="Feedback", required=True, key=keys.SECTION,
                                   label_visibility="collapsed") or "Feedback"  # fmt: skip
    SECTIONS[section](me, engine)
