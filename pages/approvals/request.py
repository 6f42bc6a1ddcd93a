"""One approval request on the Approvals screen: what is asked, its evidence as it was when requested,
what executing it would do now, the decisions so far, what was done, and the actions open to me."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app.format import when as _when
from pages.approvals import actions, keys
from pages.approvals.tables import (
    KIND_LABELS,
    STATUS_ICONS,
    decisions_table,
    evidence_gates,
    md_escape,
    payload_lines,
    subject_label,
)
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.core.schema_models import ModelVersion
from services.governance import approvals, executor


def render(me: Actor, engine: Engine, request_id: int, versions: Mapping[int, ModelVersion]) -> None:
    view = approvals.get_request(engine, request_id)
    r = view.request
    st.markdown(
        f"**#{r.id} · {KIND_LABELS.get(r.kind, r.kind)} · {md_escape(subject_label(r, versions))}** "
        f"· {STATUS_ICONS.get(r.status, '')} {r.status} · {view.approvals} of {view.required} approval(s)"
    )
    st.caption(f"Requested by {r.requested_by} at {_when(r.requested_at)}")
    st.text(r.comment)
    for line in payload_lines(r):
        st.text(f"Asked: {line}")
    gates = evidence_gates(r.evidence)
    if gates is not None:
        ev = r.evidence or {}
        st.markdown(f"**Evidence: judge panel** ({md_escape(ev.get('computed_at', '')[:16])}) "
                    f"verdict **{md_escape(ev.get('verdict', ''))}**")  # fmt: skip
        st.text(str(ev.get("headline", "")))
        with st.expander("Gates and metrics as they were when requested"):
            st.dataframe(gates, hide_index=True, width="stretch", key=f"{keys.GATES}{r.id}")
            metrics = pd.DataFrame(ev.get("metrics") or [])
            if not metrics.empty:
                st.dataframe(metrics[metrics["scope"] == "overall"], hide_index=True, width="stretch",
                             key=f"{keys.METRICS}{r.id}")  # fmt: skip
    elif r.evidence:
        ev = r.evidence
        if ev.get("kind") == "alert":
            st.markdown(f"**Evidence: alert #{md_escape(ev.get('alert_id'))}** ({md_escape(ev.get('state'))}, "
                        f"opened {md_escape(str(ev.get('opened_at', ''))[:16])})")  # fmt: skip
            st.text(str(ev.get("summary", "")))
        elif ev.get("kind") == "guardrail":
            st.markdown("**Evidence: guard-rail breach**")
            st.text(f"{ev.get('metric')}: {ev.get('challenger')} vs champion {ev.get('champion')} "
                    f"(at most {ev.get('max_drop')} worse), rows {ev.get('rows')}")  # fmt: skip
        with st.expander("Evidence (as it was when requested)"):
            st.json(ev)
    if r.status in ("pending", "approved"):
        with st.expander("What executing it would do now", expanded=r.status == "approved"):
            _plan_lines(engine, r.id)
    if view.decisions:
        st.dataframe(decisions_table(view.decisions), hide_index=True, width="stretch", key=f"{keys.DECISIONS}{r.id}")
    if r.status == "executed" and r.result:
        with st.expander("What was done"):
            for step in r.result.get("steps", []):
                st.text(f"• {step}")
            if r.result.get("model_version_id"):
                st.text(f"Registered model version id {r.result['model_version_id']} (v{r.result.get('version')}).")
    actions.render(me, engine, view)


def _plan_lines(engine: Engine, request_id: int) -> None:
    try:
        plan = executor.preview(engine, request_id)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    if not plan.executable:
        st.warning(f"Cannot be executed now: {plan.blocker}")
    for step in plan.steps:
        st.text(f"• {step}")
