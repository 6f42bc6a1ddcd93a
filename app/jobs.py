"""Long work, run by the worker process and polled by the page (imports, retraining, refresh, alerts).

A screen enqueues a job (`job_board().enqueue(...)`, through services.jobs.queue) and keeps its id in
session state; the worker (`python -m services worker`) runs it and writes its progress and outcome
into the Job table, so every replica of the web app shows the same job, a web restart loses nothing
and the job can be cancelled. A fragment redraws the progress bar every half second from the database
and reruns the page once the job is over.

Nothing long runs in the web process: every screen's long work is a worker job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from app import state
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.core.timeutil import utcnow
from services.ingest.problems import ImportRejected, ImportResult, Problem
from services.jobs import queue


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
    status: str = "running"  # queued | running | succeeded | failed | cancelled


@dataclass(frozen=True)
class Outcome:
    """A worker job's result as the page reads it (`summary()`, and the result's fields)."""

    data: dict[str, Any]

    def summary(self) -> str:
        return str(self.data.get("summary", "Done."))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None


def _value(result: Any) -> Any:
    result = result or {}
    if "import_result" in result:  # the Data page reads the import's result as it always did
        fields = dict(result["import_result"])
        fields["alerts_opened"] = tuple(fields.get("alerts_opened") or ())
        return ImportResult(**fields)
    return Outcome(result)


def _error(view: queue.JobView) -> LoopdeckError | None:
    if view.status == "cancelled":
        return LoopdeckError(view.message or "Cancelled.")
    if view.error_kind != "domain":
        return None
    data = view.error_data or {}
    if "problems" in data:
        return ImportRejected([Problem(**p) for p in data["problems"]], data.get("total"))
    return LoopdeckError(view.error or "Failed.")


def from_view(view: queue.JobView) -> Job:
    """The page's view of a worker job."""
    elapsed = 0.0
    if view.started_at is not None:
        end = view.finished_at or utcnow()
        elapsed = max((end - view.started_at).total_seconds(), 0.0)
    crash = view.error if view.status == "failed" and view.error_kind in ("crash", "lost") else None
    message = view.message if view.status != "queued" else "Waiting for a worker ..."
    return Job(id=str(view.id), owner=view.requested_by, label=view.label, started=time.monotonic() - elapsed,
               fraction=view.progress, message=message, done=view.done,
               value=_value(view.result) if view.status == "succeeded" else None, error=_error(view),
               crash=crash, seconds=elapsed, status=view.status)  # fmt: skip


class JobBoard:
    """The worker's jobs as the pages read them (from the database, so every replica sees the same)."""

    def enqueue(self, actor: Actor, kind: str, payload: dict[str, Any], label: str, blob: bytes | None = None) -> Job:
        """Queue a job for the worker; its view (queued)."""
        engine = state.engine()
        job_id = queue.enqueue(engine, kind, payload, actor, label=label, blob=blob)
        return from_view(queue.get(engine, job_id))

    def cancel(self, actor: Actor, job_id: str) -> None:
        queue.cancel(state.engine(), int(job_id), actor)

    def get(self, job_id: str | None) -> Job | None:
        if not (job_id and str(job_id).isdigit()):
            return None
        view = queue.get(state.engine(), int(job_id))
        return from_view(view) if view else None

    def of(self, owner: str) -> list[Job]:
        """The owner's 20 latest jobs."""
        return [from_view(v) for v in queue.list_jobs(state.engine(), requested_by=owner, limit=20)]

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Until the job is over (or the timeout), polling the database."""
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        job = self.get(job_id)
        while job is not None and not job.done and time.monotonic() < deadline:
            time.sleep(0.1)
            job = self.get(job_id)
        return job


@st.cache_resource(show_spinner=False)
def job_board() -> JobBoard:
    return JobBoard()


def progress_panel(state_key: str, actor: Actor | None = None) -> None:
    """The running job named by st.session_state[state_key]: a progress bar redrawn twice a second;
    when the job is over the whole page reruns once, so the caller shows its outcome. With `actor`,
    a worker job gets a Cancel button."""

    @st.fragment(run_every=0.5)
    def _poll() -> None:
        job = job_board().get(st.session_state.get(state_key))
        if job is None or job.done:
            st.rerun(scope="app")
        st.progress(job.fraction, text=f"{job.label}: {job.message}")
        st.caption(f"Running for {time.monotonic() - job.started:.0f} s by the worker; the page stays usable.")
        if actor is not None and st.button("Cancel", key=f"{state_key}_cancel_{job.id}"):
            job_board().cancel(actor, job.id)

    _poll()
