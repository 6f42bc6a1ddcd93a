"""The Monitoring screen (run by pages/monitoring/page.py): windows and cohort filter on top, then lazy
tabs (only the open tab computes).

    Drift | Drift over time | Performance | Calibration | Estimated performance | Alerts

Every number comes from services.monitoring.views / services.monitoring.alerts (cached there per data
version); the views only pick inputs, format results (frames.py, pure and tested without Streamlit)
and draw the figures of app/figures_monitoring. Viewers read everything; analysts and up also change
drift tests, create alert rules, evaluate them, acknowledge, resolve and file alerts to the backlog
(the services refuse anyone else anyway).
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from pages.monitoring import (
    alerts,
    calibration,
    drift,
    drift_over_time,
    estimated,
    header,
    keys,
    links,
    performance,
    raw_rows,
)
from pages.monitoring.common import set_default
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.monitoring import summary_prefetch
from services.monitoring import views as mon

TABS = ("Drift", "Drift over time", "Performance", "Calibration", "Estimated performance", "Alerts")


def render(actor: Actor, engine: Engine) -> None:
    st.title("Monitoring")
    st.caption("Is the model still right, for whom, and since when? Drift of inputs and outputs, performance per "
               "cohort where outcomes are known, calibration, estimates where they are not yet, and "
               "alerts.")  # fmt: skip
    if not header.prepare_data(engine, actor):
        return  # the first build runs in the worker: its progress is shown, nothing to draw yet
    versions = [v for v in mon.list_versions(engine) if v.has_data]
    if not versions:
        st.info("No predictions yet. Import predictions (and later their outcomes) on the Data page; they appear here.")
        return
    links.follow(engine, versions)  # a link (/monitor?tab=drift&cohort=platform&value=ios ...) sets the widgets
    sel = header.select(engine, versions)
    set_default(keys.TAB, TABS[0])
    tabs = st.tabs(TABS, key=keys.TAB, on_change="rerun")
    links.write(sel)  # ... and the widgets set the URL: every view is a link
    renderers = (
        lambda: drift.draw(engine, actor, sel),
        lambda: drift_over_time.draw(engine, sel),
        lambda: (performance.draw(engine, sel), raw_rows.draw(engine, actor, sel)),
        lambda: calibration.draw(engine, sel),
        lambda: estimated.draw(engine, sel),
        lambda: alerts.draw(engine, actor, sel),
    )
    for tab, draw in zip(tabs, renderers, strict=True):
        if tab.open is False:
            continue
        with tab:
            try:
                draw()
            except LoopdeckError as exc:
                st.error(str(exc))
    # While the user reads, decode the version's other day summaries so that a window change reads no blob.
    # Not the day blocks: no view reads rows by default, and at 10M predictions decoding them filled the
    # blocks' cache (LOOPDECK_MONITORING_CACHE_MB) with rows nobody asked for (docs/scale.md, "The page").
    summary_prefetch.prefetch(engine, sel.info.id)
