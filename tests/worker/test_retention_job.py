"""The daily retention purge as a worker job: the housekeeping tick queues it (once a day per process,
only when a model has a retention policy), the worker runs it as the system, and its result carries the
purge's counts. SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core.timeutil import utcnow
from services.jobs import housekeeping, queue, transport
from services.monitoring import retention
from tests.services import factories
from worker.main import Worker

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def jengine(engine, monkeypatch):
    if engine.dialect.name == "postgresql":
        transport.ensure_procrastinate_schema(engine)
    monkeypatch.setattr(housekeeping, "_retention_queued", {})
    return engine


def test_the_tick_queues_the_daily_purge_and_the_worker_runs_it(jengine, admin, tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path))
    mv = factories.model_version(jengine, "churn")
    factories.predictions(jengine, mv, 24 * 6, start=START)
    now = utcnow()
    assert housekeeping.tick(jengine, now).retention_job is None  # no policy yet: no job
    retention.set_retention(jengine, admin, "churn", 2)
    job_id = housekeeping.tick(jengine, now + timedelta(seconds=1)).retention_job
    assert job_id is not None
    assert housekeeping.tick(jengine, now + timedelta(hours=23)).retention_job is None  # once a day
    assert Worker(jengine, "inproc").run_once() >= 1
    done = queue.get(jengine, job_id)
    assert (done.kind, done.status, done.requested_by) == ("monitoring.retention", "succeeded", "system:worker")
    assert done.result["purged"] == {"churn": {"predictions": 24 * 3, "outcomes": 0}}  # days 0-2 of 0-5
    later = housekeeping.tick(jengine, now + timedelta(days=1, seconds=2)).retention_job
    assert later is not None and later != job_id
