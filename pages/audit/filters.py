"""The filters of the Audit log screen: actor, action, object type and id, and a UTC date range."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from pages.audit import keys
from services.core import audit

ALL = ""  # the "any" choice in the filter pickers


def render(engine: Engine) -> audit.AuditFilter:
    """The filter as chosen."""
    choices = audit.facets(engine)
    row1 = st.columns(3)
    actor = row1[0].selectbox("Actor", [ALL, *choices.actors], format_func=lambda v: v or "Anyone", key=keys.ACTOR)
    action = row1[1].selectbox("Action", [ALL, *choices.actions], format_func=lambda v: v or "Any", key=keys.ACTION)
    subject_type = row1[2].selectbox(
        "Object type", [ALL, *choices.subject_types], format_func=lambda v: v or "Any", key=keys.SUBJECT_TYPE
    )
    row2 = st.columns(3)
    subject_id = row2[0].text_input("Object id", key=keys.SUBJECT_ID, placeholder="e.g. 42")
    since = row2[1].date_input("From (UTC)", value=None, key=keys.SINCE)
    until = row2[2].date_input("To (UTC, inclusive)", value=None, key=keys.UNTIL)
    return fmt.audit_filter(actor, action, subject_type, subject_id, since, until)
