"""The Data screen: what is being imported and its columns, the upload (pages/data/upload.py), past imports."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from pages.data import keys, upload
from services import ingest
from services.core.roles import Actor


def render(me: Actor, engine: Engine) -> None:
    st.title("Data")
    st.caption(
        "Import CSV or Parquet files. Every file is validated first: one bad row rejects the whole file "
        "and nothing is written. Rows whose id is already known are skipped, so re-importing is safe."
    )

    kind = st.segmented_control(
        "What are you importing?", list(ingest.KINDS), default="predictions", key=keys.KIND, required=True
    )
    spec = ingest.KINDS[kind]
    st.write(spec.description)
    with st.expander(f"Columns of a {kind} file", expanded=False):
        st.dataframe(fmt.kind_columns_frame(spec), hide_index=True, width="stretch")
        st.download_button(
            "Download a template",
            ingest.template_csv(kind),
            file_name=f"loopdeck-{kind}-template.csv",
            mime="text/csv",
            icon=":material/download:",
            on_click="ignore",
            key=keys.TEMPLATE,
        )

    upload.render(me, engine, kind)

    st.subheader("Past imports")
    history = ingest.import_history(engine)
    if history.empty:
        st.caption("No imports yet.")
    else:
        st.dataframe(fmt.history_frame(history), hide_index=True, width="stretch", key=keys.HISTORY)
