"""The Rules view of the Approvals screen: how many approvals each kind of request needs (read here; admins
change it on the Settings screen)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

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
    st.dataframe(table, hide_index=True, width="stretch", key=keys.RULES_TABLE)
    st.caption(f"Requests expire after {int(settings.get(engine, 'approvals.expiry_days'))} days.")
    if me.can(Role.admin):
        st.page_link("pages/settings/page.py", label="Settings moved to Settings (approvals per kind, request expiry)",
                     icon=":material/settings:")  # fmt: skip
    else:
        st.caption("An admin sets these.")
