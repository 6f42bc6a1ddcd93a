"""The Design view of the Experiments screen: sample size, duration, the MDE for a given sample, power and
sample-size curves (statsmodels power, through services/experiments/design), and handing the design to
the Register form."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from app import figures_experiments as figs
from app import format as fmt
from pages.experiments import keys
from pages.experiments.common import go
from pages.experiments.tables import design_input, prefill_from_design
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.experiments import design as design_svc


def render(me: Actor) -> None:
    st.caption(
        "Size an experiment before it starts: units per arm for the effect you want to detect, how long "
        "that takes at your traffic, and the smallest effect a given sample can detect (statsmodels power)."
    )
    c = st.columns(4)
    metric_type = c[0].radio("Metric type", ("conversion", "mean"), key=keys.D_TYPE, horizontal=True)
    conversion = metric_type == "conversion"
    if conversion:
        baseline = c[1].number_input("Baseline rate (%)", 0.01, 99.99, 10.0, step=0.5, key=keys.D_RATE)
        sd = None
    else:
        baseline = c[1].number_input("Baseline mean", value=50.0, step=1.0, key=keys.D_MEAN)
        sd = c[1].number_input("Standard deviation", 0.0001, value=20.0, step=1.0, key=keys.D_SD)
    mde_type = c[2].radio("MDE", ("relative", "absolute"), key=keys.D_MDE_TYPE, horizontal=True)
    mde_label = "MDE (% of baseline)" if mde_type == "relative" else ("MDE (points)" if conversion else "MDE (units)")
    mde = c[2].number_input(
        mde_label, value=10.0 if mde_type == "relative" else 1.0, step=0.5, key=f"{keys.D_MDE}{mde_type}"
    )
    alpha = c[3].number_input("Alpha", 0.001, 0.4, 0.05, step=0.01, format="%.3f", key=keys.D_ALPHA)
    power = c[3].number_input("Power", 0.5, 0.99, 0.8, step=0.05, key=keys.D_POWER)
    c2 = st.columns(3)
    n_variants = c2[0].number_input("Variants (with control)", 2, 10, 2, step=1, key=keys.D_VARIANTS)
    even = design_svc.shares_text(design_svc.even_split(int(n_variants)))
    split = c2[1].text_input(
        "Traffic split (control first)", value="", placeholder=even, key=keys.D_SPLIT,
        help="e.g. 50/50 or 50/25/25; empty = an even split. Treatment arms share one weight.",
    )  # fmt: skip
    daily = c2[2].number_input("Daily traffic (units entering a day)", 0, value=1000, step=100, key=keys.D_DAILY)
    try:
        inp = design_input(metric_type, baseline, sd, mde, mde_type, alpha, power, split, int(n_variants), daily)
        result = design_svc.design(inp)
        curve = design_svc.curves(inp, result)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    st.subheader("Sample size")
    m = st.columns(4)
    m[0].metric("Per control arm", f"{result.n_per_arm[0]:,}")
    m[1].metric("Per treatment arm", f"{result.n_per_arm[1]:,}")
    m[2].metric("Total", f"{result.n_total:,}")
    m[3].metric("Expected duration", f"{result.days:,} days" if result.days is not None else fmt.DASH)
    target = f"{100 * result.target:.3g}%" if conversion else f"{result.target:.4g}"
    st.text(
        f"Detects {result.mde_relative:+.2%} relative ({result.mde_absolute:+.4g} absolute: "
        f"{'rate' if conversion else 'mean'} {target}) at alpha {inp.alpha:g} two-sided and power {inp.power:.0%}; "
        f"effect size {result.effect_size:.4f} ({'Cohen h' if conversion else 'Cohen d'})."
    )
    for note in result.notes:
        st.info(note)
    st.subheader("Minimum detectable effect for a sample size")
    n_given = st.columns(3)[0].number_input(
        "Units per control arm", 2, value=int(result.n_per_arm[0]), step=500, key=keys.D_N
    )
    try:
        found = design_svc.mde_for_sample(inp, int(n_given))
        st.text(
            f"With {found.n_control:,} units in control ({found.n_treatment:,} per treatment arm) the MDE is "
            f"{found.mde_relative:+.2%} relative ({found.mde_absolute:+.4g} absolute) at power {found.power:.0%}."
        )
    except LoopdeckError as exc:
        st.error(str(exc))
    cols = st.columns(2)
    relative_axis = math.isfinite(result.mde_relative)
    x = curve.mde_relative if relative_axis else curve.mde_absolute
    dm = curve.design_mde_relative if relative_axis else curve.design_mde_absolute
    cols[0].plotly_chart(
        figs.power_curve_figure(x, curve.power, dm, curve.target_power, curve.design_n_control, relative_axis),
        key=keys.D_POWER_FIG,
    )
    cols[1].plotly_chart(figs.sample_size_figure(x, curve.n_control, dm, curve.design_n_control, relative_axis),
                         key=keys.D_N_FIG)  # fmt: skip
    if me.can(Role.analyst):
        st.button(
            "Register an experiment with this design", icon=":material/edit_note:", key=keys.D_USE,
            on_click=_use_design, args=(prefill_from_design(inp, result),),
        )  # fmt: skip


def _use_design(prefill: dict[str, Any]) -> None:
    st.session_state[keys.PREFILL] = prefill
    for k in list(st.session_state.keys()):
        if str(k).startswith(keys.REGISTER_FIELDS):
            del st.session_state[k]
    go("Register")
