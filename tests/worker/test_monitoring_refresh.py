"""The Monitoring page's refresh as a worker job (services.monitoring.refresh.request_refresh over
services.jobs.queue.ensure): one job however many readers ask, the one a schedule queued counts, a race
between two askers queues one, and the worker's run brings the blocks up to date. SQLite and Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.core.timeutil import utcnow
from services.jobs import queue, schedules, transport
from services.monitoring import block_build, refresh
from tests.services import factories
from worker.main import Worker


@pytest.fixture
def jengine(engine):
    if engine.dialect.name == "postgresql":
        transport.ensure_procrastinate_schema(engine)
    return engine


def test_one_refresh_job_however_many_readers_ask_and_the_worker_runs_it(jengine):
    assert refresh.request_refresh(jengine, "viewer@test.io") == refresh.RefreshState(False, False, None)
    factories.predictions(jengine, factories.model_version(jengine), 30)
    first = refresh.request_refresh(jengine, "viewer@test.io")
    assert first.needs_refresh and first.first_build and first.queued_now
    assert (first.job.kind, first.job.status, first.job.requested_by) == ("monitoring.refresh", "queued",
                                                                        "system:monitoring")  # fmt: skip
    assert first.job.payload == {"asked_by": "viewer@test.io"}
    again = refresh.request_refresh(jengine, "analyst@test.io")  # another tab or replica
    assert again.job.id == first.job.id and not again.queued_now
    assert [j.id for j in queue.list_jobs(jengine, kind="monitoring.refresh")] == [first.job.id]

    assert Worker(jengine, "inproc").run_once() >= 1
    done = queue.get(jengine, first.job.id)
    assert done.status == "succeeded" and done.result["summary"].startswith("Monitoring data refreshed: ")
    assert not block_build.needs_refresh(jengine)
    assert refresh.request_refresh(jengine, "viewer@test.io") == refresh.RefreshState(False, False, None)
    factories.predictions(jengine, factories.model_version(jengine, version=2), 5)  # new rows: a new job
    later = refresh.request_refresh(jengine, "viewer@test.io")
    assert later.queued_now and later.job.id != first.job.id and not later.first_build


def test_a_scheduled_refresh_already_queued_is_the_one_shown(jengine, admin):
    factories.predictions(jengine, factories.model_version(jengine), 3)
    schedules.set_schedule(jengine, admin, "monitoring.refresh", "*/5 * * * *")
    [scheduled] = schedules.fire_due(jengine, utcnow() + timedelta(minutes=6))
    state = refresh.request_refresh(jengine, "viewer@test.io")
    assert state.job.id == scheduled and not state.queued_now
    # The schedule's next time comes while that job still waits: it is not queued a second time.
    assert schedules.fire_due(jengine, utcnow() + timedelta(minutes=11)) == []
    [row] = schedules.list_schedules(jengine)
    assert row.last_job_id == scheduled and len(queue.list_jobs(jengine, kind="monitoring.refresh")) == 1


def test_a_schedule_does_not_queue_a_second_refresh_next_to_the_pages(jengine, admin):
    factories.predictions(jengine, factories.model_version(jengine), 3)
    page = refresh.request_refresh(jengine, "viewer@test.io").job
    schedules.set_schedule(jengine, admin, "monitoring.refresh", "*/5 * * * *")
    assert schedules.fire_due(jengine, utcnow() + timedelta(minutes=6)) == []
    assert [j.id for j in queue.list_jobs(jengine, kind="monitoring.refresh")] == [page.id]
    Worker(jengine, "inproc").run_once()
    [fired] = schedules.fire_due(jengine, utcnow() + timedelta(minutes=11))  # none waiting now: queued
    assert fired != page.id


def test_two_askers_at_once_queue_one_job(jengine, monkeypatch):
    """The loser of the race (it read "no job" before the winner's insert) fails on the singleton key
    and reads the winner's job."""
    factories.predictions(jengine, factories.model_version(jengine), 3)
    real_active = queue.active
    calls = []

    def racing(engine, kind):
        calls.append(kind)
        if len(calls) == 1:  # between this reader's "none yet" and its insert, another asker queues one
            monkeypatch.setattr(queue, "active", real_active)
            winner, created = queue.ensure(engine, kind, {"asked_by": "other@test.io"}, refresh.PAGE_ACTOR)
            assert created
            monkeypatch.setattr(queue, "active", racing)
            return None
        return real_active(engine, kind)

    monkeypatch.setattr(queue, "active", racing)
    state = refresh.request_refresh(jengine, "viewer@test.io")
    jobs = queue.list_jobs(jengine, kind="monitoring.refresh")
    assert len(jobs) == 1 and state.job.id == jobs[0].id and not state.queued_now
    assert state.job.payload == {"asked_by": "other@test.io"}
