"""My account: who I am, change my own password, sign out."""

import streamlit as st

from app import auth, state, widgets
from services.core import users

me = auth.actor()
st.title("My account")
st.text(f"E-mail: {me.label}\nRole: {me.role.name}")

st.subheader("Change my password")
with st.form("own_password", clear_on_submit=True):
    password = st.text_input("New password", type="password", help=f"At least {users.MIN_PASSWORD_LENGTH} characters.")
    confirm = st.text_input("Repeat the new password", type="password")
    submitted = st.form_submit_button("Change password")
if submitted:
    if password != confirm:
        st.error("The two passwords differ.")
    else:
        widgets.attempt(lambda: users.set_password(state.engine(), me, me.user_id, password), "Password changed.")

st.divider()
if st.button("Sign out", icon=":material/logout:", key="account_sign_out"):
    auth.sign_out(me)
