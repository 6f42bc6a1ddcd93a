"""Long work in a background thread, polled by the page (imports now; the same shape as retraining).

Why a thread: a script run that waited for a long import would hold the session, and any click during
it would stop the run (Streamlit raises at the next st.* call) and with it the import's transaction.
The thread calls only the service (never Streamlit); its progress goes to a Job in a process-wide board
(st.cache_resource); a fragment redraws the progress bar every half second and reruns the page once the
job is over. Jobs are per user, so another tab of the same user sees the same run.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import streamlit as st

from services.core.errors import LoopdeckError

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


@dataclass
class Job:
    id: str
    owner: str
    label: str
    started: float = field(default_factory=time.monotonic)
    fraction: float = 0.0
    message: str = "Starting ..."
    done: bool = False
    value: Any = None  # what the work returned
    error: LoopdeckError | None = None  # a domain error, shown to the user as it is
    crash: str | None = None  # anything else: a one-line summary (the traceback goes to the server log)
    seconds: float = 0.0
    thread: threading.Thread | None = None


class JobBoard:
    """Process-wide, thread-safe registry of background jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def start(self, owner: str, label: str, work: Callable[[Progress], Any]) -> Job:
        job = Job(uuid.uuid4().hex[:12], owner, label)

        def progress(fraction: float, message: str) -> None:
            with self._lock:
                job.fraction, job.message = min(max(float(fraction), 0.0), 1.0), message

        def run() -> None:
            outcome: dict[str, Any]
            try:
                outcome = {"value": work(progress), "fraction": 1.0}
            except LoopdeckError as exc:
                outcome = {"error": exc}
            except Exception as exc:
                log.exception("background job %s (%s) failed", job.id, label)
                outcome = {"crash": f"{type(exc).__name__}: {exc}"}
            with self._lock:
                for key, value in outcome.items():
                    setattr(job, key, value)
                job.done, job.seconds = True, time.monotonic() - job.started

        job.thread = threading.Thread(target=run, name=f"loopdeck-job-{job.id}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
        job.thread.start()
        return job

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id or "")
            return replace(job) if job else None

    def of(self, owner: str) -> list[Job]:
        with self._lock:
            return [replace(j) for j in self._jobs.values() if j.owner == owner]

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job and job.thread:
            job.thread.join(timeout)
        return self.get(job_id)

    def forget(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job and job.done:
                del self._jobs[job_id]


@st.cache_resource(show_spinner=False)
def job_board() -> JobBoard:
    return JobBoard()


def progress_panel(state_key: str) -> None:
    """The running job named by st.session_state[state_key]: a progress bar redrawn twice a second;
    when the job is over the whole page reruns once, so the caller shows its outcome."""

    @st.fragment(run_every=0.5)
    def _poll() -> None:
        job = job_board().get(st.session_state.get(state_key))
        if job is None or job.done:
            st.rerun(scope="app")
        st.progress(job.fraction, text=f"{job.label}: {job.message}")
        st.caption(f"Running for {time.monotonic() - job.started:.0f} s in the background; the page stays usable.")

    _poll()
