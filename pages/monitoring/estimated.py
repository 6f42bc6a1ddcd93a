"""The Estimated performance tab: CBPE estimates where outcomes have not arrived yet, beside the
realized values where they have.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_monitoring as figs
from pages.monitoring import keys
from pages.monitoring.common import progress_call
from pages.monitoring.frames import (
    BAND_LABELS,
    GRANULARITY_LABELS,
    METRIC_LABELS,
    cbpe_frame,
    cbpe_source_note,
    column_widths,
    estimate_delta,
    interval,
    num,
)
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
    before = estimated.estimate_window(engine, sel.info.id, sel.reference, sel.reference, sel.cohort_filter,
                                       auc_band=False).metric(metric)  # fmt: skip
    # The delta is signed, so a drop shows as a drop (arrow down, red); the band goes in the help, not the delta.
    cols[2].metric(f"Estimated {METRIC_LABELS[metric]}, current window", num(est.value),
                   estimate_delta(est.value, before.value), delta_description="vs the reference (estimated)",
                   help=f"Band {interval(est.lower, est.upper)} (+-3 SE). Reference {sel.reference.label}: estimated "
                   f"{num(before.value)}. {mon.CBPE_NOTE}")  # fmt: skip
    st.caption(
        f"Calibrator: {report.calibration} ({report.calibration_reason}), fitted on {report.n_reference_labelled:,} "
        f"labelled rows of the reference {sel.reference.label}. Current window: estimated {num(est.value)}, band "
        f"{interval(est.lower, est.upper)}. {mon.CBPE_NOTE}"
    )
    st.caption(cbpe_source_note(report, metric))
    rows = report.metric(metric)
    missed = report.outside_band(metric)
    if len(missed):
        st.warning(
            f"In {len(missed)} of {int((rows['band_check'] != estimated.UNKNOWN).sum())} windows with outcomes the "
            f"realized {METRIC_LABELS[metric]} fell outside the estimate's band: "
            + "; ".join(f"{w:%Y-%m-%d} ({BAND_LABELS[c].removeprefix('⚠ ')}: realized {num(r)}, band "
                        f"{interval(lo, hi)}, {n:,} labelled)" for w, c, r, lo, hi, n in
                        zip(pd.to_datetime(missed["window_start"]), missed["band_check"], missed["realized"],
                            missed["lower"], missed["upper"], missed["n_labelled"], strict=True))
            + ". The estimate missed there: CBPE cannot see a change in how labels follow the scores (concept "
            "drift), and a window with few outcomes has a noisy realized value.",
            icon=":material/flag:",
        )  # fmt: skip
    else:
        st.caption("Every window with outcomes has its realized value inside the estimate's band.")
    st.plotly_chart(figs.cbpe_figure(rows, METRIC_LABELS[metric]), key=keys.CBPE_CHART,
                    config={"displayModeBar": False})  # fmt: skip
    frame = cbpe_frame(rows)
    widths = column_widths(frame)
    config = {c: st.column_config.TextColumn(width=widths[c]) for c in ("band (+-3 SE)", "realized 95% CI")
              if c in widths}  # fmt: skip
    if "realized vs estimate" in widths:
        config["realized vs estimate"] = st.column_config.TextColumn(
            width=widths["realized vs estimate"], help="Flagged where the realized value lies outside the band."
        )
    config["labelled share"] = st.column_config.NumberColumn(format="percent")
    st.dataframe(frame, hide_index=True, width="stretch", key=keys.CBPE_TABLE, column_config=config)
