"""One backlog item on the Backlog screen: its score and reach, evidence with links to the screens that
have it, moving it, closing it with the outcome or dropping it, editing it, and its history."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import widgets
from app.backlog_form import kind_label as _kind
from pages.backlog import edit, keys
from pages.backlog.tables import PAGE_OF_EVIDENCE, STATUS_LABELS
from pages.backlog.tables import num as _num
from services.backlog import items as backlog
from services.core.roles import Actor, Role


def _evidence(detail: backlog.ItemDetail) -> None:
    st.markdown("**Evidence**")
    if not detail.evidence:
        st.caption("No evidence linked yet.")
    for e in detail.evidence:
        cols = st.columns([3, 1])
        cols[0].text(f"{e.ref_type} {e.ref_id}" + (f": {e.label}" if e.label else ""))
        page = PAGE_OF_EVIDENCE.get(e.ref_type)
        if page:
            cols[1].page_link(page, label="Open", icon=":material/open_in_new:")


def _status_controls(engine: Engine, actor: Actor, item) -> None:
    moves = [s for s in backlog.TRANSITIONS[item.status] if s not in ("done", "dropped")]
    if moves:
        cols = st.columns(len(moves) + 1)
        for i, target in enumerate(moves):
            if cols[i].button(f"Move to {STATUS_LABELS[target].lower()}", key=f"{keys.MOVE}{item.id}_{target}"):
                widgets.attempt(
                    lambda target=target: backlog.transition(engine, actor, item.id, target,
                                                             expected_version=item.version),
                    f"Item #{item.id} is {STATUS_LABELS[target].lower()}.",
                )  # fmt: skip
    if "done" in backlog.TRANSITIONS[item.status]:
        with st.form(f"{keys.CLOSE}{item.id}"):
            st.markdown("**Close as done** with the outcome")
            cols = st.columns(3)
            metric = cols[0].text_input("Metric", placeholder="accuracy on mobile", key=f"{keys.CLOSE_METRIC}{item.id}")
            before = cols[1].number_input("Before", value=0.0, format="%.4f", key=f"{keys.CLOSE_BEFORE}{item.id}")
            after = cols[2].number_input("After", value=0.0, format="%.4f", key=f"{keys.CLOSE_AFTER}{item.id}")
            note = st.text_input("Note", key=f"{keys.CLOSE_NOTE}{item.id}")
            if st.form_submit_button("Close as done"):
                widgets.attempt(
                    lambda: backlog.close(engine, actor, item.id, metric=metric, before=before, after=after,
                                          note=note, expected_version=item.version),
                    f"Item #{item.id} closed.",
                )  # fmt: skip
    if "dropped" in backlog.TRANSITIONS[item.status]:
        with st.form(f"{keys.DROP}{item.id}"):
            reason = st.text_input("Why drop it?", key=f"{keys.DROP_REASON}{item.id}")
            if st.form_submit_button("Drop item"):
                widgets.attempt(
                    lambda: backlog.transition(engine, actor, item.id, "dropped", comment=reason,
                                               expected_version=item.version),
                    f"Item #{item.id} dropped.",
                )  # fmt: skip


def render(engine: Engine, actor: Actor, item_id: int) -> None:
    detail = backlog.get_item(engine, item_id)
    item = detail.item
    st.subheader(f"#{item.id} {item.title}", anchor=False)
    cols = st.columns(4)
    cols[0].metric("Status", STATUS_LABELS.get(item.status, item.status))
    cols[1].metric("Kind", _kind(item.kind))
    cols[2].metric(f"Score ({item.scoring.upper()})", _num(item.score), help=detail.score_formula)
    cols[3].metric("Reach / week", _num(item.reach, ",.1f"), help=item.reach_basis or "set by hand")
    st.caption(f"Owner: {item.owner or 'nobody yet'} · created by {item.created_by} {fmt.when(item.created_at)}")
    if item.description:
        st.text(item.description)
    if item.status == "done":
        st.text(f"Outcome: {item.outcome_metric} {_num(item.outcome_before)} -> {_num(item.outcome_after)}"
                + (f" ({(item.outcome or {}).get('note')})" if (item.outcome or {}).get("note") else ""))  # fmt: skip
    elif item.status == "dropped":
        st.text(f"Dropped: {(item.outcome or {}).get('note') or ''}")
    _evidence(detail)
    if actor.can(Role.analyst):
        _status_controls(engine, actor, item)
        with st.expander("Edit item"):
            edit.render(engine, actor, item)
    with st.expander("History"):
        st.dataframe(
            pd.DataFrame([{"when": e.ts, "who": e.actor, "action": e.action, "details": e.payload}
                          for e in detail.history]),
            hide_index=True, width="stretch",
        )  # fmt: skip
