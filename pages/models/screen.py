"""The Models screen: the model picker, its champion and challengers, the retraining job, and the view
switcher (Registry, Deployments, Retrain, Judge), each view drawn by its own module."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import retrain_jobs
from pages.models import compare, deployments, judging, keys, register, retrain, versions
from pages.models.common import ModelsPage
from services.core.roles import Actor, Role
from services.governance import approvals
from services.models import registry

VIEWS = {"Registry": versions.render, "Deployments": deployments.render, "Compare": compare.render,
         "Retrain": retrain.render, "Judge": judging.render, "Register": register.render}  # fmt: skip


def render(me: Actor, engine: Engine) -> None:
    st.title("Models")
    names = registry.model_names(engine)
    if not names:
        st.info("No model versions yet. Register one trained elsewhere below, through the API "
                "(`POST /api/v1/models/{name}/versions`), or load the demo (`python3 run.py app --demo`).")  # fmt: skip
        if me.can(Role.analyst):
            register.render_register(me, engine)
        return
    top = st.columns([2, 3, 2], vertical_alignment="bottom")
    model_name = top[0].selectbox("Model", names, key=keys.MODEL)
    aliases = registry.aliases(engine, model_name)
    with top[1]:
        _alias_line(aliases)
    awaiting = approvals.count_awaiting(engine, me)
    if awaiting:
        label = f"Approvals awaiting you: {awaiting}"
        top[2].page_link("pages/approvals/page.py", label=label, icon=":material/approval:")
    page = ModelsPage(me, engine, model_name, registry.list_versions(engine, model_name), aliases)
    retrain_jobs.status(me)
    view = st.segmented_control("View", list(VIEWS), default="Registry", required=True, key=keys.VIEW,
                                label_visibility="collapsed") or "Registry"  # fmt: skip
    VIEWS[view](page)


def _alias_line(a: registry.Aliases) -> None:
    if a.champion is None:
        st.markdown("**Champion:** none (nothing serves full traffic)")
        return
    routing_parts = [f"**Champion:** v{a.champion.version}"]
    for v, d in a.challengers:
        share = "0% (shadow)" if d.stage == "shadow" else f"{d.traffic_share:.0%}"
        routing_parts.append(f"**challenger:** v{v.version} {d.stage} {share}")
    st.markdown(" · ".join(routing_parts))
