"""The Approvals screen: the inbox of requests awaiting me, every request, and the rules; the execute
confirmation when one is open. Each request is drawn by pages/approvals/request.py."""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st
from sqlalchemy.engine import Engine

from app import retrain_jobs
from pages.approvals import actions, keys, request, rules
from pages.approvals.tables import STATUS_ICONS, requests_table
from services.core.roles import Actor, Role
from services.core.schema_models import ModelVersion
from services.governance import approvals
from services.models import registry

VIEWS = ("Awaiting me", "All requests", "Rules")


def render(me: Actor, engine: Engine) -> None:
    awaiting = approvals.list_requests(engine, awaiting=me) if me.can(Role.approver) else []
    title, badge = st.columns([4, 1], vertical_alignment="center")
    title.title("Approvals")
    badge.badge(f"{len(awaiting)} awaiting you", icon=":material/inbox:", color="orange" if awaiting else "gray")
    st.caption(
        "Changes with consequences need approval by someone other than the requester (four-eyes). A change to the "
        "subject after approval resets its approvals. Executing an approved request shows exactly what will happen "
        "first; the change, the request's status and the audit events commit together."
    )
    versions = {v.id: v for v in registry.list_versions(engine)}
    retrain_jobs.status(me)
    view = st.segmented_control("View", VIEWS, default="Awaiting me", required=True, key=keys.VIEW,
                                label_visibility="collapsed") or "Awaiting me"  # fmt: skip
    if view == "Awaiting me":
        if not me.can(Role.approver):
            st.info("Approving needs the approver role. Your own requests are under All requests.")
        elif not awaiting:
            st.success("Nothing awaits your decision.")
        for row in awaiting:
            with st.container(border=True):
                request.render(me, engine, row.id, versions)
    elif view == "All requests":
        _all_requests(me, engine, versions)
    else:
        rules.render(me, engine)
    if keys.CONFIRM in st.session_state:
        actions.confirm_execute(me, engine, *st.session_state[keys.CONFIRM])


def _all_requests(me: Actor, engine: Engine, versions: Mapping[int, ModelVersion]) -> None:
    status = st.selectbox("Status", ["", *STATUS_ICONS], format_func=lambda s: s or "any", key=keys.STATUS)
    rows = approvals.list_requests(engine, status or None)
    if not rows:
        st.caption("No requests.")
        return
    st.dataframe(requests_table(rows, versions), hide_index=True, width="stretch", key=keys.TABLE)
    ids = [r.id for r in rows]
    chosen = st.selectbox("Request", ids, key=keys.SELECTED,
                          format_func=lambda i: f"#{i} {next(r.kind for r in rows if r.id == i)}")  # fmt: skip
    if chosen is not None:
        with st.container(border=True):
            request.render(me, engine, chosen, versions)
