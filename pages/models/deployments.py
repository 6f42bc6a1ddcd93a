"""The Deployments view of the Models screen: the timeline and history of what served when, the routing
production reads, and (analysts) requests to roll back or end a challenger, shadow scores, guard rails."""

from __future__ import annotations

import streamlit as st

from app import figures_models as figs
from app import widgets
from app.format import when as _when
from pages.models import keys, live
from pages.models.common import ModelsPage
from pages.models.tables import history_frame, history_table
from services.core.timeutil import utcnow
from services.models import registry, rollout


def render(p: ModelsPage) -> None:
    history = history_frame(rollout.history_with_versions(p.engine, p.model_name))
    st.plotly_chart(figs.deployment_timeline(history, utcnow()), key=keys.TIMELINE, width="stretch")
    st.markdown("**Deployment history** (never overwritten: a deployment that stops gets an end time)")
    st.dataframe(history_table(history), hide_index=True, width="stretch", key=keys.HISTORY)
    routing = rollout.current_routing(p.engine, p.model_name)
    with st.expander("Routing now (what production reads: `python -m services routing --json`)"):
        st.json(routing.as_dict())
    live.render(p)
    if not p.can_request:
        return
    left, right = st.columns(2)
    with left:
        st.markdown("**Request a rollback**")
        target = registry.previous_champion(p.engine, p.model_name)
        champion = p.aliases.champion
        options = [v.id for v in sorted(p.versions, key=lambda v: -v.version) if not champion or v.id != champion.id]
        if not options:
            st.caption("There is no other version to roll back to.")
        else:
            default = options.index(target.id) if target and target.id in options else 0
            to = st.selectbox("Back to", options, index=default, key=keys.ROLLBACK_TO,
                              format_func=lambda i: f"v{p.by_id[i].version}"
                              + (" (previous champion)" if target and i == target.id else ""))  # fmt: skip
            reason = st.text_input("Why", key=keys.ROLLBACK_REASON, placeholder="e.g. v3 hurts the web cohort")
            if st.button("Request rollback", key=keys.ROLLBACK_REQUEST, icon=":material/undo:"):
                widgets.attempt(
                    lambda: rollout.request_rollback(p.engine, p.me, p.model_name, reason, to_version_id=to),
                    lambda r: f"Rollback requested (#{r.id}); an approver decides on the Approvals page.",
                )  # fmt: skip
    with right:
        canaries = [(v, d) for v, d in p.aliases.challengers]
        st.markdown("**Challengers**")
        if not canaries:
            st.caption("No canary or shadow is serving.")
        for v, d in canaries:
            metric, drop, source = rollout.stage_guardrail(p.engine, d)
            st.text(f"v{v.version}: {d.stage} {d.traffic_share:.0%} since {_when(d.started_at)} (deployment #{d.id}); "
                    f"guard rail: {metric} at most {drop:g} below the champion"
                    + (" (default)" if source == "default" else ""))  # fmt: skip
        if canaries:
            end = st.selectbox("End one", [d.id for _, d in canaries], key=keys.END_CANARY,
                               format_func=lambda i: f"deployment #{i}")  # fmt: skip
            why = st.text_input("Why", key=keys.END_REASON)
            if st.button("Request to end it", key=keys.END_REQUEST):
                widgets.attempt(
                    lambda: rollout.request_rollback(p.engine, p.me, p.model_name, why, end_deployment_id=end),
                    lambda r: f"Requested (#{r.id}).",
                )  # fmt: skip
            cols = st.columns(2)
            if cols[0].button("Record shadow scores", key=keys.SHADOW_SCORES):
                widgets.attempt(lambda: rollout.record_shadow_scores(p.engine, p.me, p.model_name),
                                lambda n: f"{n:,} shadow scores recorded.", rerun=False)  # fmt: skip
            if cols[1].button("Check guard rails", key=keys.GUARDRAILS):
                checks = widgets.attempt(lambda: rollout.check_guardrails(p.engine, p.me, p.model_name), rerun=False)
                for c in checks or []:
                    (st.error if c.breached else st.info)(c.message())
