"""The Judge view of the Models screen: a candidate against the champion on the same holdout, gates and
metrics with intervals, a failed gate filed in the backlog, and the change requests the panel supports."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from app import backlog_form, widgets
from app import figures_models as figs
from app.format import gates_table
from app.format import when as _when
from pages.models import keys
from pages.models.common import ModelsPage, version_option
from pages.models.judge_tables import (
    cohort_metrics_compare,
    config_from_table,
    gate_backlog_description,
    gate_backlog_key,
    gate_option,
    overall_metrics_table,
    thresholds_table,
)
from services.core.errors import LoopdeckError
from services.core.roles import Role
from services.governance import approvals
from services.models import judge, rollout


def render(p: ModelsPage) -> None:
    champion = p.aliases.champion
    others = [v for v in sorted(p.versions, key=lambda v: -v.version) if not champion or v.id != champion.id]
    if champion is None or not others:
        st.info("The judge compares a candidate with the champion: it needs a champion and another version.")
        return
    c1, c2, c3 = st.columns([2, 2, 1])
    candidate = c1.selectbox("Candidate", [v.id for v in others], key=keys.JD_CANDIDATE,
                             format_func=lambda i: version_option(p, i))  # fmt: skip
    against = c2.selectbox("Against", [champion.id] + [v.id for v in others if v.id != candidate],
                           key=keys.JD_CHAMPION, format_func=lambda i: version_option(p, i))  # fmt: skip
    resamples = c3.selectbox("Resamples", [200, 1000, 2000], index=1, key=keys.JD_RESAMPLES)
    base = judge.config_from_settings(p.engine)
    with st.expander("Gates (no-regression rule, as MLflow's MetricThreshold)"):
        st.caption(
            "min_absolute_change / min_relative_change: how much better than the champion the candidate must be; "
            "a negative value allows that much regression. Overall gates read the point estimates; a cohort gate "
            f"fails only when the difference is also significant (p < {base.cohort_alpha})."
        )
        edited = st.data_editor(thresholds_table(base), hide_index=True, num_rows="dynamic", key=keys.JD_THRESHOLDS,
                                width="stretch")  # fmt: skip
        if p.me.can(Role.admin):
            st.page_link("pages/settings/page.py", label="Settings moved to Settings (everyone's default gates)",
                         icon=":material/settings:")  # fmt: skip
        else:
            st.caption("Changes here apply to this run; an admin sets the defaults.")
    if st.button("Run the judge", type="primary", key=keys.JD_RUN, icon=":material/balance:"):
        try:
            config = replace(config_from_table(edited, base), n_resamples=int(resamples))
            with st.spinner("Scoring the holdout with both versions and bootstrapping ..."):
                panel = judge.judge(p.engine, candidate, against, config=config)
        except LoopdeckError as exc:
            st.error(str(exc))
            return
        st.session_state[keys.PANEL] = panel
    panel: judge.JudgePanel | None = st.session_state.get(keys.PANEL)
    if panel is None or panel.candidate.id != candidate or panel.champion.id != against:
        st.caption("Choose the versions and run the judge: both score the same holdout, after both training windows.")
        return
    _panel(p, panel)


def _panel(p: ModelsPage, panel: judge.JudgePanel) -> None:
    h = panel.holdout
    verdict = {"pass": st.success, "fail": st.error}.get(panel.verdict, st.warning)
    verdict(f"Verdict: {panel.verdict.upper()}. {panel.headline()}")
    st.caption(
        f"Holdout: {h.rows:,} labelled predictions after {_when(h.start)}"
        + (f" and before {_when(h.end)}" if h.end else "")
        + f" ({h.positives:,} churned), never seen by either version. {panel.comparison.n_resamples} paired "
        f"bootstrap resamples, seed {panel.comparison.seed}; {panel.seconds:.1f} s."
    )
    st.markdown("**Gates**")
    st.dataframe(gates_table(panel.gates_frame()), hide_index=True, width="stretch", key=keys.JD_GATES,
                 column_config={"candidate": st.column_config.NumberColumn(format="%.4f"),
                                "champion": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip
    if panel.failed and p.can_request:
        _failed_gate_to_backlog(p, panel)
    frame = panel.metrics_frame()
    st.markdown("**Overall** (95% CI; difference = candidate - champion, paired)")
    st.dataframe(overall_metrics_table(frame), hide_index=True, width="stretch", key=keys.JD_OVERALL)
    metric = st.segmented_control("Metric", list(judge.METRICS), default="accuracy", key=keys.JD_METRIC) or "accuracy"
    st.plotly_chart(figs.metric_comparison(frame, metric), key=keys.JD_COMPARE, width="stretch")
    st.dataframe(cohort_metrics_compare(frame, metric), hide_index=True, width="stretch", key=keys.JD_COHORTS)
    st.plotly_chart(figs.calibration_figure(panel.calibration), key=keys.JD_CALIBRATION, width="stretch")
    if p.can_request:
        _request_actions(p, panel)


def _failed_gate_to_backlog(p: ModelsPage, panel: judge.JudgePanel) -> None:
    """A failed gate becomes a backlog item (app/backlog_form; evidence "judge_gate")."""
    with st.expander("File a failed gate in the backlog", icon=":material/playlist_add:"):
        failed = list(panel.failed)
        index = 0
        if len(failed) > 1:
            index = st.selectbox("Failed gate", list(range(len(failed))), key=keys.JD_BACKLOG_GATE,
                                 format_func=lambda i: gate_option(failed[i]))  # fmt: skip
        gate = failed[index]
        where = "overall" if gate.scope == "overall" else f"on {gate.scope}"
        backlog_form.create_from_evidence(
            p.engine, p.me, panel.gate_evidence(gate),
            f"{panel.candidate.label} fails the {gate.metric} gate {where} against v{panel.champion.version}",
            key=gate_backlog_key(panel, gate), description=gate_backlog_description(panel, gate),
        )  # fmt: skip


def _request_actions(p: ModelsPage, panel: judge.JudgePanel) -> None:
    st.markdown("**Ask for a change** (the panel above is attached as evidence, as it is now)")
    comment = st.text_area("Comment", key=keys.REQ_COMMENT, placeholder="Why this change, and what you checked")
    c1, c2, c3 = st.columns(3, vertical_alignment="bottom")
    evidence = panel.to_evidence()
    cid = panel.candidate.id
    if c1.button("Request promotion", key=keys.REQ_PROMOTE, icon=":material/rocket_launch:"):
        widgets.attempt(
            lambda: approvals.request_change(p.engine, p.me, "promote", cid, comment, {"stage": "full"}, evidence),
            lambda r: f"Promotion requested (#{r.id}); it needs {r.required_approvals} approval(s) by someone else.",
        )  # fmt: skip
    share = c2.selectbox("Canary share", [0.05, 0.10, 0.25, 0.5], format_func=lambda s: f"{s:.0%}",
                         key=keys.REQ_SHARE)  # fmt: skip
    rail_metric = c3.selectbox("Guard rail (canary or shadow)", list(rollout.GUARDRAIL_METRICS),
                               key=keys.REQ_GUARDRAIL_METRIC)  # fmt: skip
    drop = c3.number_input(f"{rail_metric} at most this much below the champion's",
                           min_value=0.0, max_value=0.5, value=rollout.DEFAULT_MAX_DROP, step=0.005, format="%.3f",
                           key=keys.REQ_GUARDRAIL,
                           help="Checked on the stage's labelled requests; a breach raises an alert and proposes "
                                "a rollback.")  # fmt: skip
    rail = rollout.guardrail_condition(drop, rail_metric)
    if c2.button("Request canary", key=keys.REQ_CANARY):
        widgets.attempt(
            lambda: approvals.request_change(p.engine, p.me, "canary", cid, comment,
                                             {"stage": "canary", "traffic_share": share, "guardrail": rail},
                                             evidence),
            lambda r: f"Canary requested (#{r.id}).",
        )  # fmt: skip
    if c3.button("Request shadow", key=keys.REQ_SHADOW, help="0% of traffic; scores recorded, never served"):
        widgets.attempt(
            lambda: approvals.request_change(p.engine, p.me, "canary", cid, comment,
                                             {"stage": "shadow", "traffic_share": 0.0, "guardrail": rail}, evidence),
            lambda r: f"Shadow requested (#{r.id}).",
        )  # fmt: skip
