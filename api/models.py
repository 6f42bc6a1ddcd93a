"""GET /api/v1/routing/{model} (ETag, 304) and POST /api/v1/models/{name}/versions."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.auth import engine_of, token_actor
from api.errors import ERROR_RESPONSES
from services.core import idempotency
from services.core.errors import InvalidInput
from services.core.tokens import TokenActor
from services.models import external, routing_feed

router = APIRouter(prefix="/api/v1", tags=["models"])
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$"


def model_name_param():
    return Path(pattern=MODEL_NAME, description="Model name: letters, digits, '.', '_' or '-'")


class Route(BaseModel):
    model_version_id: int
    version: int
    stage: str
    traffic_share: float
    deployment_id: int
    since: str
    artifact_uri: str | None
    artifact_sha256: str | None


class RoutingOut(BaseModel):
    model_name: str
    champion: Route | None
    challengers: list[Route]
    shadows: list[Route]
    as_of: str


@router.get(
    "/routing/{model}",
    response_model=RoutingOut,
    responses={**ERROR_RESPONSES, 304: {"description": "unchanged since the ETag sent in If-None-Match"}},
    summary="What production should serve now",
    description="Needs the `routing:read` scope. Poll with If-None-Match: 304 while the routing is unchanged.",
)
def routing(
    request: Request,
    response: Response,
    model: str = model_name_param(),
    actor: TokenActor = Depends(token_actor),
    if_none_match: str | None = Header(default=None),
) -> Any:
    answer = routing_feed.routing_for(engine_of(request), actor, model)
    headers = {"ETag": answer.etag, "Cache-Control": "no-cache"}
    if if_none_match and answer.etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return answer.body


class Window(BaseModel):
    start: datetime | None = None
    end: datetime | None = None


class Metrics(BaseModel):
    overall: dict[str, float] = Field(default_factory=dict, description="metric name -> value, e.g. roc_auc")
    cohorts: dict[str, dict[str, dict[str, float]]] = Field(
        default_factory=dict, description="cohort field -> cohort value -> metric name -> value"
    )


class VersionIn(BaseModel):
    feature_schema: dict[str, Literal["numeric", "categorical"]] = Field(min_length=1, max_length=10_000)
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: Metrics = Field(default_factory=Metrics)
    training_window: Window = Field(default_factory=Window)
    training_rows: int | None = Field(default=None, ge=0)
    code_reference: str = Field(default="", max_length=500, description="e.g. a git commit URL")
    model_card: dict[str, str] = Field(default_factory=dict)
    artifact_base64: str | None = Field(default=None, description="a skops file, base64-encoded (never a pickle)")
    artifact_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    retrain_request_id: int | None = Field(
        default=None, ge=1, description="the approved retrain request the pipeline was called for (the message's "
        "`request_id`): the version records it as its trigger"
    )  # fmt: skip


class VersionOut(BaseModel):
    id: int
    model_name: str
    version: int
    status: str
    trigger: str | None
    created_by: str
    artifact_sha256: str | None
    replayed: bool = False


def _register(request: Request, name: str, body: VersionIn, actor: TokenActor) -> dict:
    artifact = None
    if body.artifact_base64 is not None:
        try:
            artifact = base64.b64decode(body.artifact_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("artifact_base64 is not valid base64.") from None
    info = external.ExternalVersion(
        feature_schema=dict(body.feature_schema), params=body.params, metrics=body.metrics.overall,
        cohort_metrics=body.metrics.cohorts, window_start=body.training_window.start,
        window_end=body.training_window.end, training_rows=body.training_rows,
        code_reference=body.code_reference, model_card=body.model_card, retrain_request_id=body.retrain_request_id,
    )  # fmt: skip
    row = external.register_external_version(engine_of(request), actor, name, info, artifact, body.artifact_sha256)
    return VersionOut(id=row.id, model_name=row.model_name, version=row.version, status=row.status,
                      trigger=row.trigger, created_by=row.created_by,
                      artifact_sha256=row.artifact_sha256).model_dump()  # fmt: skip


@router.post(
    "/models/{name}/versions",
    response_model=VersionOut,
    status_code=201,
    responses=ERROR_RESPONSES,
    summary="Register a version trained elsewhere",
    description="Needs the `models:write` scope. The version becomes a candidate: judge, approve and roll it "
    "out like any other. An artifact must be a skops file; its SHA-256 is checked.",
)
async def register_version(
    request: Request,
    body: VersionIn,
    name: str = model_name_param(),
    actor: TokenActor = Depends(token_actor),
    idempotency_key: str | None = Header(default=None, max_length=200),
) -> Any:
    engine = engine_of(request)
    key = idempotency.check_key(idempotency_key)
    endpoint = f"POST /api/v1/models/{name}/versions"
    replayed = await run_in_threadpool(idempotency.replay, engine, actor.label, key, endpoint)
    if replayed is not None:
        return {**replayed, "replayed": True}
    answer = await run_in_threadpool(_register, request, name, body, actor)
    await run_in_threadpool(idempotency.remember, engine, actor.label, key, endpoint, answer)
    return answer
