"""POST /api/v1/erasures (SQLite, and Postgres when configured): a token with the `erase` scope erases a
request id from the tables, the feedback queue and the configured raw store, audited as the token; a token
without the scope gets 403; an `erase` token is never limited to models; bad bodies get 422 saying what."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from services.core import tokens
from services.core.errors import InvalidInput
from services.core.schema_accounts import AuditEvent
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Prediction
from services.monitoring import raw_store
from tests.api.conftest import ADMIN
from tests.services import factories

START = datetime(2026, 11, 1, tzinfo=UTC)


def _count(engine, table, request_id: str) -> int:
    with engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(table.request_id == request_id)
        return conn.execute(query).scalar()


def test_an_erase_token_erases_a_request_everywhere(client, engine, make_token, tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    target, other = factories.predictions(engine, 1, 2, start=START)
    factories.outcome(engine, target, 1)
    factories.feedback(engine, 2, request_ids=[target], text="call me at 555-0100")
    raw = pd.DataFrame({"request_id": [target, other], "ts": pd.to_datetime([START, START], utc=True),
                        "score": [0.1, 0.2], "predicted_label": [0, 0], "label": [1.0, None]})  # fmt: skip
    raw_store.append(raw_store.open_store(), "churn", 1, raw)
    auth = make_token("dsr", scopes=["erase"])
    r = client.post("/api/v1/erasures", json={"request_id": target, "reason": "ticket DSR-7"}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["predictions"], body["outcomes"], body["feedback_deleted"], body["raw_rows"]) == (1, 1, 2, 1)
    assert target not in r.text and body["summary"].startswith("Erased: 1 prediction(s)")
    assert _count(engine, Prediction, target) == 0 and _count(engine, Feedback, target) == 0
    assert _count(engine, Prediction, other) == 1
    left = raw_store.read_window(raw_store.open_store(), "churn", 1, START.date(), START.date())
    assert list(left["request_id"]) == [other]
    with engine.connect() as conn:
        event = conn.execute(sa.select(AuditEvent).where(AuditEvent.action == "request.erase")).one()
    assert event.actor == "token:dsr" and json.loads(event.payload)["reason"] == "ticket DSR-7"
    again = client.post("/api/v1/erasures", json={"request_id": target, "reason": "retry"}, headers=auth)
    assert again.status_code == 200 and again.json()["predictions"] == 0


def test_scope_model_limits_and_bad_bodies(client, engine, make_token):
    factories.predictions(engine, 1, 1, start=START)
    ingest = make_token("pipeline", scopes=["ingest", "routing:read", "models:write"])
    r = client.post("/api/v1/erasures", json={"request_id": "req-1-0", "reason": "x"}, headers=ingest)
    assert r.status_code == 403 and "'erase' scope" in r.json()["message"]
    assert _count(engine, Prediction, "req-1-0") == 1
    with pytest.raises(InvalidInput, match="erase scope reaches every model"):
        tokens.create_token(engine, ADMIN, "dsr-churn", ["erase"], ["churn"])
    auth = make_token("dsr", scopes=["erase"])
    assert client.post("/api/v1/erasures", json={"request_id": "req-1-0"}, headers=auth).status_code == 422
    blank = client.post("/api/v1/erasures", json={"request_id": "req-1-0", "reason": "   "}, headers=auth)
    assert blank.status_code == 422 and "reason" in blank.json()["message"]
    assert client.post("/api/v1/erasures", json={"request_id": "req-1-0", "reason": "x"}).status_code == 401
    assert _count(engine, Prediction, "req-1-0") == 1
