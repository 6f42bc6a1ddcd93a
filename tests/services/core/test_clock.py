"""The one clock (SQLite and Postgres): `story_time` dates what the services record (audit events keep a
valid chain), only in its own context; the data clock (setting clock.data_now) is what feedback ages and
the SLA are measured against, the wall clock when unpinned; the setting is validated, admin-only and
audited."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from services.core import audit, clock, settings
from services.core.db import write_session
from services.core.errors import InvalidInput, PermissionDenied
from services.core.timeutil import story_time, utcnow
from services.feedback import edits, triage
from tests.conftest import actor_of
from tests.services import factories

STORY = datetime(2026, 10, 30, 10, 0, tzinfo=UTC)


def test_story_time_dates_audit_events_in_order_and_the_chain_verifies(engine, admin):
    moments = [STORY - timedelta(days=30), STORY - timedelta(days=2), STORY]
    for i, moment in enumerate(moments):
        with story_time(moment), write_session(engine) as session:
            audit.record(session, admin, "test.act", "thing", i, {"i": i})
    with write_session(engine) as session:  # outside: the wall clock again
        audit.record(session, admin, "test.act", "thing", 9, {})
    events = audit.list_events(engine).sort_values("id")
    stamps = [ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts for ts in events["ts"]]
    assert stamps[:3] == moments
    assert abs((stamps[3] - datetime.now(UTC)).total_seconds()) < 120
    assert audit.verify(engine).intact


def test_story_time_holds_only_in_its_own_context():
    seen: list[datetime] = []
    with story_time(STORY):
        assert utcnow() == STORY
        worker = threading.Thread(target=lambda: seen.append(utcnow()))
        worker.start()
        worker.join()
        with story_time(STORY - timedelta(days=1)):
            assert utcnow() == STORY - timedelta(days=1)
        assert utcnow() == STORY
    assert seen[0] != STORY and abs((seen[0] - datetime.now(UTC)).total_seconds()) < 120
    assert abs((utcnow() - datetime.now(UTC)).total_seconds()) < 5


def test_the_data_clock_is_the_wall_clock_until_pinned(engine, admin):
    assert clock.pinned(engine) is None
    assert abs((clock.data_now(engine) - datetime.now(UTC)).total_seconds()) < 5
    saved = settings.set_value(engine, admin, clock.SETTING, "2026-10-30T10:00:00")  # no zone: UTC
    assert saved == "2026-10-30T10:00:00+00:00" and clock.data_now(engine) == STORY
    assert settings.set_value(engine, admin, clock.SETTING, "") == "" and clock.pinned(engine) is None
    with pytest.raises(InvalidInput):
        settings.set_value(engine, admin, clock.SETTING, "next tuesday")
    with pytest.raises(PermissionDenied):
        settings.set_value(engine, actor_of("approver"), clock.SETTING, STORY.isoformat())
    changes = audit.list_events(engine, audit.AuditFilter(action="setting.change", subject_id=clock.SETTING))
    assert len(changes) == 2


def test_feedback_ages_and_the_sla_follow_the_data_clock(engine, admin):
    # items made "now" on the wall clock at ages 1 and 5 days; then the clock is pinned 10 days back
    fresh = factories.feedback(engine, 2, age_days=1, source="fresh")
    old = factories.feedback(engine, 3, age_days=5, source="old")
    counts = triage.queue_counts(engine)
    assert (counts.untriaged, counts.overdue, counts.sla_days) == (5, 3, 3)
    rows = triage.queue_rows(engine, sort="oldest")
    assert rows["age_days"].round().tolist() == [5, 5, 5, 1, 1] and rows["overdue"].tolist() == [True] * 3 + [False] * 2
    # pinned at the moment the old items were 1 day old: the fresh ones are in its future, nothing is overdue
    settings.set_value(engine, admin, clock.SETTING, (utcnow() - timedelta(days=4)).isoformat())
    assert triage.queue_counts(engine).overdue == 0
    assert triage.queue_rows(engine, sort="oldest")["age_days"].round().tolist()[:3] == [1, 1, 1]
    # an explicit `now` still wins over the clock
    assert triage.queue_counts(engine, now=utcnow()).overdue == 3
    # triaging an old item takes it off the overdue count on either clock
    settings.set_value(engine, admin, clock.SETTING, "")
    edits.update_items(engine, actor_of("analyst"), {old[0]: 1}, edits.Patch(status="dismissed"))
    assert triage.queue_counts(engine).overdue == 2 and fresh
