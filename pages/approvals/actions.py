"""What I can do with one approval request: approve or reject it (four-eyes), execute an approved one after
a confirmation that shows exactly what will happen (a retrain runs in the background), or cancel it."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import retrain_jobs, widgets
from pages.approvals import keys
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.governance import approvals, executor


def render(me: Actor, engine: Engine, view: approvals.RequestView) -> None:
    r = view.request
    mine = r.requested_by == me.label
    decided = any(d.actor == me.label and d.valid for d in view.decisions)
    if r.status == "pending":
        if mine:
            st.info("You requested this: someone else must approve it (four-eyes).")
        elif not me.can(Role.approver):
            st.caption("An approver decides on this request.")
        elif decided:
            st.caption("You have decided on this request; it waits for more approvals.")
        else:
            comment = st.text_input("Your comment", key=f"{keys.COMMENT}{r.id}",
                                    placeholder="Required to reject; optional to approve")  # fmt: skip
            c1, c2, _ = st.columns([1, 1, 3])
            if c1.button("Approve", key=f"{keys.APPROVE}{r.id}", type="primary", icon=":material/check:"):
                widgets.attempt(
                    lambda: approvals.decide(engine, me, r.id, "approve", comment),
                    lambda v: f"Approved #{r.id} ({v.approvals} of {v.required}; now {v.request.status}).",
                )
            if c2.button("Reject", key=f"{keys.REJECT}{r.id}", icon=":material/close:"):
                widgets.attempt(lambda: approvals.decide(engine, me, r.id, "reject", comment),
                                f"Rejected #{r.id}.")  # fmt: skip
    if r.status == "approved":
        role = executor.execute_role(r.kind)  # the kind's: the same role on every page and in the shell
        if r.kind == "retrain":
            if me.can(role) and st.button("Start the retraining …", key=f"{keys.RETRAIN}{r.id}", type="primary"):
                st.session_state[keys.CONFIRM] = (r.id, executor.preview(engine, r.id).digest)
                st.rerun()
        elif me.can(role):
            if st.button("Execute …", key=f"{keys.EXECUTE}{r.id}", type="primary", icon=":material/rocket_launch:"):
                try:
                    plan = executor.preview(engine, r.id)
                except LoopdeckError as exc:
                    st.error(str(exc))
                else:
                    st.session_state[keys.CONFIRM] = (r.id, plan.digest)
                    st.rerun()
        else:
            st.caption("Approved: an approver executes it.")
    if (
        r.status in ("pending", "approved")
        and (mine or me.can(Role.admin))
        and st.button("Cancel the request", key=f"{keys.CANCEL}{r.id}")
    ):
        widgets.attempt(lambda: approvals.cancel(engine, me, r.id), f"Request #{r.id} cancelled.")


def _close_confirm() -> None:
    st.session_state.pop(keys.CONFIRM, None)


@st.dialog("Confirm: this is exactly what will happen", width="large", on_dismiss=_close_confirm)
def confirm_execute(me: Actor, engine: Engine, request_id: int, digest: str) -> None:
    try:
        plan = executor.preview(engine, request_id)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    if plan.digest != digest:
        st.warning("The state changed since you opened this: the steps below are the new plan. Confirm again.")
        st.session_state[keys.CONFIRM] = (request_id, plan.digest)
        digest = plan.digest
    if not plan.executable:
        st.error(f"Request #{request_id} cannot be executed now: {plan.blocker}")
    for i, step in enumerate(plan.steps, start=1):
        st.text(f"{i}. {step}")
    yes, no = st.columns(2)
    if yes.button("Execute now", type="primary", key=keys.CONFIRM_YES, disabled=not plan.executable):
        _close_confirm()
        if plan.kind == "retrain":  # a training job: it runs in the background, the request marked with it
            retrain_jobs.start(me, f"Retraining for request #{request_id}", "models.retrain_request",
                               {"request_id": request_id})  # fmt: skip
            st.rerun()
        widgets.attempt(lambda: executor.execute(engine, me, request_id, expected_digest=digest),
                        lambda x: x.summary())  # fmt: skip
    if no.button("Cancel", key=keys.CONFIRM_NO):
        _close_confirm()
        st.rerun()
