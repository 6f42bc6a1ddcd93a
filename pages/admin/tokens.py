"""Admin: API tokens (create, list, revoke). One service call per action; the service checks the role
(admin) and audits. A new token's secret is shown once, until dismissed."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.admin import keys
from services.core import tokens
from services.core.roles import Actor


def tokens_frame(views: list[tokens.TokenView]) -> pd.DataFrame:
    rows = [
        {"name": t.name, "status": t.status(), "token": f"{t.prefix}…", "scopes": ", ".join(t.scopes),
         "models": ", ".join(t.models) if t.models else "all", "per minute": t.rate_per_minute,
         "expires": t.expires_at.strftime("%Y-%m-%d") if t.expires_at else "never",
         "created": t.created_at.strftime("%Y-%m-%d %H:%M"), "by": t.created_by,
         "revoked by": t.revoked_by or ""}
        for t in views
    ]  # fmt: skip
    columns = ["name", "status", "token", "scopes", "models", "per minute", "expires", "created", "by", "revoked by"]
    return pd.DataFrame(rows, columns=columns)


def _show_secret() -> None:
    name, secret = st.session_state[keys.TOKEN_SECRET]
    st.success(f"Token {name!r} created. Copy it now: it is shown only this once (Loopdeck keeps only its hash).")
    st.code(secret, language=None)
    if st.button("I have copied it", key=keys.TOKEN_SECRET_DONE):
        st.session_state.pop(keys.TOKEN_SECRET, None)
        st.rerun()


def _create_form(actor: Actor, engine: Engine) -> None:
    form = widgets.form_key(keys.TOKEN_FORM)
    with st.form(form):
        name = st.text_input("Name", key=f"{form}{keys.NAME}", help="e.g. serving-eu, training-pipeline")
        scopes = st.multiselect("Scopes", list(tokens.SCOPES), key=f"{form}{keys.TOKEN_SCOPES}")
        models = st.text_input("Only these models (comma separated; empty: all)", key=f"{form}{keys.TOKEN_MODELS}")
        days = st.number_input(
            "Expires after (days; 0: never)", 0, tokens.MAX_EXPIRES_DAYS, 90, key=f"{form}{keys.TOKEN_DAYS}"
        )
        submitted = st.form_submit_button("Create token", type="primary")
    if submitted:
        model_list = [m.strip() for m in models.split(",") if m.strip()] or None
        created = widgets.attempt(
            lambda: tokens.create_token(engine, actor, name, scopes, model_list, int(days) or None), rerun=False
        )
        if created is not None:
            st.session_state[keys.TOKEN_SECRET] = (created.token.name, created.secret)
            widgets.reset_form(keys.TOKEN_FORM)
            st.rerun()


def render_tokens(actor: Actor, engine: Engine) -> None:
    """The Admin page's API token section."""
    st.subheader("API tokens")
    st.caption("Pipelines and serving systems call the API with a token (`Authorization: Bearer …`).")
    views = widgets.attempt(lambda: tokens.list_tokens(engine, actor), rerun=False)
    if views is None:
        return
    if keys.TOKEN_SECRET in st.session_state:
        _show_secret()
    with st.container(key=keys.TOKEN_LIST):
        st.dataframe(tokens_frame(views), hide_index=True, width="stretch", key=keys.TOKEN_TABLE)
    create_tab, revoke_tab = st.tabs(["Create a token", "Revoke a token"])
    with create_tab:
        _create_form(actor, engine)
    with revoke_tab:
        active = [t.name for t in views if t.status() == "active"]
        if not active:
            st.caption("No active token.")
            return
        name = st.selectbox("Token", active, key=keys.TOKEN_REVOKE)
        if st.button("Revoke", key=keys.TOKEN_REVOKE_BUTTON, help="At once, for every later request."):
            widgets.attempt(lambda: tokens.revoke_token(engine, actor, name), f"Token {name!r} is revoked.")
