"""POST /api/v1/{predictions,outcomes,feedback,exposures,metrics}: rows in, validated like a file import.

The body is JSON `{"rows": [{column: value, ...}, ...]}` with the import schema's column names
(`feature_<name>`, `cohort_<name>` included), or a CSV (text/csv) or Parquet
(application/vnd.apache.parquet or application/octet-stream) file. All or nothing per request.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.auth import engine_of, token_actor
from api.errors import ERROR_RESPONSES, UnsupportedMediaType
from services.core import idempotency
from services.core.tokens import TokenActor
from services.ingest import live
from services.ingest.kinds import KINDS
from services.ingest.problems import ImportRejected, Problem

router = APIRouter(prefix="/api/v1", tags=["ingest"])
BINARY_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/octet-stream")


class IngestAnswer(BaseModel):
    kind: str
    rows: int
    new: int
    known: int
    redactions: int
    import_id: str
    sha256: str
    seconds: float
    alerts_opened: list[int]
    alerts_error: str
    replayed: bool = False


_ROW = {"type": "object", "additionalProperties": {"type": ["string", "number", "integer", "boolean", "null"]}}
_JSON_BODY = {
    "type": "object",
    "required": ["rows"],
    "properties": {"rows": {"type": "array", "minItems": 1, "maxItems": live.MAX_ROWS, "items": _ROW}},
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _JSON_BODY},
            "text/csv": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _frame(kind: str, content_type: str, data: bytes):
    source = f"api:{kind}"
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/json", "") or media.endswith("+json"):
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ImportRejected([Problem(source, None, None, f"the body is not valid JSON: {exc}")], 1) from None
        if not isinstance(body, dict) or "rows" not in body:
            raise ImportRejected([Problem(source, None, "rows", 'the body must be {"rows": [...]}')], 1)
        return live.frame_from_rows(body["rows"], source)
    if media in ("text/csv", "application/csv") or media in BINARY_TYPES:
        return live.frame_from_bytes(data, source)
    raise UnsupportedMediaType(
        f"Content type {media!r} is not accepted: send application/json, text/csv or application/vnd.apache.parquet."
    )


async def _ingest(kind: str, request: Request, actor: TokenActor, key: str | None) -> dict:
    engine = engine_of(request)
    key = idempotency.check_key(key)
    endpoint = f"POST /api/v1/{kind}"
    replayed = await run_in_threadpool(idempotency.replay, engine, actor.label, key, endpoint)
    if replayed is not None:
        return {**replayed, "replayed": True}
    data = await request.body()
    frame = await run_in_threadpool(_frame, kind, request.headers.get("content-type", ""), data)
    del data
    result = await run_in_threadpool(live.ingest, engine, actor, kind, frame, f"api:{kind}")
    answer = live.result_dict(result)
    await run_in_threadpool(idempotency.remember, engine, actor.label, key, endpoint, answer)
    return {**answer, "replayed": False}


def _route(kind: str) -> None:
    async def endpoint(
        request: Request,
        actor: TokenActor = Depends(token_actor),
        idempotency_key: str | None = Header(default=None, max_length=200),
    ) -> dict:
        return await _ingest(kind, request, actor, idempotency_key)

    endpoint.__name__ = f"log_{kind}"
    router.add_api_route(
        f"/{kind}",
        endpoint,
        methods=["POST"],
        response_model=IngestAnswer,
        responses=ERROR_RESPONSES,
        summary=f"Log {kind}",
        description=f"{KINDS[kind].description} Needs the `ingest` scope. Columns as in the file import; at most "
        f"{live.MAX_ROWS:,} rows or 16 MB. Idempotent on the natural ids {', '.join(KINDS[kind].natural_key)} "
        "and on the Idempotency-Key header.",
        openapi_extra=_BODY,
    )


for _kind in KINDS:
    _route(_kind)
