"""The "Change an account" tab of the Admin screen: role, access (enable, disable after a confirmation,
unlock) and a new password. Every action is one service call; the service checks the role and audits it."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import widgets
from pages.admin import keys
from services.core import users
from services.core.roles import ROLE_NAMES, Actor


def render(me: Actor, engine: Engine, accounts: list) -> None:
    by_id = {u.id: u for u in accounts}
    chosen = st.selectbox("Account", list(by_id), format_func=lambda i: fmt.user_label(by_id[i]), key=keys.ACCOUNT)
    user = by_id.get(chosen)
    if user is None:
        return
    left, right = st.columns(2)
    with left:
        new_role = st.selectbox(
            "Role", ROLE_NAMES, index=ROLE_NAMES.index(user.role), key=f"{keys.ACCOUNT_ROLE}{user.id}"
        )
        if st.button("Change role", key=keys.CHANGE_ROLE, disabled=new_role == user.role):
            widgets.attempt(
                lambda: users.change_role(engine, me, user.id, new_role), f"{user.email} is now {new_role}."
            )
    with right:
        _access(me, engine, user)
    _reset_password(me, engine, user)


def _access(me: Actor, engine: Engine, user) -> None:
    st.write("Access")
    if user.disabled:
        if st.button("Enable", key=keys.ENABLE, icon=":material/lock_open:"):
            widgets.attempt(lambda: users.set_disabled(engine, me, user.id, False), f"{user.email} is enabled.")
    else:
        st.button(
            "Disable ...",
            key=keys.DISABLE,
            icon=":material/block:",
            on_click=lambda: st.session_state.update({keys.CONFIRM_DISABLE: (user.id, user.email)}),
        )
    if st.button("Unlock", key=keys.UNLOCK, help="Ends the wait after failed sign-ins and clears their count."):
        widgets.attempt(lambda: users.unlock(engine, me, user.id), f"{user.email} is unlocked.")


def _reset_password(me: Actor, engine: Engine, user) -> None:
    form = widgets.form_key(keys.RESET_PASSWORD)
    with st.form(form):
        password = st.text_input("New password", type="password", key=f"{form}{keys.PASSWORD}")
        reset = st.form_submit_button("Reset password")
    if reset:
        done = widgets.attempt(lambda: users.set_password(engine, me, user.id, password), rerun=False)
        if done is not None:
            widgets.reset_form(keys.RESET_PASSWORD)
            widgets.flash("success", f"New password set for {done.email}.")
            st.rerun()


def close_confirmation() -> None:
    st.session_state.pop(keys.CONFIRM_DISABLE, None)


@st.dialog("Disable this account?", on_dismiss=close_confirmation)
def confirm_disable(me: Actor, engine: Engine, user_id: int, email: str) -> None:
    st.text(email)
    st.write("They are signed out at their next click and cannot sign in until an admin enables the account.")
    yes, no = st.columns(2)
    if yes.button("Disable", type="primary", key=keys.DISABLE_CONFIRM):
        close_confirmation()
        widgets.attempt(lambda: users.set_disabled(engine, me, user_id, True), f"{email} is disabled.")
    if no.button("Cancel", key=keys.DISABLE_CANCEL):
        close_confirmation()
        st.rerun()
