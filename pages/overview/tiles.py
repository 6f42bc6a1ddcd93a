"""The tiles of the Overview screen: one per part of the loop, each linking to the screen with the detail."""

from __future__ import annotations

import math

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from services.core.roles import Actor, Role
from services.overview import summary as overview

SEVERITIES = ("critical", "warning", "info")
# Each Monitoring link opens the tab it names (pages/monitoring/url_state.py reads `tab`).
MONITORING_TABS = {slug: {"tab": slug} for slug in ("drift", "performance", "alerts")}


def _pct(value: float | None) -> str:
    return fmt.DASH if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def _days(value: float | None) -> str:
    if value is None:
        return fmt.DASH
    return f"{value:.0f} days" if value >= 2 else f"{value * 24:.0f} hours"


def counts_row(counts: overview.LoopCounts) -> None:
    tiles = st.columns(5)
    tiles[0].metric("Predictions", fmt.count(counts.predictions))
    tiles[1].metric("Outcomes", fmt.count(counts.outcomes), help="Delayed ground truth joined to predictions.")
    tiles[2].metric("Feedback", fmt.count(counts.feedback))
    tiles[3].metric("Model versions", fmt.count(counts.model_versions))
    tiles[4].metric("Champion", counts.champion or fmt.DASH, help="The version serving all traffic now.")


def champion_tile(engine: Engine) -> None:
    with st.container(border=True):
        champions = overview.champions(engine)
        if champions:
            c = champions[0]
            st.metric("Champion", c.label, help=f"Serving {c.traffic_share:.0%} at full stage since "
                                                f"{fmt.when(c.since)}.")  # fmt: skip
            st.caption(f"Serving for {_days(c.age_days)}, {c.traffic_share:.0%} of traffic"
                       + (f" (+{len(champions) - 1} more models)" if len(champions) > 1 else ""))  # fmt: skip
        else:
            st.metric("Champion", fmt.DASH)
            st.caption("No version serves at full stage.")
        st.page_link("pages/models/page.py", label="Models and rollouts", icon=":material/model_training:")


def alerts_tile(engine: Engine) -> None:
    with st.container(border=True):
        counts = overview.alert_counts(engine)
        st.metric("Open alerts", fmt.count(counts.open_total))
        parts = [f"{counts.open_by_severity.get(s, 0)} {s}" for s in SEVERITIES if counts.open_by_severity.get(s)]
        other = {k: v for k, v in counts.open_by_severity.items() if k not in SEVERITIES}
        parts += [f"{v} {k}" for k, v in other.items()]
        st.caption((", ".join(parts) or "none open") + f" · {counts.acknowledged} acknowledged")
        st.page_link("pages/monitoring/page.py", label="Alerts in Monitoring", icon=":material/notifications:",
                     query_params=MONITORING_TABS["alerts"])  # fmt: skip


def feedback_tile(engine: Engine) -> None:
    with st.container(border=True):
        fb = overview.feedback_status(engine)
        st.metric("Untriaged feedback", fmt.count(fb.untriaged),
                  help=f"New items; overdue means older than the {fb.sla_days}-day SLA.")  # fmt: skip
        st.caption(f"{fb.overdue:,} overdue · {fb.last_week:,} items in the last week of data "
                   f"({fb.previous_week:,} the week before)")  # fmt: skip
        st.page_link("pages/feedback/page.py", label="Feedback queue", icon=":material/feedback:")


def experiments_tile(engine: Engine) -> None:
    with st.container(border=True):
        running = overview.running_experiments(engine)
        st.metric("Running experiments", len(running))
        for e in running[:3]:
            progress = f", {e.progress:.0%} of planned sample" if e.progress is not None else ""
            st.caption(f"{e.name}: {_days(e.days_running)}, {e.exposures:,} units exposed{progress}",
                       help=overview.PROGRESS_DEFINITION)  # fmt: skip
        st.page_link("pages/experiments/page.py", label="Experiments", icon=":material/science:")


def approvals_tile(engine: Engine, actor: Actor) -> None:
    with st.container(border=True):
        status = overview.approval_status(engine, actor)
        if actor.can(Role.approver):
            st.metric("Awaiting my approval", len(status.awaiting_me))
            for r in status.awaiting_me[:3]:
                st.caption(f"#{r.id} {r.kind} {r.subject_type} {r.subject_id} by {r.requested_by}")
        else:
            st.metric("Pending approvals", status.pending_total)
        st.page_link("pages/approvals/page.py", label="Approvals", icon=":material/approval:")


def backlog_tile(engine: Engine) -> None:
    with st.container(border=True):
        items = overview.top_backlog(engine)
        st.markdown("**Top of the backlog**")
        if not items:
            st.caption("Nothing open.")
        for it in items:
            score = f"{it.score:.3g}" if it.score is not None else "unscored"
            st.text(f"#{it.id} {it.title} ({it.status.replace('_', ' ')}, {score})")
        st.page_link("pages/backlog/page.py", label="Backlog", icon=":material/checklist:")


def monitoring_tiles(status: overview.MonitoringStatus, drift_col, metric_col) -> None:
    drift, head = status.drift, status.headline
    with drift_col, st.container(border=True):
        if drift is None:
            st.metric("Drifted features", fmt.DASH)
            st.caption("No monitoring data for a champion yet.")
        else:
            st.metric("Drifted features", f"{drift.n_drifted} of {drift.n_features}",
                      help=f"{drift.version_label}: {drift.current.label} against {drift.reference.label} "
                           "(Evidently's rule per column; dataset drift at a share of 50%).")  # fmt: skip
            st.caption(("Dataset drift. " if drift.dataset_drift else "")
                       + (", ".join(drift.drifted_columns) or "no feature drifts"))  # fmt: skip
        if status.stale:
            st.caption("New rows arrived since the monitoring data was built: open Monitoring to refresh it.")
        if status.problem:
            st.caption(f"Monitoring: {status.problem}")
        st.page_link("pages/monitoring/page.py", label="Drift in Monitoring", icon=":material/monitor_heart:",
                     query_params=MONITORING_TABS["drift"])  # fmt: skip
    with metric_col, st.container(border=True):
        if head is None:
            st.metric("Realized accuracy", fmt.DASH)
        else:
            delta = None if head.trend is None else f"{head.trend:+.1%} vs the week before"
            st.metric(f"Realized {head.metric}", _pct(head.last_realized), delta=delta,
                      help="The last week where at least half the predictions have their outcome.")  # fmt: skip
            st.caption(f"Estimated (CBPE) for {head.estimate_week}: {_pct(head.estimate_recent)}, "
                       f"{_pct(head.labelled_share_recent)} labelled so far")  # fmt: skip
        st.page_link("pages/monitoring/page.py", label="Performance in Monitoring", icon=":material/insights:",
                     query_params=MONITORING_TABS["performance"])  # fmt: skip
