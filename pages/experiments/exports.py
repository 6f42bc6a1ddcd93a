"""The downloads of the Read view of the Experiments screen: the readout as one shareable HTML file, results
as CSV, charts as HTML and as PNGs."""

from __future__ import annotations

import streamlit as st

from app import figures_experiments as figs
from pages.experiments import keys
from pages.experiments.tables import md
from services.core.roles import Actor
from services.experiments import readout_report, readout_service


def render(readout, figures, me: Actor) -> None:
    key = readout.experiment.key
    st.download_button(
        "Readout report (HTML)", data=lambda: readout_report.build(readout, me),
        file_name=readout_report.file_name(readout), mime="text/html", icon=":material/summarize:",
        on_click="ignore", key=keys.REPORT, help="Design, health, results and charts in one file; opens offline.",
    )  # fmt: skip
    c = st.columns(3)
    c[0].download_button("Results (CSV)", data=readout_service.results_csv(readout), file_name=f"{key}-results.csv",
                         mime="text/csv", icon=":material/download:", on_click="ignore", key=keys.CSV)  # fmt: skip
    c[1].download_button("Charts (HTML)", data=figs.to_html(figures), file_name=f"{key}-charts.html",
                         mime="text/html", icon=":material/download:", on_click="ignore", key=keys.HTML)  # fmt: skip
    reason = figs.png_unavailable()
    if reason:
        c[2].caption(md(reason))
        return
    names = [fig.layout.title.text or f"chart {i}" for i, fig in enumerate(figures, 1)]
    c[2].download_button("Charts (PNG, zip)", data=lambda: figs.to_png_zip(figures, names),
                         file_name=f"{key}-charts-png.zip", mime="application/zip", icon=":material/image:",
                         on_click="ignore", key=keys.PNG,
                         help="Rendered on the server when you click (a few seconds).")  # fmt: skip
