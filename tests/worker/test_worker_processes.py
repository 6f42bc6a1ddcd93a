"""Real worker processes on SQLite and Postgres: two contending, one SIGKILLed mid-job, cancel."""

from __future__ import annotations

import os
import signal

import sqlalchemy as sa

from services.core.roles import Actor, Role
from services.jobs import queue
from tests.worker.conftest import job_rows, wait_for

ADMIN = Actor("admin@test.io", Role.admin)


def test_two_workers_never_run_one_job_twice(wengine, workers):
    ids = [queue.enqueue(wengine, "debug.sleep", {"steps": 1, "step_seconds": 0.02}, ADMIN) for _ in range(30)]
    queue.send(wengine, ids)  # every message twice: the claim, not the queue, must stop a second run
    workers.start()
    workers.start()

    def all_done():
        return all(r["status"] == "succeeded" for r in job_rows(wengine))

    wait_for(all_done, what=f"30 jobs done\n{workers.logs()}")
    rows = job_rows(wengine)
    assert [r["attempts"] for r in rows] == [1] * 30, "a job ran twice"
    assert {r["worker_id"] for r in rows} <= {"w0", "w1"}


def test_a_worker_killed_mid_job_leaves_it_failed_not_running(wengine, workers):
    job_id = queue.enqueue(wengine, "debug.sleep", {"steps": 600, "step_seconds": 0.1}, ADMIN)
    victim = workers.start("--stale-after", "1")
    wait_for(lambda: queue.get(wengine, job_id).progress > 0, what=f"job running\n{workers.logs()}")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    assert queue.get(wengine, job_id).status == "running"
    workers.start("--stale-after", "1")  # its tick reaps the dead worker's job
    view = wait_for(lambda: (v := queue.get(wengine, job_id)).done and v, what=f"job reaped\n{workers.logs()}")
    assert view.status == "failed" and view.error_kind == "lost" and "w0" in view.error
    with wengine.connect() as conn:  # the failure is announced to the channels
        assert conn.execute(sa.text("SELECT count(*) FROM notify_event WHERE type = 'job.failed'")).scalar() == 1


def test_cancel_a_queued_job_never_runs_and_a_running_one_stops(wengine, workers):
    queued = queue.enqueue(wengine, "debug.sleep", {"steps": 1}, ADMIN, notify=False)
    assert queue.cancel(wengine, queued, ADMIN).status == "cancelled"
    running = queue.enqueue(wengine, "debug.sleep", {"steps": 600, "step_seconds": 0.1}, ADMIN)
    workers.start()
    wait_for(lambda: queue.get(wengine, running).progress > 0, what=f"job running\n{workers.logs()}")
    assert queue.cancel(wengine, running, ADMIN).cancel_requested
    view = wait_for(lambda: (v := queue.get(wengine, running)).done and v, timeout=30, what="cancel seen")
    assert view.status == "cancelled" and view.progress < 0.5
    gone = queue.get(wengine, queued)
    assert gone.status == "cancelled" and gone.attempts == 0 and gone.started_at is None
