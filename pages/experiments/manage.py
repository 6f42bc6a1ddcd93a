"""The Experiments view of the Experiments screen: the list, one experiment's record and what to do next
(its lifecycle is drawn by pages/experiments/lifecycle.py)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import backlog_form
from app import format as fmt
from pages.experiments import keys, lifecycle
from pages.experiments.common import go, model_labels, select_experiment
from pages.experiments.tables import OUTCOME_NAMES, design_summary, experiments_frame, history_frame, variants_frame
from services.backlog.items import EvidenceRef
from services.core.roles import Actor, Role
from services.experiments import lifecycle as experiments


def render(me: Actor, engine: Engine) -> None:
    rows = experiments.list_experiments(engine)
    if not rows:
        st.info("No experiments yet. Size one in Design, then register it.")
        return
    st.dataframe(experiments_frame(rows), hide_index=True, width="stretch", key=keys.LIST)
    exp = select_experiment(rows, keys.PICK_MANAGE)
    if exp is None:
        return
    st.subheader(exp.name or exp.key)
    st.text(f"Status: {exp.status}" + (f" since {fmt.when(exp.start_at)}" if exp.status != "draft" else ""))
    if exp.hypothesis:
        st.text(f"Hypothesis: {exp.hypothesis}")
    cols = st.columns([3, 2])
    cols[0].dataframe(design_summary(exp), hide_index=True, width="stretch", key=keys.DESIGN_TABLE)
    cols[1].dataframe(variants_frame(exp, model_labels(engine)), hide_index=True, width="stretch", key=keys.VAR_TABLE)
    if exp.status == "concluded":
        st.success(f"Concluded: {OUTCOME_NAMES.get(exp.outcome or '', 'decision recorded')}.")
        st.text(f"Decision: {exp.decision}")
        with st.expander("Follow up in the backlog", icon=":material/playlist_add:"):  # app/backlog_form
            ref = EvidenceRef("experiment", str(exp.id), exp.key)
            backlog_form.create_from_evidence(engine, me, ref, f"Follow up on experiment {exp.key}",
                                              key=f"{keys.BACKLOG}{exp.id}")  # fmt: skip
    st.button("Read the results", icon=":material/query_stats:", key=keys.TO_READ, on_click=go,
              args=("Read", exp.key))  # fmt: skip
    if me.can(Role.analyst):
        lifecycle.render(me, engine, exp)
    with st.expander("History (audit log)"):
        st.dataframe(history_frame(experiments.history(engine, exp.key)), hide_index=True, width="stretch",
                     key=keys.HISTORY)  # fmt: skip
