"""My account: who I am, change my own password, the e-mail I want, sign out."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import auth, widgets
from pages.account import email, keys
from services.core import users
from services.core.roles import Actor


def render(me: Actor, engine: Engine) -> None:
    st.title("My account")
    st.text(f"E-mail: {me.label}\nRole: {me.role.name}")

    st.subheader("Change my password")
    with st.form(keys.OWN_PASSWORD, clear_on_submit=True):
        password = st.text_input(
            "New password", type="password", help=f"At least {users.MIN_PASSWORD_LENGTH} characters."
        )
        confirm = st.text_input("Repeat the new password", type="password")
        submitted = st.form_submit_button("Change password")
    if submitted:
        if password != confirm:
            st.error("The two passwords differ.")
        else:
            widgets.attempt(lambda: users.set_password(engine, me, me.user_id, password), "Password changed.")

    email.render(me, engine)

    st.divider()
    if st.button("Sign out", icon=":material/logout:", key=keys.SIGN_OUT):
        auth.sign_out(me)
