"""Where the Feedback screen's admin settings (the triage SLA and the categories) went: the Settings screen."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from services.core.roles import Actor


def draw(me: Actor, engine: Engine) -> None:
    st.page_link("pages/settings/page.py", label="Settings moved to Settings (SLA and categories)",
                 icon=":material/settings:")  # fmt: skip
