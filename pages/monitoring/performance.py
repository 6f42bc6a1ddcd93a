"""The Performance tab: metrics per cohort where outcomes are known (ranked, with intervals, flagged
when the whole interval of the gap is worse than the rest), then one metric over time.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_monitoring as figs
from pages.monitoring import keys
from pages.monitoring.common import ALL_ROWS
from pages.monitoring.frames import (
    GRANULARITY_LABELS,
    METRIC_LABELS,
    cohort_frame,
    cohort_points,
    escape_md,
    flagged_messages,
    metrics_frame,
    source_note,
)
from pages.monitoring.header import Selection
from services.monitoring import performance
from services.monitoring import views as mon
from services.stats import performance as perf


def draw(engine: Engine, sel: Selection) -> None:
    cols = st.columns([3, 2, 1])
    fields = cols[0].multiselect(
        "Slice by", sel.fields, max_selections=2, key=f"{keys.PERF_FIELDS_PREFIX}{sel.info.id}",
        placeholder="every cohort field, one at a time",
        help="One cohort field, or two at once (their combinations). Empty: every field, one at a time, "
        "ranked together.",
    )  # fmt: skip
    rank_by = cols[1].selectbox("Rank by", perf.METRICS, format_func=METRIC_LABELS.get, key=keys.RANK_BY)
    min_size = cols[2].number_input("Minimum cohort size", min_value=1, value=perf.DEFAULT_MIN_COHORT_SIZE, step=10,
                                    key=keys.MIN_SIZE, help="Smaller cohorts are listed but not ranked.")  # fmt: skip
    report = performance.cohort_report(engine, sel.info.id, sel.current, tuple(fields), rank_by, int(min_size),
                               sel.cohort_filter, reference=sel.reference)  # fmt: skip
    share = report.n_labelled / report.n_predictions if report.n_predictions else 0
    st.caption(
        f"Current window {sel.current.label}: {report.n_labelled:,} of {report.n_predictions:,} predictions have "
        f"outcomes ({share:.0%}). {mon.PERFORMANCE_NOTE}"
        + (f" Bootstrap: {report.n_resamples} resamples." if report.n_resamples else "")
    )
    st.caption(source_note(report.source, report.bounds, report.from_blocks))
    if report.n_labelled == 0:
        st.info("No outcomes have arrived for this window yet: the Estimated performance tab estimates them.")
    else:
        flagged = flagged_messages(report)
        if flagged:
            st.error("Flagged cohorts (the whole 95% interval of the gap is below the rest):\n\n"
                     + "\n".join(f"- {escape_md(t)}" for t in flagged), icon=":material/flag:")  # fmt: skip
        else:
            st.success("No cohort is significantly below the rest in this window.")
        overall = report.overall[rank_by].value if report.overall is not None else None
        st.plotly_chart(figs.cohort_metric_figure(cohort_points(report), METRIC_LABELS[rank_by], overall),
                        key=keys.PERF_COHORTS, config={"displayModeBar": False})  # fmt: skip
        st.dataframe(
            cohort_frame(report),
            hide_index=True,
            width="stretch",
            key=keys.PERF_TABLE,
            column_config=_cohort_columns(rank_by, sel),
        )
        if fields:
            st.caption("Every metric, 95% intervals")
            st.dataframe(metrics_frame(report), hide_index=True, width="stretch", key=keys.PERF_METRICS)
    _over_time(engine, sel)


def _cohort_columns(rank_by: str, sel: Selection) -> dict:
    better = "lower" if rank_by in perf.LOWER_IS_BETTER else "higher"
    return {
        "rank": st.column_config.TextColumn("rank", width="small", help="New regressions since the reference "
                                            "first, then long-standing gaps, then the rest by gap."),
        "cohort": st.column_config.TextColumn("cohort", width="medium"),
        "why this rank": st.column_config.TextColumn("why this rank", width="large"),
        METRIC_LABELS[rank_by]: st.column_config.NumberColumn(format="%.3f"),
        "vs reference": st.column_config.TextColumn(
            "vs reference", help=f"The cohort now minus the same cohort in the reference window {sel.reference.label} "
            f"({better} is better)."),
        "gap to the rest": st.column_config.NumberColumn(
            format="%+.3f", help="Cohort minus all other rows (rest minus cohort for losses): negative is worse."),
        "gap in the reference": st.column_config.TextColumn(
            "gap in the reference", help=f"The same gap in the reference window {sel.reference.label}."),
    }  # fmt: skip


def _over_time(engine: Engine, sel: Selection) -> None:
    st.subheader("Over time", divider="gray")
    cols = st.columns(3)
    gran = cols[0].segmented_control("Windows", list(GRANULARITY_LABELS), format_func=GRANULARITY_LABELS.get,
                                     default="week", key=keys.POT_GRANULARITY, required=True)  # fmt: skip
    metric = cols[1].selectbox("Metric", perf.METRICS, format_func=METRIC_LABELS.get, key=keys.POT_METRIC)
    split_key = f"{keys.POT_FIELD_PREFIX}{sel.info.id}"
    field = cols[2].selectbox("One line per", [ALL_ROWS, *sel.fields], format_func=lambda f: f or "(all rows)",
                              key=split_key)  # fmt: skip
    over = performance.performance_over_time(
        engine, sel.info.id, gran or "week", metric, field or None, sel.cohort_filter
    )
    st.plotly_chart(figs.performance_over_time_figure(over.frame, METRIC_LABELS[metric]), key=keys.POT_CHART,
                    config={"displayModeBar": False})  # fmt: skip
    st.caption((f"Bootstrap intervals with {over.n_resamples} resamples. " if over.n_resamples else "")
               + source_note(over.source, {metric: over.bound}, over.from_blocks))  # fmt: skip
