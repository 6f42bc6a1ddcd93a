"""Erasing one request id (SQLite, and Postgres when configured): afterwards no table holds it (but a
frozen training set's immutable rows, which the audit event names), nor the raw store, the monitoring
blocks or the day summaries; feedback on it is gone; future training sets skip it; one audit event with
counts and never the id. Admins only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from services.core.db import write_session
from services.core.errors import InvalidInput, PermissionDenied
from services.core.schema_accounts import AuditEvent
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Prediction
from services.core.schema_monitoring import MonitoringBlock, MonitoringDaySummary
from services.core.tokens_schema import ApiIdempotency
from services.feedback import training_sets
from services.ingest import erasure
from services.monitoring import blocks as md
from services.monitoring import frames, raw_store, summary_store
from services.monitoring.day_summary_codec import from_bytes
from services.monitoring.refresh import refresh_monitoring
from tests.conftest import actor_of
from tests.services import factories

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def loaded(engine, tmp_path):
    """48 predictions over two days (tables, and by the monitoring refresh the raw store, blocks and day
    summaries); the target has an outcome and two feedback items, one labelled."""
    mv = factories.model_version(engine, "churn")
    ids = factories.predictions(engine, mv, 48, start=START)
    target = ids[7]
    factories.outcome(engine, target, 1)
    factories.outcome(engine, ids[8], 0)
    factories.feedback(engine, 1, request_ids=[target], text="call me at 555-0100")
    factories.feedback(engine, 1, request_ids=[target], source="support", status="labelled", corrected_label=1)
    factories.feedback(engine, 1, request_ids=[ids[9]], source="web", status="labelled", corrected_label=0)
    frames.clear_caches()
    refresh_monitoring(engine)  # the blocks, the day summaries and the raw store
    return mv, target, raw_store.root_for(engine)


def _tables_holding(engine, text: str) -> list[str]:
    """Every table with a value holding `text` (JSON included; summaries decoded: their samples hold ids)."""
    found = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                for value in row.values():
                    if table.name == MonitoringDaySummary.__tablename__ and isinstance(value, bytes):
                        value = " ".join(from_bytes(value).sample["request_id"])
                    if isinstance(value, dict | list):
                        value = json.dumps(value)
                    if isinstance(value, str) and text in value:
                        found.append(table.name)
    return sorted(set(found))


def _block_ids(engine, mv: int) -> set[int]:
    frame = md.read_frame(engine, md.block_index(engine, mv))
    return set(frame["id"].astype(int))


def test_erasure_leaves_no_trace_and_is_audited(engine, admin, loaded):
    mv, target, root = loaded
    with engine.connect() as conn:
        pk = conn.execute(sa.select(Prediction.id).where(Prediction.request_id == target)).scalar()
    assert pk in _block_ids(engine, mv)
    with write_session(engine) as session:  # an API answer remembered for its Idempotency-Key names it
        session.add(ApiIdempotency(token_name="serving", key="k1", endpoint="/v1/predictions",
                                   response={"new": 1, "ids": [target]}))  # fmt: skip
        session.add(ApiIdempotency(token_name="serving", key="k2", endpoint="/v1/predictions",
                                   response={"new": 1, "ids": ["other"]}))  # fmt: skip
    assert _tables_holding(engine, target) == [
        "api_idempotency", "feedback", "monitoring_day_summary", "outcome", "prediction"
    ]  # fmt: skip
    generations = {b.day: b.generation for b in md.block_index(engine, mv)}
    result = erasure.erase_request(engine, admin, target, "ticket DSR-42", raw_root=root)
    assert (result.predictions, result.outcomes, result.feedback_deleted, result.feedback_emptied) == (1, 1, 2, 0)
    assert (result.block_rows, result.summary_rows, result.raw_rows, result.raw_files) == (1, 1, 1, 1)
    assert result.training_sets == [] and result.api_answers == 1
    assert _tables_holding(engine, target) == []
    assert _tables_holding(engine, "other") == ["api_idempotency"]
    assert pk not in _block_ids(engine, mv) and len(_block_ids(engine, mv)) == 47
    day = START.date()
    assert [b.generation for b in md.block_index(engine, mv) if b.day == day] == [generations[day] + 1]
    assert sum(e.n_rows for e in summary_store.day_index(engine, mv)) == 47
    raw = raw_store.read_window(root, "churn", 1, day, day + timedelta(days=1))
    assert len(raw) == 47 and target not in set(raw["request_id"])
    with engine.connect() as conn:
        event = conn.execute(sa.select(AuditEvent).where(AuditEvent.action == "request.erase")).one()
    payload = json.loads(event.payload)
    assert event.actor == admin.label and event.subject_id == erasure.request_hash(target)
    assert payload["reason"] == "ticket DSR-42" and payload["predictions"] == 1 and payload["feedback_deleted"] == 2
    assert target not in event.payload
    # erasing again finds nothing more and is audited again
    again = erasure.erase_request(engine, admin, target, "ticket DSR-42, retry", raw_root=root)
    assert (again.predictions, again.raw_rows, again.feedback_deleted) == (0, 0, 0)


def test_frozen_training_sets_are_named_and_new_sets_skip_it(engine, admin, loaded):
    mv, target, root = loaded
    frozen = training_sets.create_dataset(engine, admin, "labels")
    assert frozen.item_count == 2
    result = erasure.erase_request(engine, admin, target, "DSR-43", raw_root=root)
    assert result.training_sets == [{"id": frozen.id, "name": "labels", "version": 1}]
    assert (result.feedback_deleted, result.feedback_emptied) == (1, 1)
    # the frozen set's immutable rows keep the id; nothing else does; its feedback item is emptied
    with engine.connect() as conn:
        item = conn.execute(sa.select(Feedback).where(Feedback.source == "", Feedback.updated_by == "erasure")).one()
    assert (item.text, item.rating, item.request_id, item.status) == ("", None, None, "dismissed")
    assert _tables_holding(engine, target) == ["training_dataset_item"]
    assert training_sets.verify_dataset(engine, frozen.id).intact
    with engine.connect() as conn:
        event = conn.execute(sa.select(AuditEvent.payload).where(AuditEvent.action == "request.erase")).scalar()
    assert json.loads(event)["training_sets"] == [{"id": frozen.id, "name": "labels", "version": 1}]
    # the id comes back (a re-import of the source system): new training sets still skip it
    with write_session(engine) as session:
        session.add(Prediction(request_id=target, model_version_id=mv, ts=START, score=0.9, predicted_label=1))
    [again] = factories.feedback(engine, 1, request_ids=[target], source="reimport", status="labelled",
                                 corrected_label=1)  # fmt: skip
    later = training_sets.create_dataset(engine, admin, "labels")
    assert later.item_count == 1  # ids[9]'s item only
    with pytest.raises(InvalidInput, match="erased"):
        training_sets.create_dataset(engine, admin, "labels", feedback_pks=[again])


def test_roles_and_inputs(engine, admin, loaded):
    mv, target, root = loaded
    for role in ("viewer", "analyst", "approver"):
        with pytest.raises(PermissionDenied):
            erasure.erase_request(engine, actor_of(role), target, "DSR-44", raw_root=root)
    with pytest.raises(InvalidInput):
        erasure.erase_request(engine, admin, target, "  ", raw_root=root)
    with pytest.raises(InvalidInput):
        erasure.erase_request(engine, admin, "", "DSR-44", raw_root=root)
    assert _tables_holding(engine, target) == ["feedback", "monitoring_day_summary", "outcome", "prediction"]
    assert len(raw_store.read_window(root, "churn", 1, START.date(), START.date())) == 24
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(MonitoringBlock)).scalar() == 2
        assert not conn.execute(sa.select(AuditEvent).where(AuditEvent.action == "request.erase")).first()


def test_erasing_the_newest_prediction_keeps_the_monitoring_refresh_in_step(engine, admin, loaded):
    """SQLite gives a deleted highest id to the next row: the watermark comes down with it, so the next
    import is still folded into the blocks (and no full rebuild is needed)."""
    mv, _, root = loaded
    with engine.connect() as conn:
        newest = conn.execute(sa.select(Prediction.request_id).order_by(Prediction.id.desc()).limit(1)).scalar()
    erasure.erase_request(engine, admin, newest, "DSR-45", raw_root=root)
    assert len(_block_ids(engine, mv)) == 47
    with write_session(engine) as session:
        session.add(
            Prediction(
                request_id="late-1",
                model_version_id=mv,
                ts=START + timedelta(hours=30),
                score=0.2,
                predicted_label=0,
                features={"x": 1, "plan": "pro"},
                cohorts={"platform": "web"},
            )
        )
    result = refresh_monitoring(engine)
    assert result.blocks_built == 1  # the one day the new row landed on, not a rebuild of every day
    with engine.connect() as conn:
        late_pk = conn.execute(sa.select(Prediction.id).where(Prediction.request_id == "late-1")).scalar()
    assert late_pk in _block_ids(engine, mv) and len(_block_ids(engine, mv)) == 48
