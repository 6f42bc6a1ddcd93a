"""The Rules view of the Approvals screen: how many approvals each kind of request needs (admins edit it)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.approvals import keys
from pages.approvals.tables import KIND_LABELS
from services.core import settings
from services.core.roles import Actor, Role
from services.governance import approvals


def render(me: Actor, engine: Engine) -> None:
    current = settings.get(engine, "approvals.required")
    st.markdown("**Approvals each kind of request needs** (the requester never counts)")
    table = pd.DataFrame(
        [{"kind": k, "what": KIND_LABELS.get(k, k), "approvals": int(current.get(k, 1))} for k in approvals.KINDS]
    )
    if not me.can(Role.admin):
        st.dataframe(table, hide_index=True, width="stretch", key=keys.RULES_TABLE)
        st.caption("An admin sets these.")
        return
    edited = st.data_editor(
        table, hide_index=True, width="stretch", key=keys.RULES_EDITOR, disabled=["kind", "what"],
        column_config={"approvals": st.column_config.NumberColumn(min_value=1, max_value=5, step=1)},
    )  # fmt: skip
    if st.button("Save", key=keys.RULES_SAVE):
        value = {row["kind"]: int(row["approvals"]) for row in edited.to_dict("records")}
        widgets.attempt(lambda: settings.set_value(engine, me, "approvals.required", value), "Approval rules saved.")
