"""The Drift tab: per-column drift between the reference and current windows (the tests Evidently would
pick, with our one deliberate difference), the distributions side by side, and the tests users set.
"""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_monitoring as figs
from app import widgets
from pages.monitoring import keys, links
from pages.monitoring.frames import column_widths, drift_frame, drift_headline, drift_styler, escape_md, num
from pages.monitoring.header import Selection
from services.core.roles import Actor, Role
from services.monitoring import drift_report, drift_window, overrides
from services.monitoring import views as mon
from services.stats import drift as d


def draw(engine: Engine, actor: Actor, sel: Selection) -> None:
    report = drift_window.drift_report(engine, sel.info.id, sel.reference, sel.current, sel.cohort_filter)
    c = st.columns(4)
    c[0].metric("Features drifted", f"{report.n_drifted} of {report.n_features}", f"{report.share_drifted:.0%}",
                delta_color="off", delta_arrow="off",
                help=f"Dataset drift at a share of at least {report.drift_share:.0%}.")  # fmt: skip
    c[1].metric("Dataset drift", "yes" if report.drifted else "no")
    for col, name, title in ((c[2], mon.PREDICTION_SCORE, "Prediction (score) drift"),
                             (c[3], mon.OUTCOME_LABEL, "Outcome drift")):  # fmt: skip
        try:
            r = report.column(name)
        except KeyError:
            continue
        col.metric(title, "drifted" if r.drifted else "no drift", f"{r.method_label} {num(r.score)}",
                   delta_color="off", delta_arrow="off", help=r.note)  # fmt: skip
    st.write(drift_headline(report))
    _feedback_link(sel)
    st.download_button(
        "Download report (HTML)", lambda: drift_report.build(engine, actor, sel.info.id, sel.reference, sel.current,
                                                             sel.cohort_filter).html,
        file_name=drift_report.file_name(sel.info.model_name, sel.info.version, sel.current),
        mime="text/html", icon=":material/download:", on_click="ignore", key=keys.DRIFT_DOWNLOAD,
        help="This view (version, windows, cohorts) as one HTML file with its charts; opens offline.",
    )  # fmt: skip
    frame = drift_frame(report)
    st.dataframe(drift_styler(frame), hide_index=True, width="stretch", key=keys.DRIFT_TABLE,
                 column_config=_drift_columns(frame))  # fmt: skip
    with st.expander("About the tests", icon=":material/info:"):
        used = sorted({r.method for r in report.rows})
        for m in used:
            st.markdown(f"**{d.METHOD_LABELS.get(m, m)}**: {mon.METHOD_NOTES.get(m, '')}")
        st.markdown(f"**Samples**: {mon.SAMPLING_NOTE}")
    st.subheader("Reference vs current", divider="gray")
    ordered = sorted(report.rows, key=lambda r: (not r.drifted, r.role != "feature", r.column))
    for start in range(0, len(ordered), 3):
        cols = st.columns(3)
        for col, r in zip(cols, ordered[start : start + 3], strict=False):
            with col:
                verdict = ":red[drifted]" if r.drifted else ("no drift" if r.tested else f":orange[{r.problem}]")
                st.markdown(f"**{escape_md(r.column)}** · {r.method_label} {num(r.score, 4)} · {verdict}", help=r.note)
                st.plotly_chart(_distribution_figure(r.distribution, r.column, r.drifted),
                                key=f"{keys.DIST_PREFIX}{r.column}", config={"displayModeBar": False})  # fmt: skip
    if actor.can(Role.analyst):
        _override_editor(engine, actor, sel, report)
    else:
        saved = overrides.list_overrides(engine, sel.info.model_name)
        if saved:
            st.caption("Tests set by users: " + ", ".join(f"{o.column_name}: {o.method or 'default'} "
                                                          f"{o.threshold or ''}" for o in saved))  # fmt: skip


def _feedback_link(sel: Selection) -> None:
    """From a cohort's drift to what its users write (the Feedback queue filtered to the cohort): the next
    step of the analyst's flow after an alert's "Open drift for this cohort"."""
    params = links.feedback_params(sel.cohort_filter)
    if params:
        st.page_link("pages/feedback/page.py", label=f"Open feedback for {links.cohort_label(params)}",
                     icon=":material/feedback:", query_params=params)  # fmt: skip


