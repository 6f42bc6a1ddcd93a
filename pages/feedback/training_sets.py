"""The Training sets view: versioned, checksummed sets of labelled items, made from every eligible item
or from the rows ticked in the Queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import streamlit as st

from app import format as fmt
from app import widgets
from app.format import md_escape
from pages.feedback import keys
from pages.feedback.context import Page
from services.feedback import training_sets


def datasets_table(datasets: Iterable[Any]) -> pd.DataFrame:
    """services.feedback.training_sets.list_datasets -> one row per version."""
    rows = [
        {
            "id": d.id,
            "name": d.name,
            "version": d.version,
            "items": d.item_count,
            "labels": ", ".join(f"{k}: {v:,}" for k, v in sorted((d.label_counts or {}).items())),
            "created_by": d.created_by,
            "created_at": d.created_at,
            "sha256": d.content_sha256,
        }
        for d in datasets
    ]
    return pd.DataFrame(
        rows, columns=["id", "name", "version", "items", "labels", "created_by", "created_at", "sha256"]
    )


def draw(p: Page) -> None:
    eligible = training_sets.eligible_count(p.engine)
    chosen = list(st.session_state.get(keys.SELECTED, []))
    st.metric("Eligible labelled items", fmt.count(eligible), help="Labelled, with a corrected label and a prediction.")
    if p.can_triage:
        _new_dataset(p, eligible, chosen)
    datasets = training_sets.list_datasets(p.engine)
    if not datasets:
        st.info("No training sets yet.")
        return
    for row in datasets_table(datasets).to_dict("records"):
        with st.container(border=True):
            cols = st.columns([3, 1, 2, 3, 3, 1], vertical_alignment="center")
            cols[0].text(f"{row['name']}  v{row['version']}")
            cols[1].text(f"{row['items']:,} items")
            cols[2].text(row["labels"] or "—")
            cols[3].text(f"{row['created_by']}\n{fmt.when(row['created_at'])}")
            cols[4].text(f"sha256 {row['sha256'][:16]}…", help=row["sha256"])
            if cols[5].button("Verify", key=f"{keys.VERIFY_PREFIX}{row['id']}"):
                check = training_sets.verify_dataset(p.engine, row["id"])
                if check.intact:
                    st.success(f"Intact: the {row['items']:,} rows hash to {check.actual[:16]}… as when created.")
                else:
                    st.error(f"Changed: expected {check.expected[:16]}…, the rows now hash to {check.actual[:16]}….")


def _new_dataset(p: Page, eligible: int, chosen: list[int]) -> None:
    form = widgets.form_key(keys.DATASET_FORM)
    with st.form(form):
        cols = st.columns([2, 3])
        name = cols[0].text_input("Name", key=f"{form}{keys.DATASET_NAME}", placeholder="e.g. churn-corrections")
        description = cols[1].text_input("Description", key=f"{form}{keys.DATASET_DESCRIPTION}")
        source = st.radio(
            "Items", ["eligible", "selected"], horizontal=True, key=f"{form}{keys.DATASET_SOURCE}",
            format_func=lambda s: f"all eligible ({eligible:,})" if s == "eligible"
            else f"the rows selected in the Queue ({len(chosen):,})",
        )  # fmt: skip
        submitted = st.form_submit_button("Create a new version", type="primary", icon=":material/dataset:")
    st.caption("A version never changes once created; creating again under the same name makes the next version.")
    if not submitted:
        return
    if source == "selected" and not chosen:
        st.warning("No rows are selected in the Queue.")
        return
    pks = None if source == "eligible" else chosen
    created = widgets.attempt(lambda: training_sets.create_dataset(p.engine, p.me, name, description, pks), rerun=False)
    if created is not None:
        widgets.reset_form(keys.DATASET_FORM)
        widgets.flash(
            "success",
            f"Created {md_escape(created.name)} version {created.version} with {created.item_count:,} items.",
        )
        st.rerun()
