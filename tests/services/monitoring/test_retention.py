"""Retention (SQLite, and Postgres when configured): a purge deletes a model's raw rows older than its
retention from the tables and the raw store, keeps rows feedback points at, is audited with counts, and
leaves the monitoring blocks alone: a later refresh or rebuild never rebuilds a purged day, so the views
still show those days' aggregates. Admins only."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from services.core.errors import InvalidInput, NotFound, PermissionDenied
from services.core.schema_accounts import AuditEvent
from services.core.schema_ingest import Outcome, Prediction
from services.monitoring import block_build, frames, raw_store, retention
from services.monitoring import blocks as md
from services.monitoring.refresh import refresh_monitoring
from services.monitoring.views import Window
from tests.conftest import actor_of
from tests.services import factories

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 10


def _day(i: int) -> date:
    return (START + timedelta(days=i)).date()


def _raw_frame(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Prediction.request_id, Prediction.ts, Prediction.score,
                                      Prediction.predicted_label)).all()  # fmt: skip
    frame = pd.DataFrame(rows, columns=["request_id", "ts", "score", "predicted_label"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.assign(label=np.nan)


@pytest.fixture
def loaded(engine, tmp_path):
    """churn v1: 24 predictions an hour apart on each of 10 days, every third with an outcome, one old
    prediction with feedback; the same rows in the raw store; blocks built."""
    mv = factories.model_version(engine, "churn")
    ids = factories.predictions(engine, mv, 24 * DAYS, start=START)
    for rid in ids[::3]:
        factories.outcome(engine, rid, 1)
    factories.feedback(engine, 1, request_ids=[ids[5]])  # day 0: kept by the purge
    raw_store.append(tmp_path, "churn", 1, _raw_frame(engine))
    frames.clear_caches()
    refresh_monitoring(engine)
    return mv, ids, tmp_path


def _window_counts(engine, mv: int, first: int, last: int) -> tuple[int, int]:
    frames.clear_caches()
    frame = frames.load_window(engine, mv, Window(_day(first), _day(last))).frame
    return len(frame), int(frame["label"].notna().sum())


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(model)).scalar()


def test_purge_keeps_the_retention_and_the_aggregates(engine, admin, loaded):
    mv, ids, root = loaded
    before_old = _window_counts(engine, mv, 0, 5)
    assert before_old == (144, 48)
    retention.set_retention(engine, admin, "churn", 4)
    result = retention.purge(engine, admin, "churn", raw_root=root)
    assert result.latest_day == _day(9) and result.cutoff == _day(5)
    # days 0-4 go (120 predictions, 40 outcomes), except the one feedback points at (no outcome: 5 % 3 != 0)
    assert (result.predictions, result.outcomes, result.kept_for_feedback) == (119, 40, 1)
    assert _count(engine, Prediction) == 240 - 119 and _count(engine, Outcome) == 80 - 40
    assert raw_store.days(root, "churn", 1) == [_day(i) for i in range(5, DAYS)]
    assert result.raw_days == {1: [_day(i).isoformat() for i in range(5)]}
    with engine.connect() as conn:
        event = conn.execute(sa.select(AuditEvent).where(AuditEvent.action == "retention.purge")).one()
    payload = json.loads(event.payload)
    assert event.actor == admin.label and event.subject_id == "churn"
    assert payload["predictions"] == 119 and payload["outcomes"] == 40 and payload["raw_days"] == {"1": 5}
    assert payload["cutoff"] == _day(5).isoformat()
    # the views still show the purged days, through a refresh, a late row on a purged day and a rebuild
    assert _window_counts(engine, mv, 0, 5) == before_old
    factories.predictions(engine, mv, 1, start=START + timedelta(hours=2, minutes=30))  # lands on day 0
    refresh_monitoring(engine)
    assert _window_counts(engine, mv, 0, 5) == before_old
    block_build.rebuild(engine)
    assert _window_counts(engine, mv, 0, 5) == before_old
    assert [b.day for b in md.block_index(engine, mv)] == [_day(i) for i in range(DAYS)]


def test_a_second_purge_deletes_nothing_more(engine, admin, loaded):
    mv, ids, root = loaded
    retention.set_retention(engine, admin, "churn", 4)
    retention.purge(engine, admin, "churn", raw_root=root)
    again = retention.purge_all(engine, admin, raw_root=root)
    assert [(r.predictions, r.outcomes, r.raw_days) for r in again] == [(0, 0, {})]


def test_roles_and_inputs(engine, admin, loaded):
    mv, ids, root = loaded
    for role in ("viewer", "analyst", "approver"):
        with pytest.raises(PermissionDenied):
            retention.set_retention(engine, actor_of(role), "churn", 4)
        with pytest.raises(PermissionDenied):
            retention.purge(engine, actor_of(role), "churn", raw_root=root)
    with pytest.raises(InvalidInput):
        retention.set_retention(engine, admin, "churn", 0)
    with pytest.raises(NotFound):
        retention.set_retention(engine, admin, "no-such-model", 4)
    with pytest.raises(NotFound):  # no policy yet
        retention.purge(engine, admin, "churn", raw_root=root)
    assert _count(engine, Prediction) == 240
    retention.set_retention(engine, admin, "churn", 30)
    policy = retention.set_retention(engine, admin, "churn", 7)
    assert policy.keep_days == 7
    with engine.connect() as conn:
        changes = conn.execute(sa.select(AuditEvent.payload).where(AuditEvent.action == "retention.set")).scalars()
        assert [json.loads(p) for p in changes] == [{"from": None, "to": 30}, {"from": 30, "to": 7}]


def test_a_model_name_the_raw_store_cannot_hold_purges_the_tables(engine, admin, tmp_path):
    mv = factories.model_version(engine, "churn model (eu)")
    factories.predictions(engine, mv, 24 * 3, start=START)
    retention.set_retention(engine, admin, "churn model (eu)", 1)
    result = retention.purge(engine, admin, "churn model (eu)", raw_root=tmp_path)
    assert (result.cutoff, result.predictions, result.raw_days) == (_day(1), 24, {})
