"""The Retrain view's external pipeline (admins): a model whose training runs elsewhere names a signed
webhook; executing an approved retrain request then calls it instead of fitting here. One service call per
action (services/models/external_pipeline.py checks the role and audits); the secret is shown once."""

from __future__ import annotations

import streamlit as st

from app import widgets
from pages.models import keys
from pages.models.common import ModelsPage
from services.core.roles import Role
from services.models import external_pipeline


def render(p: ModelsPage) -> None:
    if not p.me.can(Role.admin):
        return
    with st.expander("External retraining pipeline (admins)"):
        current = external_pipeline.get_pipeline(p.engine, p.model_name)
        st.caption(f"{p.model_name} is retrained by {current.url}." if current else
                   f"{p.model_name} is retrained here. Name a pipeline's webhook to train it elsewhere.")  # fmt: skip
        if keys.PIPELINE_SECRET in st.session_state:
            st.success("Copy the secret now: it is shown only this once.")
            st.code(st.session_state.pop(keys.PIPELINE_SECRET), language=None)
        form = widgets.form_key(keys.PIPELINE_FORM)
        with st.form(form):
            url = st.text_input("Webhook URL (https)", key=f"{form}{keys.PIPELINE_URL}")
            secret = st.text_input("Secret (16+ characters; empty: generated)", type="password",
                                   key=f"{form}{keys.PIPELINE_KEY}")  # fmt: skip
            private = st.checkbox("Allow a private address", key=f"{form}{keys.PIPELINE_PRIVATE}")
            submitted = st.form_submit_button("Set the pipeline", type="primary")
        if submitted:

            def set_it():
                return external_pipeline.set_pipeline(p.engine, p.me, p.model_name, url, secret, allow_private=private)

            done = widgets.attempt(set_it, rerun=False)
            if done is not None:
                if not secret:
                    st.session_state[keys.PIPELINE_SECRET] = done[1]
                widgets.reset_form(keys.PIPELINE_FORM)
                st.rerun()
        if current and st.button("Train it here again", key=keys.PIPELINE_REMOVE):
            widgets.attempt(lambda: external_pipeline.remove_pipeline(p.engine, p.me, p.model_name),
                            f"{p.model_name} is retrained here again.")  # fmt: skip
