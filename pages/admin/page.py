"""Admin: accounts. Every action is one service call; the service checks the role and audits it."""

import streamlit as st

from app import auth, state, widgets
from app import format as fmt
from services.core import users
from services.core.roles import ROLE_NAMES, Role
from services.core.timeutil import utcnow

me = auth.require_role(Role.admin)
engine = state.engine()
st.title("Admin")

st.subheader("Users")
accounts = users.list_users(engine, me)
st.dataframe(fmt.users_frame(accounts, utcnow()), hide_index=True, width="stretch", key="admin_users")

add_tab, change_tab = st.tabs(["Add a user", "Change an account"])

with add_tab:
    form = widgets.form_key("add_user")
    with st.form(form):
        email = st.text_input("E-mail", key=f"{form}_email")
        name = st.text_input("Name", key=f"{form}_name")
        role = st.selectbox("Role", ROLE_NAMES, key=f"{form}_role")
        sso_only = st.checkbox("SSO only (no password)", key=f"{form}_sso", help="The user signs in through SSO.")
        password = st.text_input(
            "Initial password",
            type="password",
            key=f"{form}_password",
            help=f"At least {users.MIN_PASSWORD_LENGTH} characters; ignored for SSO-only accounts.",
        )
        submitted = st.form_submit_button("Add user", type="primary")
    if submitted:
        added = widgets.attempt(
            lambda: users.add_user(engine, me, email, role, None if sso_only else password, name=name),
            rerun=False,
        )
        if added is not None:
            widgets.reset_form("add_user")
            widgets.flash("success", f"Added {added.email} as {added.role}.")
            st.rerun()


CONFIRM_DISABLE = "admin_confirm_disable"  # (user id, e-mail) while the confirmation is open


def close_confirmation() -> None:
    st.session_state.pop(CONFIRM_DISABLE, None)


@st.dialog("Disable this account?", on_dismiss=close_confirmation)
def confirm_disable(user_id: int, email: str) -> None:
    st.text(email)
    st.write("They are signed out at their next click and cannot sign in until an admin enables the account.")
    yes, no = st.columns(2)
    if yes.button("Disable", type="primary", key="admin_disable_confirm"):
        close_confirmation()
        widgets.attempt(lambda: users.set_disabled(engine, me, user_id, True), f"{email} is disabled.")
    if no.button("Cancel", key="admin_disable_cancel"):
        close_confirmation()
        st.rerun()


with change_tab:
    by_id = {u.id: u for u in accounts}
    chosen = st.selectbox("Account", list(by_id), format_func=lambda i: fmt.user_label(by_id[i]), key="admin_account")
    user = by_id.get(chosen)
    if user is not None:
        left, right = st.columns(2)
        with left:
            new_role = st.selectbox("Role", ROLE_NAMES, index=ROLE_NAMES.index(user.role), key=f"admin_role_{user.id}")
            if st.button("Change role", key="admin_change_role", disabled=new_role == user.role):
                widgets.attempt(
                    lambda: users.change_role(engine, me, user.id, new_role), f"{user.email} is now {new_role}."
                )
        with right:
            st.write("Access")
            if user.disabled:
                if st.button("Enable", key="admin_enable", icon=":material/lock_open:"):
                    widgets.attempt(lambda: users.set_disabled(engine, me, user.id, False), f"{user.email} is enabled.")
            else:
                st.button(
                    "Disable ...",
                    key="admin_disable",
                    icon=":material/block:",
                    on_click=lambda: st.session_state.update({CONFIRM_DISABLE: (user.id, user.email)}),
                )
            if st.button("Unlock", key="admin_unlock", help="Clears a lock-out and the count of failed sign-ins."):
                widgets.attempt(lambda: users.unlock(engine, me, user.id), f"{user.email} is unlocked.")

        form = widgets.form_key("reset_password")
        with st.form(form):
            password = st.text_input("New password", type="password", key=f"{form}_password")
            reset = st.form_submit_button("Reset password")
        if reset:
            done = widgets.attempt(lambda: users.set_password(engine, me, user.id, password), rerun=False)
            if done is not None:
                widgets.reset_form("reset_password")
                widgets.flash("success", f"New password set for {done.email}.")
                st.rerun()

# The confirmation is driven by state (not by the button's one-run click) so it stays open
# until the admin confirms, cancels or dismisses it.
if CONFIRM_DISABLE in st.session_state:
    confirm_disable(*st.session_state[CONFIRM_DISABLE])
