"""POST /api/v1/<kind>: validated like a file import, all or nothing, idempotent, limited, audited."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from services.core import audit
from services.ingest import live
from tests.api.conftest import prediction_rows


def count(engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()


def test_json_rows_are_imported_and_known_on_retry(client, engine, make_token):
    auth = make_token()
    rows = prediction_rows(5)
    r = client.post("/api/v1/predictions", json={"rows": rows}, headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["new"], r.json()["known"]) == (5, 0)
    r = client.post("/api/v1/predictions", json={"rows": prediction_rows(7)}, headers=auth)
    assert (r.json()["new"], r.json()["known"]) == (2, 5)
    assert count(engine, "prediction") == 7
    outcomes = [{"request_id": "r-1", "ts": "2026-12-02T10:00:00Z", "actual_label": 1}]
    r = client.post("/api/v1/outcomes", json={"rows": outcomes}, headers=auth)
    assert r.json()["new"] == 1
    events = audit.list_events(engine, audit.AuditFilter(action="data.import"))
    assert set(events["actor"]) == {"token:pipeline"}


def test_idempotency_key_replays_the_first_answer(client, engine, make_token):
    auth = make_token() | {"Idempotency-Key": "batch-0001"}
    first = client.post("/api/v1/predictions", json={"rows": prediction_rows(3)}, headers=auth).json()
    again = client.post("/api/v1/predictions", json={"rows": prediction_rows(3)}, headers=auth).json()
    assert again["replayed"] is True and first["replayed"] is False
    assert (again["new"], again["import_id"]) == (3, first["import_id"])
    r = client.post("/api/v1/outcomes", json={"rows": [{"request_id": "r-1"}]}, headers=auth)
    assert r.status_code == 409 and "Idempotency-Key" in r.json()["message"]


def test_bad_rows_are_rejected_by_row_and_field_and_nothing_is_written(client, engine, make_token):
    rows = prediction_rows(4)
    rows[1]["score"] = "high"
    rows[3]["ts"] = "yesterday"
    r = client.post("/api/v1/predictions", json={"rows": rows}, headers=make_token())
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_rows" and body["total"] >= 2
    where = {(p["row"], p["field"]) for p in body["problems"]}
    assert (2, "score") in where and (4, "ts") in where
    assert count(engine, "prediction") == 0


def test_unknown_model_version_is_a_422_naming_the_field(client, engine, make_token):
    r = client.post("/api/v1/predictions", json={"rows": prediction_rows(2, version=9)}, headers=make_token())
    assert r.status_code == 422
    assert any(p["field"] in ("model_version", "model_name") for p in r.json()["problems"])


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"{not json", "application/json"),
        (b'{"rows": 3}', "application/json"),
        (b'{"rows": []}', "application/json"),
        (b'{"rows": [1, 2]}', "application/json"),
        (b'{"rows": [{"request_id": {"a": 1}}]}', "application/json"),
        (b"[]", "application/json"),
    ],
)
def test_malformed_bodies_get_a_clear_4xx(client, engine, make_token, body, content_type):
    r = client.post("/api/v1/predictions", content=body, headers=make_token() | {"Content-Type": content_type})
    assert r.status_code == 422, r.text
    assert r.json()["message"]
    assert count(engine, "prediction") == 0


def test_csv_and_parquet_bodies(client, engine, make_token):
    auth = make_token()
    frame = pd.DataFrame(prediction_rows(3))
    r = client.post(
        "/api/v1/predictions", content=frame.to_csv(index=False), headers=auth | {"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["new"] == 3
    buffer = io.BytesIO()
    pd.DataFrame(prediction_rows(5)).to_parquet(buffer)
    headers = auth | {"Content-Type": "application/vnd.apache.parquet"}
    r = client.post("/api/v1/predictions", content=buffer.getvalue(), headers=headers)
    assert (r.status_code, r.json()["new"], r.json()["known"]) == (200, 2, 3)
    r = client.post("/api/v1/predictions", content=b"x", headers=auth | {"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_limits_rows_and_bytes(client, engine, make_token, monkeypatch):
    auth = make_token()
    rows = [{"request_id": f"x{i}"} for i in range(live.MAX_ROWS + 1)]
    r = client.post("/api/v1/predictions", json={"rows": rows}, headers=auth)
    assert r.status_code == 413 and "10,000" in r.json()["message"]
    headers = auth | {"Content-Type": "text/csv", "Content-Length": str(17 * 1024 * 1024)}
    r = client.post("/api/v1/predictions", content=b"a,b\n1,2\n", headers=headers)
    assert r.status_code == 413 and "16 MB" in r.json()["message"]
    assert count(engine, "prediction") == 0


def test_token_limited_to_a_model(client, engine, make_token):
    from tests.services.factories import model_version

    model_version(engine, "fraud", 1)
    auth = make_token("churn-only", scopes=["ingest"], models=["churn"])
    assert client.post("/api/v1/predictions", json={"rows": prediction_rows(2)}, headers=auth).status_code == 200
    r = client.post("/api/v1/predictions", json={"rows": prediction_rows(2, 10, model="fraud")}, headers=auth)
    assert r.status_code == 403 and "fraud" in r.json()["message"]
    other = make_token("fraud-only", scopes=["ingest"], models=["fraud"])
    r = client.post("/api/v1/outcomes", json={"rows": [{"request_id": "r-0", "ts": "2026-12-02", "actual_label": 1}]},
                    headers=other)  # fmt: skip
    assert r.status_code == 403
    exposures = [{"experiment_key": "e", "unit_id": "u", "variant": "a", "ts": "2026-12-02"}]
    assert client.post("/api/v1/exposures", json={"rows": exposures}, headers=auth).status_code == 403
