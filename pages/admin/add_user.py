"""The "Add a user" tab of the Admin screen."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.admin import keys
from services.core import users
from services.core.roles import ROLE_NAMES, Actor


def render(me: Actor, engine: Engine) -> None:
    form = widgets.form_key(keys.ADD_USER)
    with st.form(form):
        email = st.text_input("E-mail", key=f"{form}{keys.EMAIL}")
        name = st.text_input("Name", key=f"{form}{keys.NAME}")
        role = st.selectbox("Role", ROLE_NAMES, key=f"{form}{keys.ROLE}")
        sso_only = st.checkbox("SSO only (no password)", key=f"{form}{keys.SSO}", help="The user signs in through SSO.")
        password = st.text_input(
            "Initial password",
            type="password",
            key=f"{form}{keys.PASSWORD}",
            help=f"At least {users.MIN_PASSWORD_LENGTH} characters; ignored for SSO-only accounts.",
        )
        submitted = st.form_submit_button("Add user", type="primary")
    if submitted:
        added = widgets.attempt(
            lambda: users.add_user(engine, me, email, role, None if sso_only else password, name=name),
            rerun=False,
        )
        if added is not None:
            widgets.reset_form(keys.ADD_USER)
            widgets.flash("success", f"Added {added.email} as {added.role}.")
            st.rerun()
