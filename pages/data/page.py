"""Data: import predictions, outcomes, feedback, exposures and metric observations (analyst+)."""

import streamlit as st

from app import auth, jobs, state
from app import format as fmt
from services import ingest
from services.core.roles import Role

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
        "Download a template",
        ingest.template_csv(kind),
        file_name=f"loopdeck-{kind}-template.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key="data_template",
    )

K_JOB, K_JOB_KIND = "data_job", "data_job_kind"
board = jobs.job_board()
running = board.get(st.session_state.get(K_JOB))
busy = running is not None and not running.done

upload = st.file_uploader("CSV or Parquet file", type=["csv", "parquet"], key=f"data_upload_{kind}")
if st.button("Import", type="primary", disabled=upload is None or busy, key="data_import"):
    # The import runs in a background thread: a click elsewhere on the page cannot interrupt it.
    data, name, chosen = upload.getvalue(), upload.name, kind
    if running is not None:
        board.forget(running.id)
    job = board.start(
        me.label,
        f"Importing {chosen} from {name}",
        lambda progress: ingest.import_file(engine, me, chosen, data, file_name=name, progress=progress),
    )
    st.session_state[K_JOB], st.session_state[K_JOB_KIND] = job.id, chosen
    st.rerun()  # redraw with the button disabled and the progress shown

if busy:
    jobs.progress_panel(K_JOB)
elif running is not None:
    if isinstance(running.error, ingest.ImportRejected):
        st.error(fmt.rejection_headline(running.error.total, len(running.error.problems)))
        st.dataframe(fmt.problems_frame(running.error.problems), hide_index=True, width="stretch",
                     key="data_problems")  # fmt: skip
    elif running.error is not None:
        st.error(fmt.md_escape(str(running.error)))
    elif running.crash is not None:
        st.error(f"The import failed unexpectedly ({fmt.md_escape(running.crash)}); nothing was written.")
    else:
        result = running.value
        st.success(f"Imported {st.session_state.get(K_JOB_KIND)}: {result.summary()}.")
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
