"""The Registry view of the Models screen: the versions, one version's lineage, parameters, metrics and
artifact check, and its model card (analysts edit parts of it)."""

from __future__ import annotations

import streamlit as st

from app import widgets
from pages.models import keys
from pages.models.common import ModelsPage, version_option
from pages.models.tables import (
    cohort_metrics_table,
    lineage_table,
    metrics_table,
    monitoring_params,
    params_table,
    versions_table,
)
from services.core.roles import Role
from services.core.schema_models import ModelVersion
from services.models import registry

CARD_FIELDS = (
    ("summary", "Summary"),
    ("intended_use", "Intended use"),
    ("training_data", "Training data"),
    ("evaluation", "Evaluation"),
    ("limitations", "Known limitations"),
    ("ethical_considerations", "Ethical considerations"),
    ("owner", "Owner"),
    ("retraining_note", "Why it was retrained"),
)
EDITABLE_CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "owner")


def render(p: ModelsPage) -> None:
    table = versions_table(p.versions, p.aliases)
    st.dataframe(
        table, hide_index=True, width="stretch", key=keys.VERSIONS_TABLE,
        column_config={"roc_auc": st.column_config.NumberColumn("ROC AUC", format="%.4f"),
                       "accuracy": st.column_config.NumberColumn(format="%.4f"),
                       "rows": st.column_config.NumberColumn(format="%d")},
    )  # fmt: skip
    ids = [v.id for v in sorted(p.versions, key=lambda v: -v.version)]
    chosen = st.selectbox("Version", ids, format_func=lambda i: version_option(p, i), key=keys.VERSION)
    v = p.by_id.get(chosen)
    if v is None:
        return
    parent = p.by_id.get(v.parent_id) if v.parent_id else None
    st.subheader(f"{v.model_name} v{v.version}")
    alias = p.aliases.label(v.id)
    st.caption(f"Status: {v.status}" + (f" · alias: {alias}" if alias else ""))
    st.page_link("pages/monitoring/page.py", label=f"Monitoring for v{v.version}", icon=":material/monitor_heart:",
                 query_params=monitoring_params(v.model_name, v.version),
                 help="What this version does live: drift, performance and cohorts.")  # fmt: skip
    left, right = st.columns(2)
    with left:
        st.markdown("**Lineage**")
        st.dataframe(lineage_table(v, parent), hide_index=True, width="stretch", key=keys.LINEAGE)
        st.markdown("**Parameters** (code: the base pipeline cloned with `sklearn.base.clone`)")
        st.dataframe(params_table(v), hide_index=True, width="stretch", key=keys.PARAMS, height=220)
    with right:
        st.markdown("**Evaluation metrics** (recorded at training)")
        st.dataframe(metrics_table(v), hide_index=True, width="stretch", key=keys.METRICS)
        cohorts = cohort_metrics_table(v)
        if not cohorts.empty:
            st.markdown("**Per cohort**")
            st.dataframe(cohorts, hide_index=True, width="stretch", key=keys.COHORT_METRICS)
        _artifact(p, v)
    _model_card(p, v)


def _artifact(p: ModelsPage, v: ModelVersion) -> None:
    st.markdown("**Artifact** (skops; never pickle)")
    # The file's path on the server is for admins only (it tells where the server keeps its files).
    where = (v.artifact_uri or "—") if p.me.can(Role.admin) else ("stored on the server" if v.artifact_uri else "—")
    st.text(f"sha256 {v.artifact_sha256 or '—'}\n{where}")
    hint = "Re-reads the file and loads it the way serving does: checksum first, then the skops types."
    if st.button("Verify artifact", key=f"{keys.VERIFY}{v.id}", icon=":material/verified:", help=hint):
        check = registry.verify_artifact(p.engine, v.id)
        (st.success if check.ok else st.error)(check.message)


def _model_card(p: ModelsPage, v: ModelVersion) -> None:
    card = v.model_card or {}
    with st.expander("Model card", expanded=True):
        for key, title in CARD_FIELDS:
            if card.get(key):
                st.markdown(f"**{title}**")
                st.text(str(card[key]))
        cohorts = cohort_metrics_table(v)
        if cohorts.empty:
            st.caption("Metrics per cohort were not recorded with this version; the Judge view measures them on a "
                       "holdout.")  # fmt: skip
    if not p.can_request:
        return
    with st.expander("Edit the model card"):
        values = {}
        for key in EDITABLE_CARD_FIELDS:
            title = dict(CARD_FIELDS)[key]
            values[key] = st.text_area(
                title, value=str(card.get(key, "")), key=f"{keys.CARD_FIELD}{v.id}_{key}", height=80
            )
        if st.button("Save the model card", key=f"{keys.CARD_SAVE}{v.id}"):
            widgets.attempt(lambda: registry.update_model_card(p.engine, p.me, v.id, values),
                            f"Model card of v{v.version} saved.")  # fmt: skip
