"""The login gate: who is signed in, the sign-in and first-admin screens, and signing out.

Only the user's id is kept in st.session_state; every run re-reads the account through
services.core.users.current_actor, so a disabled account loses access on its next click.
With an [auth] section in secrets (Streamlit's OIDC config) "Sign in with SSO" is offered too;
the identity provider's e-mail is mapped to a Loopdeck account by services.core.users.actor_for_sso.
"""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException, StreamlitSecretNotFoundError

from app import state, widgets
from services.core import users
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role

# --- who is signed in ----------------------------------------------------------------------------


def sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except StreamlitSecretNotFoundError:  # no secrets.toml at all
        return False


def _sso_email() -> str | None:
    """The identity provider's e-mail when this browser is signed in through SSO."""
    if not sso_configured() or not st.user.get("is_logged_in"):
        return None
    email = st.user.get("email")
    return str(email) if email else None


def _sign_in_through_sso(email: str) -> None:
    """Map the OIDC identity to an account once per session (the service records the login)."""
    if st.session_state.get(state.SSO_ERROR, (None, ""))[0] == email:
        return  # already failed for this identity; the login screen shows why
    try:
        actor = users.actor_for_sso(state.engine(), email)
    except LoopdeckError as exc:
        st.session_state[state.SSO_ERROR] = (email, str(exc))
        return
    st.session_state.pop(state.SSO_ERROR, None)
    st.session_state[state.USER_ID] = actor.user_id


def signed_in_actor() -> Actor | None:
    """The acting user for this run, re-read from the database; None when nobody is signed in."""
    user_id = st.session_state.get(state.USER_ID)
    if user_id is None and (email := _sso_email()):
        _sign_in_through_sso(email)
        user_id = st.session_state.get(state.USER_ID)
    actor = users.current_actor(state.engine(), user_id) if user_id is not None else None
    if actor is None and user_id is not None:
        st.session_state.pop(state.USER_ID, None)
        widgets.flash("warning", "You were signed out: your account is disabled or no longer exists.")
    return actor


def actor() -> Actor:
    """For pages: the signed-in user, re-read from the database (a page never trusts an old copy).
    Stops the page when nobody is signed in (the gate in streamlit_app.py normally sees to that)."""
    user_id = st.session_state.get(state.USER_ID)
    current = users.current_actor(state.engine(), user_id) if user_id is not None else None
    if current is None:
        st.stop()
    return current


def require_role(role: Role) -> Actor:
    """For pages reached by URL: stop with a message when the role is too low (services refuse anyway)."""
    current = actor()
    if not current.can(role):
        st.error(f"This page needs the {role.name} role; you are signed in as {current.role.name}.")
        st.stop()
    return current


def sign_out(current: Actor) -> None:
    users.sign_out(state.engine(), current)
    for key in (state.USER_ID, state.SSO_ERROR):
        st.session_state.pop(key, None)
    if _sso_email():
        st.logout()  # also ends the identity-provider cookie; starts a new session
    else:
        st.rerun()


def sidebar(current: Actor) -> None:
    with st.sidebar:
        st.caption("Signed in as")
        st.text(current.label)
        st.badge(current.role.name, icon=":material/badge:")
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            sign_out(current)


# --- screens shown before signing in -------------------------------------------------------------


def sign_in_page() -> None:
    """The page shown to anyone not signed in: first-admin set-up on a fresh install, else login."""
    engine = state.engine()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Loopdeck")
        widgets.show_flash()
        if users.count_users(engine) == 0:
            _first_admin_form(engine)
        else:
            _login_form(engine)
            if sso_configured():
                _sso_block()


def _first_admin_form(engine) -> None:
    st.subheader("Create the first admin account")
    st.caption("This is a fresh install with no accounts. The account you create here is the admin.")
    with st.form("first_admin"):
        email = st.text_input("E-mail")
        name = st.text_input("Name")
        password = st.text_input("Password", type="password", help=f"At least {users.MIN_PASSWORD_LENGTH} characters.")
        confirm = st.text_input("Repeat the password", type="password")
        submitted = st.form_submit_button("Create admin account", type="primary")
    if not submitted:
        return
    if password != confirm:
        st.error("The two passwords differ.")
        return
    widgets.attempt(
        lambda: users.create_first_admin(engine, email, name, password),
        lambda view: f"Admin account {view.email} created. Sign in with it.",
    )


def _login_form(engine) -> None:
    st.subheader("Sign in")
    with st.form("login"):
        email = st.text_input("E-mail", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        signed_in = widgets.attempt(lambda: users.authenticate(engine, email, password), rerun=False)
        if signed_in is not None:
            st.session_state[state.USER_ID] = signed_in.user_id
            st.rerun()


def _sso_block() -> None:
    st.divider()
    failed = st.session_state.get(state.SSO_ERROR)
    if failed and _sso_email() == failed[0]:
        st.error(failed[1])
        if st.button("Sign out of SSO", key="sso_logout"):
            st.session_state.pop(state.SSO_ERROR, None)
            st.logout()
        return
    if st.button("Sign in with SSO", icon=":material/key:", key="sso_login"):
        try:
            st.login()
        except StreamlitAPIException as exc:  # e.g. Authlib missing or incomplete [auth]
            st.error(f"SSO is not available: {exc}")
