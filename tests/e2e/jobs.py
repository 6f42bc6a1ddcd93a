"""Waiting in a browser test for what a background job draws: bounded by the job worker's progress, not
by wall time.

A page that starts a job (an import, a monitoring refresh, a retraining) draws its outcome when the job
worker (harness.running_app) has run it. On CI's 2-core box at load 14 the worker gets a fraction of a
core, so a job of 3-5 CPU seconds can take longer than any fixed wall-clock wait: the 30 s waits of the
import, refresh and retraining tests failed there while the worker was still working. Here the page is
given the usual wait, and while any job is still queued or running and the worker is making progress
(its CPU time grows), it is given another: the test fails when the worker exits, hangs (no CPU for
`stalled_seconds`), burns `cpu_budget` CPU seconds, or when no job is left and the page still does not
show the outcome within its own timeout.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

from services.jobs.schema import ACTIVE, Job
from tests.processes import Startup

# the UI's base URL -> (its job worker process, its log, the database URL); filled by harness.running_app
WORKERS: dict[str, tuple[subprocess.Popen, Path, str]] = {}
STEP_MS = 5_000
HANG_SECONDS = 600  # a last bound, far above any job these tests start even at load 20


def register(base: str, worker: subprocess.Popen, log: Path, db_url: str) -> None:
    WORKERS[base] = (worker, log, db_url)


def active_jobs(db_url: str) -> int:
    """Jobs still queued or running (the job schema's own ACTIVE statuses)."""
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(Job.status.in_(ACTIVE))).scalar())
    finally:
        engine.dispose()


def expect_after_jobs(sync_api, page, locator, *, cpu_budget: float = 300, stalled_seconds: float = 60) -> None:
    """Expect `locator` visible on `page` once the jobs of the page's server have ended (see the module doc)."""
    parts = urlsplit(page.url)
    worker, log, db_url = WORKERS[f"{parts.scheme}://{parts.netloc}"]
    watch = Startup(worker, "the job worker (a job still queued or running)", log, cpu_budget, stalled_seconds)
    expect = sync_api.expect
    while True:
        try:
            expect(locator).to_be_visible(timeout=STEP_MS)
            return
        except AssertionError:
            if not active_jobs(db_url):
                expect(locator).to_be_visible()  # every job has ended: the page's own timeout to draw it
                return
            watch.check()
            # an idle worker's polling also counts as CPU: a job it never picks up ends here
            if time.monotonic() - watch.started > HANG_SECONDS:
                raise AssertionError(f"a job was still queued or running after {HANG_SECONDS} s") from None
