"""Long work, run by the worker process and polled by the page (imports, retraining).

A screen enqueues a job (`job_board().enqueue(...)`, through services.jobs.queue) and keeps its id in
session state; the worker (`python -m services worker`) runs it and writes its progress and outcome
into the Job table, so every replica of the web app shows the same job, a web restart loses nothing
and the job can be cancelled. A fragment redraws the progress bar every half second from the database
and reruns the page once the job is over.

`JobBoard.start(owner, label, work)` still runs a callable in a thread of this process, for screens not
yet switched to the worker (their jobs are visible on this replica only). Both kinds of job read back
as the same `Job` view, so a page does not care which ran it.
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

from app import state
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.core.timeutil import utcnow
from services.ingest.problems import ImportRejected, ImportResult, Problem
from services.jobs import queue

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
    status: str = "running"  # queued | running | succeeded | failed | cancelled
    worker: bool = False  # run by the worker process (else a thread of this process)


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
               crash=crash, seconds=elapsed, status=view.status, worker=True)  # fmt: skip


class JobBoard:
    """Worker jobs (read from the database) and this process's thread jobs, one view of both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def enqueue(self, actor: Actor, kind: str, payload: dict[str, Any], label: str, blob: bytes | None = None) -> Job:
        """Queue a job for the worker; its view (queued)."""
        engine = state.engine()
        job_id = queue.enqueue(engine, kind, payload, actor, label=label, blob=blob)
        return from_view(queue.get(engine, job_id))

    def cancel(self, actor: Actor, job_id: str) -> None:
        queue.cancel(state.engine(), int(job_id), actor)

    def start(self, owner: str, label: str, work: Callable[[Progress], Any]) -> Job:
        """Run `work` in a thread of this process (screens not yet moved to the worker)."""
        job = Job(f"t-{uuid.uuid4().hex[:12]}", owner, label)

        def progress(fraction: float, message: str) -> None:
            with self._lock:
                job.fraction, job.message = min(max(float(fraction), 0.0), 1.0), message

        def run() -> None:
            outcome: dict[str, Any]
            try:
                outcome = {"value": work(progress), "fraction": 1.0, "status": "succeeded"}
            except LoopdeckError as exc:
                outcome = {"error": exc, "status": "failed"}
            except Exception as exc:
                log.exception("background job %s (%s) failed", job.id, label)
                outcome = {"crash": f"{type(exc).__name__}: {exc}", "status": "failed"}
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
        if job_id and str(job_id).isdigit():
            view = queue.get(state.engine(), int(job_id))
            return from_view(view) if view else None
        with self._lock:
            job = self._jobs.get(job_id or "")
            return replace(job) if job else None

    def of(self, owner: str) -> list[Job]:
        """The owner's thread jobs and their 20 latest worker jobs."""
        with self._lock:
            mine = [replace(j) for j in self._jobs.values() if j.owner == owner]
        views = queue.list_jobs(state.engine(), requested_by=owner, limit=20)
        return mine + [from_view(v) for v in views]

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Until the job is over (or the timeout); polls the database for a worker job."""
        if str(job_id).isdigit():
            deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
            job = self.get(job_id)
            while job is not None and not job.done and time.monotonic() < deadline:
                time.sleep(0.1)
                job = self.get(job_id)
            return job
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
        where = "by the worker" if job.worker else "in the background"
        st.caption(f"Running for {time.monotonic() - job.started:.0f} s {where}; the page stays usable.")
        if actor is not None and job.worker and st.button("Cancel", key=f"{state_key}_cancel_{job.id}"):
            job_board().cancel(actor, job.id)

    _poll()
