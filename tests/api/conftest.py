"""API test fixtures: a TestClient over a fresh database (SQLite, and Postgres when
LOOPDECK_TEST_POSTGRES_URL is set: the `engine` fixture of tests/conftest.py), tokens and a model."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from services.core import tokens
from services.core.roles import Actor, Role
from tests.services.factories import model_version

ADMIN = Actor(label="admin@test.io", role=Role.admin)
ALL_SCOPES = ["ingest", "routing:read", "models:write"]


@pytest.fixture
def client(engine) -> Iterator[TestClient]:
    model_version(engine, "churn", 1)
    with TestClient(create_app(engine), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_token(engine) -> Callable[..., dict[str, str]]:
    """make_token(name, scopes=..., models=None, **kw) -> Authorization headers for a new token."""

    def make(name: str = "pipeline", scopes=None, models=None, **kw) -> dict[str, str]:
        created = tokens.create_token(engine, ADMIN, name, scopes or ALL_SCOPES, models, **kw)
        return {"Authorization": f"Bearer {created.secret}"}

    return make


def prediction_rows(n: int, start: int = 0, model: str = "churn", version: int = 1) -> list[dict]:
    return [
        {"request_id": f"r-{start + i}", "model_name": model, "model_version": version,
         "ts": "2026-12-01T10:00:00Z", "score": 0.25 + (i % 50) / 100, "predicted_label": i % 2,
         "feature_tenure": float(i % 40), "feature_plan": "pro" if i % 3 else "basic", "cohort_region": "EU"}
        for i in range(n)
    ]  # fmt: skip


CLIENT_DIR = Path(__file__).resolve().parents[2] / "client"
if str(CLIENT_DIR) not in sys.path:  # the client is its own package (pip install ./client); tests use the source
    sys.path.insert(0, str(CLIENT_DIR))
