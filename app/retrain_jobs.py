"""Retraining in the background, shared by the Models screen (start a run) and the Approvals screen (run an
approved retrain request).

A fit takes seconds to minutes, and a script run that waited for it (st.status with progress) would hold
the session: every click during the fit would interrupt the run (and with it the fit) or queue behind it.
So it runs in the worker process (`python -m services worker`), which calls only the service; its progress
is kept in the database (app/jobs.py reads it), so every replica and tab sees it and a web restart loses
nothing; a fragment redraws the progress bar and, once the job is over, reruns the page so the new
version shows everywhere.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import format as fmt
from app.jobs import Job, job_board, progress_panel
from services.core.roles import Actor

# Session-state keys (shared by the Models and Approvals screens; their keys.py refer here).
JOB = "mdl_job"  # the id of this session's latest retraining job on the board
DISMISS = "mdl_job_dismiss_"  # + job id: the button that clears a finished job's outcome


def start(me: Actor, label: str, kind: str, payload: dict[str, Any]) -> Job:
    """Queue a retraining job for the worker (kinds models.retrain and models.retrain_request) as this
    session's job; its progress is read back from the database."""
    job = job_board().enqueue(me, kind, payload, label)
    st.session_state[JOB] = job.id
    return job


def status(me: Actor) -> None:
    """The latest retraining job of this session: polled while it runs, its outcome once it is over."""
    job = job_board().get(st.session_state.get(JOB))
    if job is None:
        return
    if not job.done:
        progress_panel(JOB, me)
        return
    if job.error is not None:
        st.error(f"{job.label} failed: {fmt.md_escape(str(job.error))}")
    elif job.crash is not None:
        st.error(f"{job.label} failed unexpectedly: {fmt.md_escape(job.crash)}")
    else:
        st.success(job.value.summary())
    if st.button("Dismiss", key=f"{DISMISS}{job.id}"):
        st.session_state.pop(JOB, None)
        st.rerun()
