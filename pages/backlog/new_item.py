"""The "New backlog item" form of the Backlog screen (analysts and up): kind, owner, evidence and RICE."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from app.backlog_form import kind_label as _kind
from pages.backlog import keys
from pages.backlog.tables import IMPACT_OPTIONS, STATUS_LABELS
from services.backlog import items as backlog
from services.backlog import scoring
from services.backlog.items import EvidenceRef
from services.core.roles import Actor


def render(engine: Engine, actor: Actor) -> None:
    with st.expander("New backlog item", icon=":material/add:"), st.form(widgets.form_key(keys.NEW_FORM)):
        title = st.text_input("Title", key=keys.NEW_TITLE)
        cols = st.columns(3)
        kind = cols[0].selectbox("Kind", backlog.KINDS, format_func=_kind, key=keys.NEW_KIND)
        owner = cols[1].text_input("Owner (e-mail)", value=actor.label, key=keys.NEW_OWNER)
        status = cols[2].selectbox("Status", ["proposed", "planned"], format_func=STATUS_LABELS.get,
                                   key=keys.NEW_STATUS)  # fmt: skip
        description = st.text_area("Description", key=keys.NEW_DESCRIPTION)
        st.caption("Evidence (optional): what justifies the item. Reach is pre-filled from it when left at 0.")
        ecols = st.columns(2)
        ref_type = ecols[0].selectbox("Evidence type", ["(none)", *backlog.EVIDENCE_TYPES], key=keys.NEW_REF_TYPE)
        ref_id = ecols[1].text_input("Evidence id", key=keys.NEW_REF_ID,
                                     help="alert id, theme id, experiment id, model:field=value for a cohort "
                                          "gap, model:feature for drift")  # fmt: skip
        st.caption("RICE: reach x impact x confidence / effort.")
        rcols = st.columns(4)
        reach = rcols[0].number_input("Reach per week", min_value=0.0, value=0.0, key=keys.NEW_REACH)
        impact = rcols[1].selectbox("Impact", IMPACT_OPTIONS, index=2, key=keys.NEW_IMPACT,
                                    format_func=lambda v: f"{v:g} ({scoring.IMPACT_SCALE[v]})")  # fmt: skip
        confidence = rcols[2].number_input("Confidence (0-1)", 0.0, 1.0, 0.8, step=0.1, key=keys.NEW_CONFIDENCE)
        effort = rcols[3].number_input("Effort (person-weeks)", min_value=0.1, value=1.0, key=keys.NEW_EFFORT)
        if st.form_submit_button("Create item", type="primary"):
            links = [] if ref_type == "(none)" or not ref_id.strip() else [EvidenceRef(ref_type, ref_id.strip())]

            def create():
                item = backlog.create_item(
                    engine, actor, kind=kind, title=title, description=description, owner=owner, status=status,
                    links=links, reach=reach or None, impact=impact, confidence=confidence, effort=effort,
                )  # fmt: skip
                widgets.reset_form(keys.NEW_FORM)
                st.session_state[keys.SELECTED] = item.id
                return item

            widgets.attempt(create, lambda item: f"Backlog item #{item.id} created.")
