"""The Backlog screen: the three tabs (ranked items, proposals, by kind over time)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_backlog, widgets
from app.backlog_form import kind_label as _kind
from pages.backlog import keys, proposals, ranked
from services.backlog import items as backlog
from services.core.roles import Actor
from services.overview import proposals as proposals_svc


def _over_time_tab(engine: Engine) -> None:
    flow = backlog.weekly_flow(engine)
    st.plotly_chart(figures_backlog.items_over_time(flow), width="stretch", key=keys.OVER_TIME)
    if not flow.empty:
        totals = flow.groupby("kind")[["created", "closed"]].sum()
        totals["open now"] = flow.groupby("kind")["open"].last()
        totals.index = [_kind(k) for k in totals.index]
        st.dataframe(totals, width="stretch")


def render(actor: Actor, engine: Engine) -> None:
    st.title("Backlog")
    widgets.show_flash()
    with st.spinner("Looking for open signals ..."):
        found = proposals_svc.list_proposals(engine)
    labels = ["Ranked items", f"Proposals ({len(found.proposals)})", "By kind over time"]
    # The browser keeps the open tab by its label, and an action on a proposal changes the Proposals label
    # (its count): without a default the browser would fall back to the first tab after every accept,
    # dismiss or restore. So the run after such an action names the Proposals tab as the default.
    tabs = st.tabs(labels, default=labels[1] if st.session_state.pop(keys.ON_PROPOSALS, False) else None)
    with tabs[0]:
        ranked.render(engine, actor)
    with tabs[1]:
        proposals.render(engine, actor, found)
    with tabs[2]:
        _over_time_tab(engine)
