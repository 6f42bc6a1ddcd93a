"""Retraining in the background, shared by the Models screen (start a run) and the Approvals screen (run an
approved retrain request).

A fit takes seconds to minutes, and a script run that waited for it (st.status with progress) would hold
the session: every click during the fit would interrupt the run (and with it the fit) or queue behind it.
So it runs in a background thread that calls only the service (never Streamlit); its progress goes to a
job in the process-wide board of app/jobs.py (shared with the Data screen's imports); a fragment redraws
the progress bar and, once the job is over, reruns the page so the new version shows everywhere. Jobs
are per user: a second browser tab of the same user sees the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app import format as fmt
from app.jobs import Job, job_board, progress_panel
from services.core.roles import Actor

# Session-state keys (shared by the Models and Approvals screens; their keys.py refer here).
JOB = "mdl_job"  # the id of this session's latest retraining job on the board
DISMISS = "mdl_job_dismiss_"  # + job id: the button that clears a finished job's outcome


def start(me: Actor, label: str, call: Callable[[Callable], Any]) -> Job:
    """Start a retraining call (it takes a progress callback) as this session's job."""
    job = job_board().start(me.label, label, call)
    st.session_state[JOB] = job.id
    return job


def status() -> None:
    """The latest retraining job of this session: polled while it runs, its outcome once it is over."""
    job = job_board().get(st.session_state.get(JOB))
    if job is None:
        return
    if not job.done:
        progress_panel(JOB)
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
