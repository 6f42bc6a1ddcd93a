"""Data: import predictions, outcomes, feedback, exposures and metric observations (analyst+)."""

import streamlit as st

from app import auth, state
from app import format as fmt
from services import ingest
from services.errors import LoopdeckError
from services.roles import Role

me = auth.require_role(Role.analyst)
engine = state.engine()
st.title("Data")
st.caption(
    "Import CSV or Parquet files. Every file is validated first: one bad row rejects the whole file "
    "and nothing is written. Rows whose id is already known are skipped, so re-importing is safe."
)

kind = st.segmented_control(
    "What are you importing?", list(ingest.KINDS), default="predictions", key="data_kind", required=True
)
spec = ingest.KINDS[kind]
st.write(spec.description)
with st.expander(f"Columns of a {kind} file", expanded=False):
    st.dataframe(fmt.kind_columns_frame(spec), hide_index=True, width="stretch")
    st.download_button(
        "Download a template", ingest.template_csv(kind), file_name=f"loopdeck-{kind}-template.csv",
        mime="text/csv", icon=":material/download:", on_click="ignore", key="data_template",
    )

upload = st.file_uploader("CSV or Parquet file", type=["csv", "parquet"], key=f"data_upload_{kind}")
if st.button("Import", type="primary", disabled=upload is None, key="data_import"):
    bar = st.progress(0.0, text="Starting ...")
    try:
        result = ingest.import_file(
            engine, me, kind, upload, file_name=upload.name, progress=lambda f, m: bar.progress(f, text=m)
        )
    except ingest.ImportRejected as exc:
        bar.empty()
        st.error(fmt.rejection_headline(exc.total, len(exc.problems)))
        st.dataframe(fmt.problems_frame(exc.problems), hide_index=True, width="stretch", key="data_problems")
    except LoopdeckError as exc:
        bar.empty()
        st.error(str(exc))
    else:
        st.success(f"Imported {kind}: {result.summary()}.")
        if result.alerts_opened:
            n = len(result.alerts_opened)
            st.warning(f"The alert rules found {n} new breach{'es' if n > 1 else ''}: see Monitoring, Alerts.",
                       icon=":material/notifications_active:")  # fmt: skip
        elif result.alerts_error:
            st.warning(f"The alert rules were not evaluated ({fmt.md_escape(result.alerts_error)}); the data is "
                       "imported. Evaluate them on Monitoring, Alerts.")  # fmt: skip

st.subheader("Past imports")
history = ingest.import_history(engine)
if history.empty:
    st.caption("No imports yet.")
else:
    st.dataframe(fmt.history_frame(history), hide_index=True, width="stretch", key="data_history")