def _drift_columns(frame: pd.DataFrame) -> dict:
    """Every column as wide as its longest text (nothing cut off), with the tests' help."""
    w = column_widths(frame)
    text = st.column_config.TextColumn
    number = st.column_config.NumberColumn
    return {
        "drift": text("drift", width=w["drift"], help="Marked (and the row tinted) when the column drifted."),
        "column": text("column", width=w["column"], pinned=True),
        "statistic": number(
            "statistic", format="%.4g", width=w["statistic"], help="The test's statistic: KS D, chi-square, z, "
            "Anderson-Darling; the raw Wasserstein distance (before dividing by the reference std); for other "
            "distances the distance."),
        "score": number("score", format="%.4g", width=w["score"], help="The p-value for a p-value test, else the "
                        "distance."),
        "threshold": number("threshold", format="%.4g", width=w["threshold"]),
        "past threshold": text("past threshold", width=w["past threshold"], help="How far the score is past its "
                               "threshold: distance / threshold, or threshold / p for p-values (1x and more: drift). "
                               "The table is sorted by it."),
        "test": text("test", width=w["test"], help="See 'About the tests' below for each test and where we differ "
                     "from Evidently on purpose."),
        "tested": text("tested", width=w["tested"], help=mon.SAMPLING_NOTE),
        "why": text("why", width=w["why"]),
        **{c: text(c, width=w[c]) for c in ("role", "decides when", "verdict", "test chosen")},
        **{c: number(c, format="%d", width=w[c]) for c in ("reference n", "current n")},
    }  # fmt: skip


@functools.lru_cache(maxsize=512)
def _distribution_figure(dist: drift_window.Distribution, title: str, drifted: bool):
    """Figures are rebuilt only for new distributions: a rerun or a revisited window reuses them (plotly's
    validation costs ~20 ms a figure; st.plotly_chart only reads the figure)."""
    return figs.distribution_figure(dist, title, drifted)


def _override_editor(engine: Engine, actor: Actor, sel: Selection, report: drift_window.DriftReport) -> None:
    with st.expander("Change a column's test or threshold", icon=":material/tune:"):
        st.caption(f"Saved for the model {sel.info.model_name} (every version) and recorded in the audit log.")
        rows = {r.column: r for r in report.rows}
        cols = st.columns([2, 2, 1])
        column = cols[0].selectbox("Column", list(rows), key=keys.OVR_COLUMN)
        row = rows[column]
        method = cols[1].selectbox(
            "Test", list(row.applicable),
            index=list(row.applicable).index(row.method) if row.method in row.applicable else 0,
            format_func=lambda m: d.METHOD_LABELS.get(m, m), key=f"{keys.OVR_METHOD_PREFIX}{column}",
            help=mon.METHOD_NOTES.get(row.method, ""),
        )  # fmt: skip
        default_threshold = row.threshold if method == row.method else d.default_threshold(method)
        threshold = cols[2].number_input(
            "Threshold", min_value=0.0, value=float(default_threshold), step=0.01, format="%.4f",
            key=f"{keys.OVR_THRESHOLD_PREFIX}{column}_{method}",
            help="p-value tests drift below it, distances at or above it.",
        )  # fmt: skip
        st.caption(mon.METHOD_NOTES.get(method, ""))
        b = st.columns([1, 1, 4])
        if b[0].button("Save", type="primary", key=keys.OVR_SAVE):
            widgets.attempt(
                lambda: overrides.set_override(engine, actor, sel.info.model_name, column, method, float(threshold)),
                f"{column}: {d.METHOD_LABELS.get(method, method)} at {threshold:g} saved.",
            )
        if b[1].button("Reset to default", key=keys.OVR_RESET):
            widgets.attempt(
                lambda: overrides.clear_override(engine, actor, sel.info.model_name, column),
                lambda done: f"{column}: back to the default test." if done else f"{column} uses the default already.",
            )
        saved = overrides.list_overrides(engine, sel.info.model_name)
        if saved:
            st.dataframe(
                pd.DataFrame([{"column": o.column_name, "test": d.METHOD_LABELS.get(o.method, o.method or "default"),
                               "threshold": o.threshold, "by": o.updated_by, "at": o.updated_at} for o in saved]),
                hide_index=True, key=keys.OVR_SAVED,
            )  # fmt: skip
