"""The Read view of the Experiments screen: the options of a reading, the header and health checks, the
results (lift chart, table, segments) and the bandit recommendation. Alerts and the stop proposal are in
pages/experiments/stopping.py, the downloads in pages/experiments/exports.py."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_experiments as figs
from app import format as fmt
from app import state
from pages.experiments import exports, keys, stopping
from pages.experiments.common import select_experiment
from pages.experiments.readout_tables import (
    CORRECTIONS,
    READINGS,
    bandit_frame,
    cuped_frame,
    reading_frame,
    results_table,
    segment_table,
)
from pages.experiments.tables import md
from services.core.db import database_url
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.experiments import analysis, progress, readout_service, rollups
from services.experiments import lifecycle as experiments
from services.experiments import readout as readout_svc

TOP = readout_svc.TOP_SEGMENTS
PLANNED_COLUMN = st.column_config.TextColumn(help=progress.DEFINITION)


@st.cache_data(show_spinner=False, max_entries=16)
def cached_aggregates(url: str, experiment_id: int, generation: int) -> readout_svc.Aggregates:
    """The readout's sums for one rollup generation (a new generation means new data)."""
    return rollups.aggregate(state.get_engine(url), experiment_id, refresh=False)


def _read_options() -> tuple[str, bool, readout_svc.ReadoutOptions]:
    reading = st.segmented_control("Reading", list(READINGS), format_func=READINGS.get, key=keys.READING,
                                   required=True, default="frequentist") or "frequentist"  # fmt: skip
    c = st.columns([1, 2])
    scale = c[0].segmented_control("Lift", ["relative", "absolute"], key=keys.SCALE, required=True,
                                   default="relative") or "relative"  # fmt: skip
    correction = c[1].selectbox("Multiple-testing correction (goal metrics)", list(CORRECTIONS),
                                format_func=CORRECTIONS.get, key=keys.CORRECTION)  # fmt: skip
    prior_sd = None
    prior_mean = 0.0
    if reading == "bayesian":
        p = st.columns([1, 1, 1, 3])
        if p[0].toggle("Proper prior", key=keys.PRIOR_ON, help="Default: a flat (uninformative) prior."):
            prior_mean = p[1].number_input("Prior mean of the lift", value=0.0, format="%.4g", key=keys.PRIOR_MEAN)
            prior_sd = p[2].number_input("Prior sd of the lift", 0.0001, value=0.1, format="%.4g", key=keys.PRIOR_SD)
    options = readout_svc.ReadoutOptions(
        difference_type=scale, correction=correction or None, prior_mean=prior_mean, prior_sd=prior_sd
    )
    return reading, scale == "relative", options


