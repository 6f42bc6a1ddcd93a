"""The Register view of the Experiments screen: pre-register an experiment as a draft (pre-filled from the
Design view): hypothesis, variants, metrics and guardrails, design and stopping rule."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.experiments import keys
from pages.experiments.common import go, model_labels
from pages.experiments.tables import (
    NO_MODEL,
    default_variant_keys,
    guardrails_from_text,
    metric_list,
    start_datetime,
    variants_from_inputs,
)
from services.core.roles import Actor, Role
from services.experiments import lifecycle as experiments


def render(me: Actor, engine: Engine) -> None:
    if not me.can(Role.analyst):
        st.info("Registering an experiment needs the analyst role.")
        return
    pre = st.session_state.get(keys.PREFILL) or {}
    if pre:
        st.success("Pre-filled from the design. The design is stored with the registration.")
    st.caption(
        "Pre-register the experiment: what you expect, what you will measure and when you will read it. "
        "It is saved as a draft; once started, its design is frozen and changes are amendments on the record."
    )
    shares = pre.get("shares") or [50.0, 50.0]
    n_variants = int(st.number_input("Variants (with control)", 2, 10, len(shares), key=keys.R_N))
    if len(shares) != n_variants:
        shares = [round(100.0 / n_variants, 4)] * n_variants
    labels = model_labels(engine)
    model_ids = [NO_MODEL, *labels]
    with st.form(keys.REGISTER_FORM):
        c = st.columns(2)
        key = c[0].text_input("Key", placeholder="e.g. churn-model-v3-ab", key=keys.R_KEY,
                              help="Lower-case letters, digits, '.', '_' or '-'.")  # fmt: skip
        name = c[1].text_input("Name", key=keys.R_NAME)
        hypothesis = st.text_area(
            "Hypothesis",
            key=keys.R_HYPOTHESIS,
            placeholder="Changing X for Y raises Z by at least the MDE, without hurting G.",
        )
        st.markdown("**Variants** (the first is the control)")
        variant_keys, alloc, models = [], [], []
        defaults = default_variant_keys(n_variants)
        for i in range(n_variants):
            vc = st.columns([2, 3, 1])
            variant_keys.append(vc[0].text_input(f"Variant {i + 1} key", value=defaults[i], key=f"{keys.R_VKEY}{i}"))
            models.append(
                vc[1].selectbox(
                    f"Variant {i + 1} model version",
                    model_ids,
                    key=f"{keys.R_VMODEL}{i}",
                    format_func=lambda v: "(no model version)" if v == NO_MODEL else labels[v],
                )  # fmt: skip
            )
            alloc.append(
                vc[2].number_input(
                    f"Variant {i + 1} traffic %", 0.0, 100.0, float(shares[i]), key=f"{keys.R_VSHARE}{i}"
                )
            )
        st.markdown("**Metrics**")
        m = st.columns(2)
        primary = m[0].text_input("Primary metric", key=keys.R_PRIMARY, placeholder="e.g. retained_30d")
        metric_type = m[1].selectbox(
            "Primary metric type",
            experiments.METRIC_TYPES,
            key=keys.R_TYPE,
            index=experiments.METRIC_TYPES.index(pre.get("metric_type", "conversion")),
        )
        secondary = st.text_input("Secondary metrics (comma-separated)", key=keys.R_SECONDARY)
        g = st.columns(2)
        bad_up = g[0].text_input(
            "Guardrails: bad if they go up", key=keys.R_BAD_UP, placeholder="e.g. support_contacts"
        )
        bad_down = g[1].text_input("Guardrails: bad if they go down", key=keys.R_BAD_DOWN, placeholder="e.g. nps")
        st.markdown("**Design**")
        d = st.columns(4)
        relative = bool(pre.get("mde_relative", True))
        mde_value = float(pre.get("mde", 0.05)) * (100 if relative else 1)
        mde = d[0].number_input("MDE (%)" if relative else "MDE (absolute)", 0.0, value=mde_value, key=keys.R_MDE,
                                format="%.4g")  # fmt: skip
        alpha = d[1].number_input("Alpha", 0.001, 0.4, float(pre.get("alpha", 0.05)), format="%.3f", key=keys.R_ALPHA)
        power = d[2].number_input("Power", 0.5, 0.99, float(pre.get("power", 0.8)), key=keys.R_POWER)
        planned = d[3].number_input("Planned units per arm", 0, value=int(pre.get("planned_sample_size", 0)), step=100,
                                    key=keys.R_PLANNED)  # fmt: skip
        s = st.columns(2)
        rule = s[0].radio(
            "Stopping rule",
            experiments.STOPPING_RULES,
            horizontal=True,
            key=keys.R_RULE,
            format_func={"fixed": "fixed horizon", "sequential": "sequential (may stop early)"}.get,
        )
        start = s[1].date_input("Planned start", value=None, key=keys.R_START)
        submitted = st.form_submit_button("Register (draft)", type="primary")
    if not submitted:
        return
    variants = variants_from_inputs(variant_keys, alloc, models)
    created = widgets.attempt(
        lambda: experiments.register_experiment(
            engine, me, key, name, hypothesis, variants, primary, metric_list(secondary),
            guardrails_from_text(bad_up, bad_down), metric_type, (mde / 100 if relative else mde) or None,
            alpha, power, int(planned) or None, rule, start_datetime(start), mde_relative=relative,
            design=pre.get("design"),
        ),
        rerun=False,
    )  # fmt: skip
    if created is not None:
        st.session_state.pop(keys.PREFILL, None)
        widgets.flash("success", f"Registered {created.key} as a draft. Start it when it is ready.")
        go("Experiments", created.key)
        st.rerun()
