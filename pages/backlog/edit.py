"""The edit form of one backlog item: title, kind, owner, description, RICE and WSJF inputs."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from app.backlog_form import kind_label as _kind
from pages.backlog import keys
from services.backlog import items as backlog
from services.backlog import scoring
from services.core.roles import Actor


def render(engine: Engine, actor: Actor, item) -> None:
    with st.form(f"{keys.EDIT}{item.id}_{item.version}"):
        title = st.text_input("Title", value=item.title, key=f"{keys.EDIT_TITLE}{item.id}")
        cols = st.columns(3)
        kind = cols[0].selectbox("Kind", backlog.KINDS, index=backlog.KINDS.index(item.kind), format_func=_kind,
                                 key=f"{keys.EDIT_KIND}{item.id}")  # fmt: skip
        owner = cols[1].text_input("Owner", value=item.owner or "", key=f"{keys.EDIT_OWNER}{item.id}")
        method = cols[2].radio("Scoring", scoring.METHODS, index=scoring.METHODS.index(item.scoring),
                               format_func=str.upper, horizontal=True, key=f"{keys.EDIT_SCORING}{item.id}")  # fmt: skip
        description = st.text_area("Description", value=item.description, key=f"{keys.EDIT_DESCRIPTION}{item.id}")
        st.caption("RICE")
        r = st.columns(4)
        reach = r[0].number_input("Reach per week", min_value=0.0, value=float(item.reach or 0.0),
                                  key=f"{keys.EDIT_REACH}{item.id}")  # fmt: skip
        impact = r[1].number_input("Impact (0.25-3)", min_value=0.0, value=float(item.impact or 1.0), step=0.25,
                                   key=f"{keys.EDIT_IMPACT}{item.id}")  # fmt: skip
        confidence = r[2].number_input("Confidence (0-1)", 0.0, 1.0, float(item.confidence or 0.8), step=0.1,
                                       key=f"{keys.EDIT_CONFIDENCE}{item.id}")  # fmt: skip
        effort = r[3].number_input("Effort (person-weeks)", min_value=0.1, value=float(item.effort or 1.0),
                                   key=f"{keys.EDIT_EFFORT}{item.id}")  # fmt: skip
        st.caption("WSJF: (business value + time criticality + risk reduction) / job size")
        w = st.columns(4)
        bv = w[0].number_input("Business value", min_value=0.0, value=float(item.business_value or 1.0),
                               key=f"{keys.EDIT_BV}{item.id}")  # fmt: skip
        tc = w[1].number_input("Time criticality", min_value=0.0, value=float(item.time_criticality or 1.0),
                               key=f"{keys.EDIT_TC}{item.id}")  # fmt: skip
        rr = w[2].number_input("Risk reduction", min_value=0.0, value=float(item.risk_reduction or 1.0),
                               key=f"{keys.EDIT_RR}{item.id}")  # fmt: skip
        size = w[3].number_input("Job size", min_value=0.1, value=float(item.job_size or 1.0),
                                 key=f"{keys.EDIT_SIZE}{item.id}")  # fmt: skip
        if st.form_submit_button("Save changes"):
            changes = {"title": title, "kind": kind, "owner": owner, "scoring": method, "description": description,
                       "reach": reach, "impact": impact, "confidence": confidence, "effort": effort}  # fmt: skip
            if method == "wsjf" or item.scoring == "wsjf" or item.business_value is not None:
                changes |= {"business_value": bv, "time_criticality": tc, "risk_reduction": rr, "job_size": size}
            widgets.attempt(
                lambda: backlog.update_item(engine, actor, item.id, changes, expected_version=item.version),
                f"Item #{item.id} saved.",
            )
