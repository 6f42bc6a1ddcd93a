"""The login gate: who is signed in, the sign-in and first-admin screens, and signing out.

A password sign-in opens a server-side session (services.core.sessions): this tab keeps its id in
st.session_state, and the browser gets an HttpOnly cookie with the session's token (app/session_cookie.py
says how and why), so a reload or a new tab resumes the session. Every run re-checks the session and
re-reads the account, so signing out elsewhere, the idle timeout, a disabled account or a new role take
effect on the next click. While signed out, every page URL shows the sign-in form (app/nav.py), so a
deep link keeps its page and query parameters and opens that view after signing in.
With an [auth] section in secrets (Streamlit's OIDC config) "Sign in with SSO" is offered too;
the identity provider's e-mail is mapped to a Loopdeck account by services.core.users.actor_for_sso
(Streamlit's own identity cookie carries that session).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException, StreamlitSecretNotFoundError

from app import nav, session_cookie, state, widgets
from services.core import sessions, users
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
    """The acting user for this run, re-read from the database; None when nobody is signed in.
    In order: this tab's server-side session, the session cookie (a reload or a new tab), an SSO identity."""
    if st.session_state.get(state.SESSION_ID) is not None:
        return _from_session()
    if st.session_state.get(state.USER_ID) is None:
        resumed = sessions.resume(state.engine(), _cookie_token())
        if resumed is not None:
            st.session_state[state.SESSION_ID] = resumed.session_id
            st.session_state[state.USER_ID] = resumed.actor.user_id
            return resumed.actor
    user_id = st.session_state.get(state.USER_ID)
    if user_id is None and (email := _sso_email()):
        _sign_in_through_sso(email)
        user_id = st.session_state.get(state.USER_ID)
    actor = users.current_actor(state.engine(), user_id) if user_id is not None else None
    if actor is None and user_id is not None:
        st.session_state.pop(state.USER_ID, None)
        widgets.flash("warning", "You were signed out: your account is disabled or no longer exists.")
    return actor


def _from_session() -> Actor | None:
    """Re-check this tab's session: revoked (signed out elsewhere), idle too long, past its absolute
    expiry or its account disabled ends it; the role is read again every time."""
    current = sessions.check(state.engine(), st.session_state.get(state.SESSION_ID))
    if current is None:
        _forget()
        widgets.flash(
            "warning", "Your session has ended (signed out, timed out or the account disabled). Sign in again."
        )
        return None
    st.session_state[state.USER_ID] = current.actor.user_id
    if current.cookie_issued:
        st.session_state.pop(state.HANDOFF, None)
    return current.actor


def _cookie_token() -> str | None:
    try:
        token = st.context.cookies.get(sessions.COOKIE_NAME)
        return token if isinstance(token, str) else None
    except Exception:  # noqa: BLE001 - no browser context (e.g. a bare script run): no cookie
        return None


def _source() -> str | None:
    """The client's address for the per-source sign-in delays; None from the same machine (Streamlit
    reports no address for 127.0.0.1/::1), and then only the account is slowed down."""
    try:
        address = st.context.ip_address
        return address if isinstance(address, str) else None
    except Exception:  # noqa: BLE001 - no browser context
        return None


def _forget() -> None:
    for key in (state.USER_ID, state.SESSION_ID, state.HANDOFF, state.SSO_ERROR):
        st.session_state.pop(key, None)


def hand_cookie() -> None:
    """Right after a password sign-in: let the browser trade the one-time code for the HttpOnly cookie
    (app/session_cookie.py explains why it takes this detour)."""
    code = st.session_state.get(state.HANDOFF)
    if code:
        _post(session_cookie.SESSION_PATH, code)


def _post(path: str, body: str) -> None:
    """A same-origin POST from the page (only constants and a URL-safe code go into the script)."""
    options = json.dumps({"method": "POST", "credentials": "same-origin", "body": body})
    st.html(f"<script>fetch({json.dumps(path)}, {options});</script>", unsafe_allow_javascript=True)


def _drop_cookie() -> None:
    if st.session_state.pop(state.CLEAR_COOKIE, False):
        _post(session_cookie.CLEAR_PATH, "")


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


def refuse_page(spec: nav.PageSpec, current: Actor) -> Callable[[], None]:
    """The page run at the URL of a page `current` may not open (app/nav.py): it says so, then opens the
    default page, which shows the message (a deep link to an admin page, followed by a viewer's sign-in)."""

    def refuse() -> None:
        widgets.flash("warning", nav.refusal_message(spec, current.role))
        st.switch_page(nav.default_page().path)

    return refuse


def sign_out(current: Actor) -> None:
    """Revoke the session on the server (its cookie stops working at once) and drop the cookie."""
    session_id = st.session_state.get(state.SESSION_ID)
    if session_id is not None:
        sessions.sign_out(state.engine(), current, session_id)
    else:
        users.sign_out(state.engine(), current)
    _forget()
    st.session_state[state.CLEAR_COOKIE] = True
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
        hand_cookie()


# --- screens shown before signing in -------------------------------------------------------------


def sign_in_page() -> None:
    """The page shown to anyone not signed in: first-admin set-up on a fresh install, else login."""
    engine = state.engine()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Loopdeck")
        _drop_cookie()
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
        started = widgets.attempt(lambda: sessions.sign_in(engine, email, password, source=_source()), rerun=False)
        if started is not None:  # the URL (page and query) stays as it was: the rerun opens the view asked for
            st.session_state[state.SESSION_ID] = started.session_id
            st.session_state[state.USER_ID] = started.actor.user_id
            st.session_state[state.HANDOFF] = started.code
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
