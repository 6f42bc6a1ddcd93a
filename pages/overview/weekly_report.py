"""The weekly loop report on the Overview screen: pick a week, prepare it, download HTML or PDF."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.overview import keys
from services.core.roles import Actor
from services.overview import report, report_render


def render(engine: Engine, actor: Actor) -> None:
    with st.expander("Weekly loop report", icon=":material/summarize:"):
        weeks = report.recent_weeks(engine)
        week = st.selectbox("Week", weeks, key=keys.REPORT_WEEK)
        if st.button("Prepare the report", key=keys.REPORT_PREPARE):
            built = widgets.attempt(lambda: report.weekly_report(engine, actor, week), rerun=False)
            if built is not None:
                st.session_state[keys.REPORT] = (week, report_render.to_html(built), report_render.to_pdf(built))
        ready = st.session_state.get(keys.REPORT)
        if ready and ready[0] == week:
            cols = st.columns(2)
            cols[0].download_button("Download HTML", ready[1], file_name=f"loopdeck-{week}.html", mime="text/html",
                                    key=keys.REPORT_HTML)  # fmt: skip
            cols[1].download_button("Download PDF", ready[2], file_name=f"loopdeck-{week}.pdf",
                                    mime="application/pdf", key=keys.REPORT_PDF)  # fmt: skip
