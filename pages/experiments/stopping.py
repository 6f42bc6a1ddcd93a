"""Alerts and stopping on the Read view of the Experiments screen: the guard-rail alerts (opened once, with
one stop proposal), the stopping rule's verdict, and a request to stop that an approver decides."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import widgets
from pages.experiments import keys
from pages.experiments.tables import OUTCOME_NAMES, md
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.experiments import guard, readout_service
from services.experiments import lifecycle as experiments
from services.governance import executor


def render(me: Actor, engine: Engine, readout, reading: str) -> None:
    exp = readout.experiment
    for alert in readout.alerts:
        st.error(md(alert.message), icon=":material/warning:")
    if readout.alerts and exp.status == "running":
        if me.can(Role.analyst):
            try:  # idempotent: opens each alert once and files one stop proposal (imports and the CLI do too)
                result = guard.raise_alerts(engine, me, readout, reading)
            except LoopdeckError as exc:
                st.error(str(exc))
            else:
                if result.proposed or result.opened:
                    st.warning(md(result.message), icon=":material/pan_tool:")
        opened = [a for a in guard.experiment_alerts(engine, exp.id) if a.state != "resolved"]
        if opened:
            st.caption(f"Alerts {', '.join(f'#{a.id} ({a.state})' for a in opened)} are in Monitoring's alert list; "
                       "the guard-rails are checked after every exposures or metrics import.")  # fmt: skip
    if exp.status == "concluded":
        outcome = OUTCOME_NAMES.get(exp.outcome or "", "decision recorded")
        st.success(f"Concluded ({outcome}): {md(exp.decision or '')}", icon=":material/gavel:")
        return
    if exp.status == "stopped":
        st.warning(f"Stopped at {fmt.when(exp.end_at)}; conclude it with a decision, or resume it.")
        return
    if readout.stopping.may_stop_for_win:
        st.success(md(readout.stopping.message), icon=":material/flag:")
    else:
        st.info(md(readout.stopping.message))
    if exp.status != "running":
        return
    requests = experiments.stop_requests(engine, exp.key)
    open_request = next((r for r in requests if r.status in ("pending", "approved")), None)
    if open_request is not None and open_request.status == "pending":
        st.info(f"Stop request #{open_request.id} is waiting for an approver (requested by "
                f"{md(open_request.requested_by)}).")  # fmt: skip
    if open_request is not None and open_request.status == "approved":
        st.warning(f"Stop request #{open_request.id} is approved.")
        if not me.can(executor.execute_role(open_request.kind)):  # the kind's role, as on the Approvals page
            st.caption("An approver executes it.")
        elif st.button(f"Stop the experiment (request #{open_request.id})", type="primary", icon=":material/stop:",
                       key=keys.STOP_EXEC):  # fmt: skip
            widgets.attempt(lambda: executor.execute(engine, me, open_request.id),
                            f"{exp.key} is stopped (request #{open_request.id} executed).")  # fmt: skip
        return
    if open_request is None and me.can(Role.analyst):
        title = "Propose to stop (an approver decides)" if readout.alerts else "Propose to stop this experiment"
        with st.expander(title, expanded=bool(readout.alerts)):
            default = "; ".join(a.message for a in readout.alerts)[:1500]
            with st.form(f"{keys.STOP}{exp.key}"):
                comment = st.text_area("Why stop?", value=default, key=f"{keys.STOP_WHY}{exp.key}")
                if st.form_submit_button("Request approval to stop", icon=":material/pan_tool:"):
                    evidence = readout_service.evidence(readout, reading)
                    widgets.attempt(
                        lambda: experiments.request_stop(engine, me, exp.key, comment, evidence),
                        lambda r: f"Stop request #{r.id} filed; an approver other than you decides.",
                    )
