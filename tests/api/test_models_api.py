"""Routing (ETag, 304) and registering versions trained elsewhere (artifact checksum, skops only)."""

from __future__ import annotations

import base64
import hashlib
import pickle

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from services.core import audit
from services.models import registry
from tests.api.conftest import ADMIN


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDECK_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("LOOPDECK_ROUTING_DIR", str(tmp_path / "routing"))


def test_routing_etag_and_304(client, engine, make_token):
    auth = make_token(scopes=["routing:read"])
    first = client.get("/api/v1/routing/churn", headers=auth)
    assert first.status_code == 200 and first.json()["champion"] is None
    etag = first.headers["ETag"]
    assert client.get("/api/v1/routing/churn", headers=auth | {"If-None-Match": etag}).status_code == 304
    version_id = registry.find_version(engine, "churn", 1).id
    registry.record_deployment(engine, ADMIN, version_id, "full", 1.0)
    changed = client.get("/api/v1/routing/churn", headers=auth | {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["champion"]["version"] == 1
    assert client.get("/api/v1/routing/nosuch", headers=auth).status_code == 404
    assert client.get("/api/v1/routing/bad%20name", headers=auth).status_code == 422


def _artifact() -> bytes:
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    return registry.dumps_artifact(model)


def _version(**extra) -> dict:
    return {
        "feature_schema": {"tenure": "numeric", "plan": "categorical"},
        "params": {"estimator": "xgboost", "depth": 6},
        "metrics": {"overall": {"roc_auc": 0.81, "accuracy": 0.77},
                    "cohorts": {"region": {"EU": {"rows": 100, "roc_auc": 0.8}}}},
        "training_window": {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
        "training_rows": 120000,
        "code_reference": "https://git.example.com/ml/churn/commit/abc123",
        **extra,
    }  # fmt: skip


def test_register_a_version_trained_elsewhere(client, engine, make_token):
    auth = make_token(scopes=["models:write"])
    data = _artifact()
    body = _version(artifact_base64=base64.b64encode(data).decode(), artifact_sha256=hashlib.sha256(data).hexdigest())
    r = client.post("/api/v1/models/churn/versions", json=body, headers=auth)
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["version"], out["status"], out["trigger"], out["created_by"]) == (
        2,
        "candidate",
        "external",
        "token:pipeline",
    )
    row = registry.get_version(engine, out["id"])
    assert row.metrics["roc_auc"] == 0.81 and row.metrics["cohorts"]["region"]["EU"]["rows"] == 100
    assert row.training_data["window_start"].startswith("2026-10-01") and row.training_data["rows"] == 120000
    assert registry.verify_artifact(engine, row.id).ok
    r = client.post("/api/v1/models/fraud/versions", json=_version(), headers=auth)
    assert r.status_code == 201 and r.json()["version"] == 1  # a new model, no artifact
    events = audit.list_events(engine, audit.AuditFilter(action="model.register_external"))
    assert set(events["actor"]) == {"token:pipeline"}


@pytest.mark.parametrize(
    "change, status, words",
    [
        ({"artifact_sha256": "0" * 64}, 422, "SHA-256"),
        ({"artifact_sha256": None}, 422, "SHA-256"),
        ({"artifact_base64": "%%%"}, 422, "base64"),
        ({"pickle": True}, 422, "skops"),
        ({"feature_schema": {"x": "image"}}, 422, "feature_schema"),
        ({"feature_schema": {}}, 422, "feature_schema"),
        ({"metrics": {"overall": {"auc": "high"}}}, 422, "metrics"),
        ({"training_window": {"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}}, 422, "window"),
    ],
)
def test_register_refuses_bad_versions_and_writes_nothing(client, engine, make_token, change, status, words):
    change = dict(change)  # the parameter dict is shared by the SQLite and Postgres runs
    data = pickle.dumps({"a": 1}) if change.pop("pickle", False) else _artifact()
    body = _version(artifact_base64=base64.b64encode(data).decode(), artifact_sha256=hashlib.sha256(data).hexdigest())
    body.update(change)
    r = client.post("/api/v1/models/churn/versions", json=body, headers=make_token(scopes=["models:write"]))
    assert r.status_code == status, r.text
    assert words.lower() in r.text.lower()
    assert [v.version for v in registry.list_versions(engine, "churn")] == [1]


def test_a_version_naming_a_retrain_request_is_checked(client, engine, make_token):
    """`retrain_request_id` names the request the pipeline was called for: an unknown one is a 404 and
    nothing is registered (tests/services/models/test_alert_retrain.py covers the executed request)."""
    auth = make_token(scopes=["models:write"])
    r = client.post("/api/v1/models/churn/versions", json=_version(retrain_request_id=999), headers=auth)
    assert r.status_code == 404 and "retrain request #999" in r.text
    r = client.post("/api/v1/models/churn/versions", json=_version(retrain_request_id=0), headers=auth)
    assert r.status_code == 422
    assert [v.version for v in registry.list_versions(engine, "churn")] == [1]
