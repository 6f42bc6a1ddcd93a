"""Schedules fire on a controllable clock, once even with two tickers; the worker runs what they queue
and delivers the notifications that follow (in-process worker, real queue library)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core.errors import InvalidInput, PermissionDenied
from services.jobs import housekeeping, queue, schedules, transport
from services.notify import channels
from tests.conftest import actor_of
from tests.services.notify.test_notify_webhooks import SECRET, Receiver
from worker.main import Worker

T0 = datetime(2026, 12, 7, 10, 7, tzinfo=UTC)


def test_a_schedule_fires_when_due_and_only_once(engine, admin):
    view = schedules.set_schedule(engine, admin, "experiments.guard", "*/15 * * * *", now=T0)
    assert view.next_run_at == datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
    assert schedules.fire_due(engine, T0 + timedelta(minutes=7)) == []  # 10:14: not yet
    [job_id] = schedules.fire_due(engine, T0 + timedelta(minutes=8))  # 10:15
    assert schedules.fire_due(engine, T0 + timedelta(minutes=8)) == []  # a second ticker finds nothing
    job = queue.get(engine, job_id)
    assert job.kind == "experiments.guard" and job.status == "queued" and job.requested_by == "system:schedule"
    [row] = schedules.list_schedules(engine)
    assert row.last_job_id == job_id and row.next_run_at == datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
    assert row.last_outcome == "queued"


def test_only_admins_change_schedules_and_bad_cron_is_refused(engine, admin):
    with pytest.raises(PermissionDenied):
        schedules.set_schedule(engine, actor_of("approver"), "monitoring.refresh", "0 * * * *")
    with pytest.raises(InvalidInput):
        schedules.set_schedule(engine, admin, "monitoring.refresh", "every day")
    with pytest.raises(InvalidInput):
        schedules.set_schedule(engine, admin, "models.request_retrain", "0 3 * * 0")  # names no model
    with pytest.raises(InvalidInput):
        schedules.set_schedule(engine, admin, "debug.sleep", "0 3 * * 0")


def test_the_worker_runs_a_fired_schedule_and_a_failure_reaches_the_webhook(engine, admin):
    if engine.dialect.name == "postgresql":
        transport.ensure_procrastinate_schema(engine)
    receiver = Receiver()
    try:
        channels.add_channel(engine, admin, "webhook", receiver.url, ["job.failed"], secret=SECRET, allow_private=True)
        schedules.set_schedule(engine, admin, "experiments.guard", "*/15 * * * *", now=T0)
        housekeeping.tick(engine, T0 + timedelta(minutes=8))  # fires the schedule and sends its job
        failing = queue.enqueue(engine, "debug.sleep", {"steps": 1, "step_seconds": 0, "fail": "boom"}, admin)
        worker = Worker(engine, "inproc")
        assert worker.run_once() >= 3  # the guard check, the failing job, then the delivery of job.failed
    finally:
        receiver.close()
    [row] = schedules.list_schedules(engine)
    assert row.last_outcome == "succeeded"
    assert queue.get(engine, failing).status == "failed"
    [got] = receiver.requests
    assert got["valid"] and got["event"] == "job.failed" and got["body"]["data"]["job_id"] == failing
