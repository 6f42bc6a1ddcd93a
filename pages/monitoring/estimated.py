"""The Estimated performance tab: CBPE estimates where outcomes have not arrived yet, beside the
realized values where they have.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_monitoring as figs
from pages.monitoring import keys
from pages.monitoring.common import progress_call
from pages.monitoring.frames import GRANULARITY_LABELS, METRIC_LABELS, cbpe_frame, interval, num
from pages.monitoring.header import Selection
from services.monitoring import estimated
from services.monitoring import views as mon


def draw(engine: Engine, sel: Selection) -> None:
    cols = st.columns(3)
    gran = cols[0].segmented_control("Windows", list(GRANULARITY_LABELS), format_func=GRANULARITY_LABELS.get,
                                     default="week", key=keys.CBPE_GRANULARITY, required=True)  # fmt: skip
    metric = cols[1].selectbox("Metric", mon.CBPE_METRICS, format_func=METRIC_LABELS.get, key=keys.CBPE_METRIC)
    report = progress_call(
        lambda p: estimated.cbpe_report(engine, sel.info.id, sel.reference, gran or "week", sel.cohort_filter),
        "Estimating",
    )
    est = estimated.estimate_window(engine, sel.info.id, sel.reference, sel.current, sel.cohort_filter).metric(metric)
    cols[2].metric(f"Estimated {METRIC_LABELS[metric]}, current window", num(est.value),
                   f"band {interval(est.lower, est.upper)}", delta_color="off", help=mon.CBPE_NOTE)  # fmt: skip
    st.caption(
        f"Calibrator: {report.calibration} ({report.calibration_reason}), fitted on {report.n_reference_labelled:,} "
        f"labelled rows of the reference {sel.reference.label}. {mon.CBPE_NOTE}"
    )
    rows = report.metric(metric)
    st.plotly_chart(figs.cbpe_figure(rows, METRIC_LABELS[metric]), key=keys.CBPE_CHART,
                    config={"displayModeBar": False})  # fmt: skip
    st.dataframe(cbpe_frame(rows), hide_index=True, width="stretch", key=keys.CBPE_TABLE,
                 column_config={"labelled share": st.column_config.NumberColumn(format="percent"),
                                "estimated": st.column_config.NumberColumn(format="%.3f"),
                                "realized": st.column_config.NumberColumn(format="%.3f")})  # fmt: skip
