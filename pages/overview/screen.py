"""The Overview screen: the loop's tiles (pages/overview/tiles.py), the headline metric's trend, the last
decisions and the weekly loop report to download."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_overview, widgets
from pages.overview import keys, tiles, weekly_report
from services.core.roles import Actor
from services.overview import summary as overview


def render(actor: Actor, engine: Engine) -> None:
    st.title("Overview")
    widgets.show_flash()
    counts = overview.loop_counts(engine)
    if counts.predictions == 0 and counts.model_versions == 0:
        tiles.counts_row(counts)
        st.info(
            "The loop is empty. Import predictions, outcomes and feedback on the Data page "
            "(analysts and admins), or load the demo with `python -m services init-db --demo`."
        )
        return
    row = st.columns(4)
    with row[0]:
        tiles.champion_tile(engine)
    with row[1]:
        tiles.alerts_tile(engine)
    status = overview.monitoring_status(engine)
    tiles.monitoring_tiles(status, row[2], row[3])
    row2 = st.columns(4)
    with row2[0]:
        tiles.feedback_tile(engine)
    with row2[1]:
        tiles.experiments_tile(engine)
    with row2[2]:
        tiles.approvals_tile(engine, actor)
    with row2[3]:
        tiles.backlog_tile(engine)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Headline metric by week", anchor=False)
        weeks = status.headline.weeks if status.headline else pd.DataFrame()
        metric = status.headline.metric if status.headline else "accuracy"
        st.plotly_chart(figures_overview.headline_trend(weeks, metric), width="stretch", key=keys.TREND)
    with right:
        _decisions(engine)
    weekly_report.render(engine, actor)
    with st.expander("Counts"):
        tiles.counts_row(counts)


def _decisions(engine: Engine) -> None:
    st.subheader("Last decisions", anchor=False)
    rows = overview.decisions(engine, limit=10)
    if not rows:
        st.caption("No decisions recorded yet.")
        return
    st.dataframe(
        pd.DataFrame([{"when": d.ts, "what": d.kind, "decision": d.text, "by": d.actor} for d in rows]),
        hide_index=True, width="stretch",
        column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )  # fmt: skip
    st.page_link("pages/audit/page.py", label="Audit log", icon=":material/receipt_long:")
