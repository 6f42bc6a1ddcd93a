"""The Calibration tab: reliability diagrams and ECE / MCE, over all labelled rows and per cohort."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_monitoring as figs
from pages.monitoring import keys
from pages.monitoring.common import ALL_ROWS
from pages.monitoring.frames import num, source_note
from pages.monitoring.header import Selection
from services.monitoring import performance
from services.monitoring import views as mon


def draw(engine: Engine, sel: Selection) -> None:
    cols = st.columns([2, 2, 3])
    field = cols[0].selectbox("Per cohort of", [ALL_ROWS, *sel.fields], format_func=lambda f: f or "(all rows only)",
                              key=f"{keys.CAL_FIELD_PREFIX}{sel.info.id}")  # fmt: skip
    n_bins = cols[1].slider("Bins", 5, 20, 10, key=keys.CAL_BINS)
    report = performance.calibration_report(engine, sel.info.id, sel.current, field or None, int(n_bins),
                                    cohort_filter=sel.cohort_filter)  # fmt: skip
    cols[2].metric("ECE, all labelled rows", num(report.overall.ece), help=mon.CALIBRATION_NOTE)
    diagrams = {"all rows": report.overall}
    table = [{"cohort": "all rows", "n": report.overall.n, "ECE": report.overall.ece, "MCE": report.overall.mce}]
    if report.cohorts is not None:
        for label, dg in zip(report.cohorts.cohorts, report.cohorts.diagrams, strict=True):
            name = ", ".join(str(x) for x in label)
            diagrams[name] = dg
            table.append({"cohort": name, "n": dg.n, "ECE": dg.ece, "MCE": dg.mce})
    st.caption(f"Current window {sel.current.label}, {report.n_labelled:,} labelled rows. {mon.CALIBRATION_NOTE} "
               + source_note(report.source, {"reliability diagram": 0.0}, report.from_blocks))  # fmt: skip
    st.plotly_chart(figs.reliability_figure(diagrams), key=keys.CAL_CHART, config={"displayModeBar": False})
    st.dataframe(pd.DataFrame(table), hide_index=True, key=keys.CAL_TABLE,
                 column_config={"ECE": st.column_config.NumberColumn(format="%.4f"),
                                "MCE": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip
