"""Schemathesis against the OpenAPI document: generated requests (valid and invalid) get no 500, and
every answer matches the documented status codes, content types and schemas. Bounded examples."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode
from sqlmodel import SQLModel

from api.main import create_app
from services.core import tokens
from services.core.db import make_engine
from tests.api.conftest import ADMIN, ALL_SCOPES
from tests.services.factories import model_version

MAX_EXAMPLES = 15  # per operation and mode: 11 operations x 2 modes x 15 = 330 requests
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("schemathesis")
    engine = make_engine(f"sqlite:///{folder / 'st.db'}")
    SQLModel.metadata.create_all(engine)
    model_version(engine, "churn", 1)
    secret = tokens.create_token(
        engine, ADMIN, "fuzz", [*ALL_SCOPES, "erase", "monitoring:read", "raw:export"], rate_per_minute=1_000_000
    ).secret
    yield create_app(engine), secret
    engine.dispose()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(live, mode, tmp_path, monkeypatch):
    """Each operation, with generated valid (positive) or invalid (negative) requests. Schemathesis'
    pytest plugin does not run under pytest 9, so the operations' strategies are driven by hypothesis."""
    monkeypatch.setenv("LOOPDECK_ARTIFACT_DIR", str(tmp_path))
    app, secret = live
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    auth = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 11
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)  # fmt: skip
        def run(case) -> None:
            case.call_and_validate(headers=auth, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (GET /api/v1/health takes no input)
            assert mode == GenerationMode.NEGATIVE and operation.path == "/api/v1/health"
