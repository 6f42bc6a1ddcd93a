"""Every error is a JSON answer saying what and where; no traceback ever reaches a caller.

Domain errors map to statuses: AuthenticationFailed 401, PermissionDenied 403, NotFound 404,
Conflict 409, TooLarge 413, ImportRejected and InvalidInput 422 (the rows' problems listed by row
and field), RateLimited 429 with Retry-After.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.core.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound, PermissionDenied
from services.ingest.live import TooLarge
from services.ingest.problems import ImportRejected

logger = logging.getLogger("loopdeck.api")


class ProblemOut(BaseModel):
    row: int | None = None
    field: str | None = None
    message: str


class ErrorBody(BaseModel):
    error: str
    message: str
    problems: list[ProblemOut] = []
    total: int | None = None


class RateLimited(Exception):
    def __init__(self, retry_after: float, label: str):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"{label} is over its rate limit; retry after {self.retry_after} s.")


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"The request body is larger than {limit:,} bytes ({limit // (1024 * 1024)} MB).")


class UnsupportedMediaType(Exception):
    pass


ERROR_RESPONSES = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "malformed request (e.g. JSON that does not parse)",
        401: "no, unknown, expired or revoked token",
        403: "the token lacks the scope or the model",
        404: "unknown model or version",
        409: "conflict (e.g. an Idempotency-Key reused for another endpoint)",
        413: "more than 10,000 rows or 16 MB",
        415: "unsupported content type",
        422: "invalid rows or fields, listed by row and field",
        429: "over the token's rate limit (see Retry-After)",
    }.items()
}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    body = ErrorBody(error=code, message=message, **extra).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def _rejected(_: Request, exc: ImportRejected) -> JSONResponse:
    problems = [ProblemOut(row=p.row, field=p.column, message=p.message) for p in exc.problems]
    head = str(exc).split("\n", 1)[0]
    return error(422, "invalid_rows", head, problems=problems, total=exc.total)


def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for e in exc.errors()[:20]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        problems.append(ProblemOut(field=".".join(loc) or None, message=str(e.get("msg", "invalid"))))
    return error(422, "invalid_request", "The request does not match the API's schema.", problems=problems)


def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if request.scope.get("loopdeck.too_large"):
        return error(413, "too_large", str(request.scope["loopdeck.too_large"]))
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request")
    return error(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    simple = [
        (AuthenticationFailed, 401, "unauthorized", {"WWW-Authenticate": "Bearer"}),
        (PermissionDenied, 403, "forbidden", None),
        (NotFound, 404, "not_found", None),
        (Conflict, 409, "conflict", None),
        (TooLarge, 413, "too_large", None),
        (BodyTooLarge, 413, "too_large", None),
        (UnsupportedMediaType, 415, "unsupported_media_type", None),
        (InvalidInput, 422, "invalid_input", None),
    ]
    for exc_type, status, code, headers in simple:
        app.add_exception_handler(exc_type, _simple(status, code, headers))
    app.add_exception_handler(ImportRejected, _rejected)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_exception_handler(Exception, _unexpected)


def _simple(status: int, code: str, headers: dict[str, str] | None):
    def handler(_: Request, exc: Exception) -> JSONResponse:
        return error(status, code, str(exc), headers=headers)

    return handler


def _rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
    return error(429, "rate_limited", str(exc), headers={"Retry-After": str(exc.retry_after)})


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return error(500, "internal_error", "Loopdeck could not answer this request; the error is in the server's log.")
