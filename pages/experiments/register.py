"""The Register view of the Experiments screen: pre-register an experiment as a draft (pre-filled from the
Design view): hypothesis, variants, metrics and guardrails, design and stopping rule."""

from __future__ import annotations

from typing import Any

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
        variants = _variants(n_variants, shares, model_labels(engine))
        metrics = _metrics(pre)
        design = _design(pre)
        submitted = st.form_submit_button("Register (draft)", type="primary")
    if submitted:
        _register(me, engine, pre, key, name, hypothesis, variants, metrics, design)


def _variants(n_variants: int, shares: list[float], labels: dict[int, str]) -> list[dict[str, Any]]:
    st.markdown("**Variants** (the first is the control)")
    model_ids = [NO_MODEL, *labels]
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
            vc[2].number_input(f"Variant {i + 1} traffic %", 0.0, 100.0, float(shares[i]), key=f"{keys.R_VSHARE}{i}")
        )
    return variants_from_inputs(variant_keys, alloc, models)


def _metrics(pre: dict[str, Any]) -> dict[str, Any]:
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
    bad_up = g[0].text_input("Guardrails: bad if they go up", key=keys.R_BAD_UP, placeholder="e.g. support_contacts")
    bad_down = g[1].text_input("Guardrails: bad if they go down", key=keys.R_BAD_DOWN, placeholder="e.g. nps")
    return {"primary": primary, "metric_type": metric_type, "secondary": metric_list(secondary),
            "guardrails": guardrails_from_text(bad_up, bad_down)}  # fmt: skip


def _design(pre: dict[str, Any]) -> dict[str, Any]:
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
    return {"relative": relative, "mde": (mde / 100 if relative else mde) or None, "alpha": alpha, "power": power,
            "planned": int(planned) or None, "rule": rule, "start": start_datetime(start)}  # fmt: skip


def _register(me: Actor, engine: Engine, pre: dict[str, Any], key: str, name: str, hypothesis: str,
              variants: list[dict[str, Any]], m: dict[str, Any], d: dict[str, Any]) -> None:  # fmt: skip
    created = widgets.attempt(
        lambda: experiments.register_experiment(
            engine, me, key, name, hypothesis, variants, m["primary"], m["secondary"], m["guardrails"],
            m["metric_type"], d["mde"], d["alpha"], d["power"], d["planned"], d["rule"], d["start"],
            mde_relative=d["relative"], design=pre.get("design"),
        ),
        rerun=False,
    )  # fmt: skip
    if created is not None:
        st.session_state.pop(keys.PREFILL, None)
        widgets.flash("success", f"Registered {created.key} as a draft. Start it when it is ready.")
        go("Experiments", created.key)
        st.rerun()
