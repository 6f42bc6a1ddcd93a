"""The Drift over time tab: each window against the reference, when a column started drifting, and the
model's deployments on the same time axis.
"""

from __future__ import annotations

from datetime import date

import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_monitoring as figs
from pages.monitoring import keys
from pages.monitoring.common import progress_call
from pages.monitoring.frames import GRANULARITY_LABELS, over_time_source_line, shift_message, shifts
from pages.monitoring.header import Selection
from services.models import registry
from services.monitoring import drift_time
from services.monitoring import views as mon


def _deployment_events(engine: Engine, sel: Selection) -> list[tuple[date, str]]:
    events = []
    for dep in registry.list_deployments(engine, sel.info.model_name):
        day = dep.started_at.date()
        if sel.info.first_day <= day <= sel.info.last_day:  # type: ignore[operator]
            events.append((day, f"{dep.stage} {int(round(dep.traffic_share * 100))}% (id {dep.model_version_id})"))
    return events


def draw(engine: Engine, sel: Selection) -> None:
    gran = st.segmented_control("Windows", list(GRANULARITY_LABELS), format_func=GRANULARITY_LABELS.get,
                                default="day", key=keys.DOT_GRANULARITY, required=True)  # fmt: skip
    over = progress_call(
        lambda p: drift_time.drift_over_time(engine, sel.info.id, sel.reference, gran or "day", sel.cohort_filter, p),
        "Drift per window",
    )
    columns = list(dict.fromkeys(over.frame["column"])) if not over.frame.empty else []
    found = shifts(over, columns)
    if found:
        st.warning("Started drifting: " + "; ".join(shift_message(x) for x in found), icon=":material/trending_up:")
    else:
        st.success("No column's drift score crossed its threshold for good in this range.")
    st.caption(
        f"Each window against the reference {sel.reference.label}; same tests and thresholds as the Drift tab. "
        f"Numeric columns read samples of at most {mon.OVER_TIME_SAMPLE:,} rows per window here. Windows with fewer "
        f"than {mon.OVER_TIME_MIN_ROWS} rows are grey: too noisy to date a shift. Dotted lines: deployments of this "
        "model. " + over_time_source_line(over)
    )
    st.plotly_chart(figs.drift_share_figure(over.dataset, mon.DATASET_DRIFT_SHARE), key=keys.DOT_SHARE,
                    config={"displayModeBar": False})  # fmt: skip
    chosen = st.multiselect("Columns", columns, default=columns, key=f"{keys.DOT_COLUMNS_PREFIX}{sel.info.id}")
    events = _deployment_events(engine, sel)
    for start in range(0, len(chosen), 2):
        cols = st.columns(2)
        for col, c in zip(cols, chosen[start : start + 2], strict=False):
            col.plotly_chart(figs.drift_over_time_figure(over.frame, c, events), key=f"{keys.DOT_CHART_PREFIX}{c}",
                             config={"displayModeBar": False})  # fmt: skip