def render(me: Actor, engine: Engine) -> None:
    rows = experiments.list_experiments(engine)
    if not rows:
        st.info("No experiments yet.")
        return
    exp = select_experiment(rows, keys.PICK_READ, "Experiment to read")
    reading, relative, options = _read_options()
    try:
        status = rollups.refresh_rollup(engine, exp.id)
        agg = cached_aggregates(database_url(), exp.id, status.generation)
        readout = analysis.compute(exp, agg, options)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    _read_header(readout)
    _health(readout)
    stopping.render(me, engine, readout, reading)
    st.subheader("Results")
    field, segment = "", readout_svc.ALL
    if readout.segments:
        c = st.columns(2)
        field = c[0].selectbox("Segment by", list(readout.segments), key=keys.SEGMENT_BY,
                               on_change=lambda: st.session_state.pop(keys.SEGMENT, None),
                               help="A cohort field of the exposures (their cohort_<field> columns).")  # fmt: skip
        segment = c[1].selectbox("Segment", [readout_svc.ALL, *readout.segments[field]], key=keys.SEGMENT,
                                 format_func=lambda s: "All units" if s == readout_svc.ALL else s)  # fmt: skip
    results = readout.by_segment(field, segment)
    frame = reading_frame(results, reading, relative)
    empty = readout_svc.why_empty(results, reading)
    lift_fig = figs.lift_bars_figure(frame, f"{READINGS[reading]}: lift vs {readout.control}", relative,
                                     empty_message=empty or figs.NO_RESULTS)  # fmt: skip
    st.plotly_chart(lift_fig, key=keys.LIFT_FIG)
    if reading == "cuped" and empty is None and (missing := readout_svc.without_pre_period(results)):
        st.caption(f"Not CUPED-adjusted (no pre-period values): {', '.join(missing)}; the table shows them "
                   "unadjusted.")  # fmt: skip
    corrected = options.correction is not None and reading == "frequentist"
    st.dataframe(results_table(results, reading, relative, corrected), hide_index=True, width="stretch",
                 key=keys.RESULTS_TABLE, column_config={"of planned sample": PLANNED_COLUMN})  # fmt: skip
    if options.correction:
        st.caption(f"{CORRECTIONS[options.correction]} correction across the goal metrics x arms of this segment "
                   "(fixed-horizon and CUPED p-values; intervals widened to match).")  # fmt: skip
    figures = [lift_fig]
    if reading == "cuped" and empty is None:  # else the lift chart has said why there is nothing to adjust
        cf = figs.cuped_figure(cuped_frame(results, relative), relative)
        st.plotly_chart(cf, key=keys.CUPED_FIG)
        figures.append(cf)
    if readout.segments:
        with st.expander("By segment"):
            metric = st.selectbox("Metric", list(readout.metrics["metric"]), key=keys.SEG_METRIC)
            st.dataframe(segment_table(readout.results, readout.segment_srm, field, metric, reading, relative),
                         hide_index=True, width="stretch", key=keys.SEG_TABLE)  # fmt: skip
            st.caption(f"{md(field)}: its {TOP} largest values by units; the rest pooled as {readout_svc.OTHER}, "
                       f"units without it as {readout_svc.NONE}.")  # fmt: skip
    else:
        st.caption("Segments: by variant only (the exposures of this experiment carry no cohort field; import "
                   "them with cohort_<field> columns).")  # fmt: skip
    arms_fig = figs.arms_figure(readout.arms)
    figures.append(arms_fig)
    bandit_fig = _bandit(engine, readout)
    if bandit_fig is not None:
        figures.append(bandit_fig)
    exports.render(readout, figures, me)


def _read_header(readout) -> None:
    exp = readout.experiment
    sample = readout.sample or progress.sample_progress(exp, readout.units_total)
    m = st.columns(4)
    m[0].metric("Status", exp.status)
    m[1].metric("Units exposed", f"{readout.units_total:,}")
    frac = sample.fraction
    m[2].metric("Of planned sample", fmt.DASH if frac is None else f"{frac:.0%}", help=progress.DEFINITION)
    m[3].metric("Stopping rule", exp.stopping_rule)
    st.progress(sample.bar, text=sample.text())
    st.caption(f"Read at {fmt.when(readout.as_of)}; control is {readout.control}. A unit counts for a metric once "
               "it has an observation of it.")  # fmt: skip


def _health(readout) -> None:
    st.subheader("Health checks")
    cols = st.columns(len(readout.health))
    for col, item in zip(cols, readout.health, strict=True):
        with col:
            (st.success if item.ok else st.warning)(f"**{item.title}**: {md(item.message)}")


def _bandit(engine: Engine, readout):
    st.subheader("Bandit recommendation")
    st.caption("Thompson sampling on the primary metric: the share of traffic each arm would get if the "
               "experiment ran as a multi-armed bandit (at least 100 units per arm; minimum weight 1%).")  # fmt: skip
    b = readout.bandit
    if b is None:
        st.text("No recommendation: the primary metric has no data in some arm yet.")
        return None
    if not b.updated:
        st.text(f"Keeping the current split: {b.message}.")
    fig = figs.bandit_figure(readout.variants, b.weights, readout.arms["planned_share"])
    cols = st.columns([3, 2])
    cols[0].plotly_chart(fig, key=keys.BANDIT_FIG)
    cols[1].dataframe(bandit_frame(readout), hide_index=True, width="stretch", key=keys.BANDIT_TABLE)
    if st.toggle("Show the recommended allocation over time", key=keys.BANDIT_HISTORY):
        history = readout_service.bandit_history(engine, readout.experiment.id)
        st.plotly_chart(figs.bandit_history_figure(history), key=keys.BANDIT_HIST_FIG)
    return fig
