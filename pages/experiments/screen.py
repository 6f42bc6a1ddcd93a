"""The Experiments screen: the view switcher (Experiments, Design, Register, Read), each view drawn by its
own module."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from pages.experiments import design, keys, manage, read, register
from pages.experiments.common import apply_goto
from services.core.roles import Actor

VIEWS = ("Experiments", "Design", "Register", "Read")


def render(me: Actor, engine: Engine) -> None:
    st.title("Experiments")
    apply_goto()
    if keys.VIEW not in st.session_state:
        st.session_state[keys.VIEW] = "Experiments"
    view = (
        st.segmented_control("View", VIEWS, required=True, key=keys.VIEW, label_visibility="collapsed") or "Experiments"
    )
    if view == "Design":
        design.render(me)
    elif view == "Register":
        register.render(me, engine)
    elif view == "Read":
        read.render(me, engine)
    else:
        manage.render(me, engine)
