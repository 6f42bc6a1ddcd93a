"""The Admin screen: the users table, two tabs (add a user, change an account), sign-in
(waiting accounts, session limits), the API tokens, and retention and erasure of raw data."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from pages.admin import add_user, change, erasure, keys, sign_in, tokens
from services.core import users
from services.core.roles import Actor
from services.core.timeutil import utcnow


def render(me: Actor, engine: Engine) -> None:
    st.title("Admin")
    st.subheader("Users")
    accounts = users.list_users(engine, me)
    st.dataframe(fmt.users_frame(accounts, utcnow()), hide_index=True, width="stretch", key=keys.USERS)
    add_tab, change_tab = st.tabs(["Add a user", "Change an account"])
    with add_tab:
        add_user.render(me, engine)
    with change_tab:
        change.render(me, engine, accounts)
    # The confirmation is driven by state (not by the button's one-run click) so it stays open
    # until the admin confirms, cancels or dismisses it.
    if keys.CONFIRM_DISABLE in st.session_state:
        change.confirm_disable(me, engine, *st.session_state[keys.CONFIRM_DISABLE])
    sign_in.render(me, engine, accounts)
    tokens.render_tokens(me, engine)
    erasure.render(me, engine)
