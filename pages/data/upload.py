"""The upload of the Data screen: the file, the import queued for the worker (a click elsewhere on the page
cannot interrupt it, and it survives a web restart), its progress (with Cancel) and its outcome."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import jobs
from pages.data import keys
from services import ingest
from services.core.roles import Actor


def render(me: Actor, engine: Engine, kind: str) -> None:
    board = jobs.job_board()
    running = board.get(st.session_state.get(keys.JOB))
    busy = running is not None and not running.done

    upload = st.file_uploader("CSV or Parquet file", type=["csv", "parquet"], key=f"{keys.UPLOAD}{kind}")
    if st.button("Import", type="primary", disabled=upload is None or busy, key=keys.IMPORT):
        data, name, chosen = upload.getvalue(), upload.name, kind
        job = board.enqueue(me, "ingest.import", {"kind": chosen, "file_name": name}, f"Importing {chosen} from {name}",
                            blob=data)  # fmt: skip
        st.session_state[keys.JOB], st.session_state[keys.JOB_KIND] = job.id, chosen
        st.rerun()  # redraw with the button disabled and the progress shown

    if busy:
        jobs.progress_panel(keys.JOB, me)
    elif running is not None:
        _outcome(running)


def _outcome(running: jobs.Job) -> None:
    if isinstance(running.error, ingest.ImportRejected):
        st.error(fmt.rejection_headline(running.error.total, len(running.error.problems)))
        st.dataframe(fmt.problems_frame(running.error.problems), hide_index=True, width="stretch",
                     key=keys.PROBLEMS)  # fmt: skip
    elif running.error is not None:
        st.error(fmt.md_escape(str(running.error)))
    elif running.crash is not None:
        st.error(f"The import failed unexpectedly ({fmt.md_escape(running.crash)}); nothing was written.")
    else:
        result = running.value
        st.success(f"Imported {st.session_state.get(keys.JOB_KIND)}: {result.summary()}.")
        if result.alerts_opened:
            n = len(result.alerts_opened)
            st.warning(f"The alert rules found {n} new breach{'es' if n > 1 else ''}: see Monitoring, Alerts.",
                       icon=":material/notifications_active:")  # fmt: skip
        elif result.alerts_error:
            st.warning(f"The alert rules were not evaluated ({fmt.md_escape(result.alerts_error)}); the data is "
                       "imported. Evaluate them on Monitoring, Alerts.")  # fmt: skip
