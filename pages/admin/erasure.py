"""Admin: a model's retention of raw rows (set, purge now) and erasing one request id at a data
subject's request, after a confirm step. One service call per action; the services check the role
(admin) and audit."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.admin import keys
from services.core.roles import Actor
from services.ingest import erasure
from services.models import serving
from services.monitoring import retention


def _policies_frame(policies: list) -> pd.DataFrame:
    rows = [{"model": p.model_name, "keep days": p.keep_days,
             "purged before": p.purged_before.isoformat() if p.purged_before else "", "set by": p.updated_by}
            for p in policies]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "keep days", "purged before", "set by"])


def _retention(actor: Actor, engine: Engine) -> None:
    policies = retention.policies(engine)
    st.dataframe(_policies_frame(policies), hide_index=True, width="stretch", key=keys.RETENTION_TABLE)
    models = serving.model_names(engine)
    if not models:
        st.caption("No model yet.")
        return
    form = widgets.form_key(keys.RETENTION_FORM)
    with st.form(form):
        model = st.selectbox("Model", models, key=f"{form}{keys.RETENTION_MODEL}")
        days = st.number_input("Keep raw rows (days)", 1, retention.MAX_DAYS, 90, key=f"{form}{keys.RETENTION_DAYS}")
        submitted = st.form_submit_button("Set retention")
    if submitted:
        widgets.attempt(lambda: retention.set_retention(engine, actor, model, int(days)),
                        f"{model}: raw rows are kept {int(days)} days.")  # fmt: skip
    if policies and st.button("Purge now", key=keys.RETENTION_RUN, help="The worker also does it daily."):
        widgets.attempt(lambda: retention.purge_all(engine, actor),
                        lambda results: " ".join(r.summary() for r in results))  # fmt: skip


def _erase(actor: Actor, engine: Engine) -> None:
    request_id = st.text_input("Request id", key=keys.ERASE_ID, max_chars=200)
    reason = st.text_input("Reason (audited), e.g. the ticket of the request", key=keys.ERASE_REASON, max_chars=2000)
    ready = bool(request_id.strip() and reason.strip())
    st.button(
        "Erase ...", key=keys.ERASE, icon=":material/delete_forever:", disabled=not ready,
        on_click=lambda: st.session_state.update({keys.CONFIRM_ERASE: (request_id.strip(), reason.strip())}),
    )  # fmt: skip
    if keys.CONFIRM_ERASE in st.session_state:
        _confirm(actor, engine, *st.session_state[keys.CONFIRM_ERASE])


def _confirm(actor: Actor, engine: Engine, request_id: str, reason: str) -> None:
    with st.container(border=True):
        st.warning("Erase this request for good? Its prediction, outcome, feedback and raw rows are deleted; "
                   "this cannot be undone.")  # fmt: skip
        st.text(request_id)
        yes, no = st.columns(2)
        if yes.button("Erase for good", type="primary", key=keys.ERASE_CONFIRM):
            st.session_state.pop(keys.CONFIRM_ERASE, None)
            widgets.attempt(lambda: erasure.erase_request(engine, actor, request_id, reason), lambda r: r.summary())
        if no.button("Cancel", key=keys.ERASE_CANCEL):
            st.session_state.pop(keys.CONFIRM_ERASE, None)
            st.rerun()


def render(actor: Actor, engine: Engine) -> None:
    """The Admin page's retention and erasure section."""
    st.subheader("Retention and erasure")
    st.caption("Raw prediction and outcome rows older than a model's retention are purged daily; the monitoring "
               "summaries of those days stay. Erasing a request id removes it everywhere (audited).")  # fmt: skip
    keep_tab, erase_tab = st.tabs(["Retention", "Erase a request"])
    with keep_tab:
        _retention(actor, engine)
    with erase_tab:
        _erase(actor, engine)
