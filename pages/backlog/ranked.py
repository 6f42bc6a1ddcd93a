"""The Ranked items tab of the Backlog screen: the new-item form, the filters, the ranked table and the item
picked (drawn by pages/backlog/item.py)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app.backlog_form import kind_label as _kind
from pages.backlog import item, keys, new_item
from pages.backlog.tables import ANYONE, STATUS_LABELS, items_frame
from services.backlog import items as backlog
from services.core.roles import Actor, Role


def _filters(engine: Engine) -> tuple[list[str], list[str], str | None]:
    cols = st.columns([2, 2, 1])
    kinds = cols[0].multiselect("Kind", backlog.KINDS, format_func=_kind, key=keys.FILTER_KIND)
    statuses = cols[1].multiselect("Status", backlog.STATUSES, default=list(backlog.OPEN_STATUSES),
                                   format_func=STATUS_LABELS.get, key=keys.FILTER_STATUS)  # fmt: skip
    owner = cols[2].selectbox("Owner", [ANYONE, *backlog.owners(engine)], key=keys.FILTER_OWNER)
    return kinds, statuses, None if owner == ANYONE else owner


def render(engine: Engine, actor: Actor) -> None:
    if actor.can(Role.analyst):
        new_item.render(engine, actor)
    kinds, statuses, owner = _filters(engine)
    items = backlog.ranked(engine, kinds=kinds, statuses=statuses, owner=owner)
    if not items:
        st.info("No items match. Accept a proposal, or create one from an alert, a theme or an experiment.")
        return
    st.dataframe(
        items_frame(items), hide_index=True, width="stretch",
        column_config={"score": st.column_config.NumberColumn(format="%.4g"),
                       "reach / week": st.column_config.NumberColumn(format="%.1f"),
                       "id": st.column_config.NumberColumn(format="%d")},
    )  # fmt: skip
    ids = [it.id for it in items]
    titles = {it.id: it.title for it in items}
    selected = st.session_state.get(keys.SELECTED)
    index = ids.index(selected) if selected in ids else 0
    chosen = st.selectbox("Open item", ids, index=index, format_func=lambda i: f"#{i} {titles[i]}", key=keys.OPEN)
    st.session_state[keys.SELECTED] = chosen
    item.render(engine, actor, chosen)
