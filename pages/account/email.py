"""My account, "E-mail me": opt in to one's own e-mail (services/notify/personal.py): the approval requests
addressed to me (approvers and admins) and the decisions on my own requests."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.account import keys
from services.core.roles import Actor, Role
from services.notify import personal

CHOICES = {
    "approval.requested": "Approval requests I may decide (not my own)",
    "approval.decided": "Decisions on my own requests",
}


def render(me: Actor, engine: Engine) -> None:
    st.subheader("E-mail me")
    current = personal.get_personal(engine, me)
    if not current.available:
        st.caption("No mail server is configured, so Loopdeck sends no personal e-mail. An admin sets one "
                   "with LOOPDECK_SMTP_URL.")  # fmt: skip
    offered = [e for e in CHOICES if e != "approval.requested" or me.role >= Role.approver]
    with st.form(keys.EMAIL_FORM):
        chosen = [e for e in offered if _tick(e, current)]
        st.caption(f"Sent to {current.email or 'your address'}, with a link to the request.")
        saved = st.form_submit_button("Save", disabled=not current.available)
    if saved:
        events = tuple(chosen) or personal.PERSONAL_EVENTS  # none ticked: off (the events are kept for later)
        widgets.attempt(lambda: personal.set_personal(engine, me, bool(chosen), events),
                        "Saved: " + ("you will get these e-mails." if chosen else "no personal e-mail."))  # fmt: skip


def _tick(event: str, current: personal.PersonalView) -> bool:
    return st.checkbox(CHOICES[event], value=current.enabled and event in current.events,
                       key=f"{keys.EMAIL_EVENT_PREFIX}{event}", disabled=not current.available)  # fmt: skip
