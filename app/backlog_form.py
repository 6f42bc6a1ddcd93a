"""The small "Create backlog item" form other screens place next to their evidence (a concluded
experiment, a failed judge gate), so every such button in Loopdeck goes through the same service call.
The Backlog screen itself has the full form."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from services.backlog import items as backlog
from services.backlog.items import EvidenceRef
from services.core.roles import Actor, Role

# Session-state keys: each is a prefix + the caller's key (unique per piece of evidence).
FORM = "bl_from_"  # the form
TITLE = "bl_from_title_"  # its title field
KIND = "bl_from_kind_"  # its kind picker


def kind_label(kind: str) -> str:
    return backlog.KIND_LABELS.get(kind, kind)


def create_from_evidence(
    engine: Engine, actor: Actor, ref: EvidenceRef, default_title: str, *, key: str,
    kind: str = "model_improvement", description: str = "",
) -> None:  # fmt: skip
    """A small form another screen places next to its evidence (an experiment result, a failed judge gate,
    a cohort gap): creates a proposed item linking `ref`; reach is pre-filled from it."""
    if not actor.can(Role.analyst):
        return
    with st.form(f"{FORM}{key}"):
        title = st.text_input("Backlog item title", value=default_title, key=f"{TITLE}{key}")
        kinds = list(backlog.KINDS)
        chosen = st.selectbox("Kind", kinds, index=kinds.index(kind), format_func=kind_label, key=f"{KIND}{key}")
        if st.form_submit_button("Create backlog item", icon=":material/playlist_add:"):
            widgets.attempt(
                lambda: backlog.create_item(engine, actor, kind=chosen, title=title, description=description,
                                            links=[ref]),
                lambda item: f"Backlog item #{item.id} created.",
            )  # fmt: skip
