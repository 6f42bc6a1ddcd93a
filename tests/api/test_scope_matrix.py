"""The token scope x endpoint matrix: each endpoint answers 403 to a token without its scope, and
lets a token with it through (to a 2xx, or to a 4xx about the data, never 401/403)."""

from __future__ import annotations

import pytest

from tests.api.conftest import prediction_rows
from tests.services.factories import predictions

SCOPES = ["ingest", "routing:read", "models:write", "erase", "monitoring:read", "raw:export"]
ROWS = {
    "predictions": prediction_rows(1, 100),
    "outcomes": [{"request_id": "req-1-0", "ts": "2026-12-02T10:00:00Z", "actual_label": 1}],
    "feedback": [{"feedback_id": "fb-1", "ts": "2026-12-02T10:00:00Z", "source": "app", "text": "fine"}],
    "exposures": [{"experiment_key": "exp", "unit_id": "u1", "variant": "a", "ts": "2026-12-02T10:00:00Z"}],
    "metrics": [{"experiment_key": "exp", "unit_id": "u1", "metric": "m", "value": 1.0, "ts": "2026-12-02T10:00:00Z"}],
}
WINDOW = {"model": "churn", "version": 1, "first": "2026-12-01", "last": "2026-12-02"}
ENDPOINTS = [
    *[(f"POST /api/v1/{kind}", "ingest", {"json": {"rows": rows}}) for kind, rows in ROWS.items()],
    ("GET /api/v1/routing/churn", "routing:read", {}),
    ("POST /api/v1/models/churn/versions", "models:write", {"json": {"feature_schema": {"x": "numeric"}}}),
    ("POST /api/v1/erasures", "erase", {"json": {"request_id": "req-1-0", "reason": "scope matrix"}}),
    *[
        (f"POST /api/v1/monitoring/{what}", scope, {"json": WINDOW})
        for what, scope in (("query", "monitoring:read"), ("export", "raw:export"))
    ],
]


@pytest.mark.parametrize("scope", SCOPES)
def test_scope_matrix(client, engine, make_token, scope, tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDECK_ARTIFACT_DIR", str(tmp_path))
    predictions(engine, 1, 1)
    auth = make_token(f"only-{scope.replace(':', '-')}", scopes=[scope])
    for endpoint, needs, kwargs in ENDPOINTS:
        method, path = endpoint.split(" ")
        r = client.request(method, path, headers=auth, **kwargs)
        if needs == scope:
            assert r.status_code not in (401, 403, 500), (endpoint, scope, r.text)
            if endpoint.split("/")[-1] not in ("exposures", "metrics"):  # no experiment "exp": a 422 is right
                assert r.status_code in (200, 201), (endpoint, scope, r.text)
        else:
            assert r.status_code == 403, (endpoint, scope, r.text)
            assert scope in r.json()["message"] or needs in r.json()["message"]
    assert client.get("/api/v1/health").status_code == 200
