"""A shadow or canary live, next to the champion (the Deployments view of the Models screen): its
realized metrics over the stage's period from services.models.live, as a table and a chart, with a link
to Monitoring for the challenger."""

from __future__ import annotations

import streamlit as st

from app import figures_models as figs
from app.format import when as _when
from pages.models import keys
from pages.models.common import ModelsPage
from pages.models.tables import live_table, monitoring_params
from services.core.errors import LoopdeckError
from services.models import live

MONITORING_PAGE = "pages/monitoring/page.py"


def _option(pairs: dict, deployment_id: int) -> str:
    d, v = pairs[deployment_id]
    until = "serving" if d.ended_at is None else f"ended {_when(d.ended_at)}"
    return f"v{v.version} {d.stage} {d.traffic_share:.0%} since {_when(d.started_at)} ({until}, #{d.id})"


def render(p: ModelsPage) -> None:
    st.markdown("**Live: a shadow or canary next to the champion**")
    stages = live.stage_deployments(p.engine, p.model_name)
    if not stages:
        st.caption("No shadow or canary has served yet.")
        return
    pairs = {d.id: (d, v) for d, v in stages}
    chosen = st.selectbox("Stage", list(pairs), format_func=lambda i: _option(pairs, i), key=keys.LIVE_DEPLOYMENT)
    try:
        lc = live.live_comparison(p.engine, chosen)
    except LoopdeckError as exc:
        st.info(str(exc))
        return
    challenger, champion = f"v{lc.version} ({lc.stage})", f"v{lc.champion_version} (champion)"
    if not lc.metrics:
        st.info(lc.note)
        return
    where = "same requests, paired" if lc.source == "shadow scores" else "whole UTC days, via monitoring"
    st.caption(f"{lc.window_label} ({where}): {lc.rows[0]:,} labelled rows for {challenger}, {lc.rows[1]:,} for "
               f"{champion}. {lc.note} {live.bounds_note(lc.bounds)}".strip())  # fmt: skip
    frame = lc.frame()
    cols = st.columns([3, 2])
    cols[0].dataframe(live_table(frame, challenger, champion), hide_index=True, width="stretch", key=keys.LIVE_TABLE)
    cols[1].plotly_chart(figs.live_metrics_figure(frame, challenger, champion), key=keys.LIVE_FIG, width="stretch")
    links = st.columns(2)
    links[0].page_link(MONITORING_PAGE, label=f"Monitoring for v{lc.version}", icon=":material/monitor_heart:",
                       query_params=monitoring_params(p.model_name, lc.version))  # fmt: skip
    links[1].page_link(MONITORING_PAGE, label=f"Monitoring for v{lc.champion_version}", icon=":material/monitor_heart:",
                       query_params=monitoring_params(p.model_name, lc.champion_version))  # fmt: skip
