"""Per-token rate limits (token buckets, in this process) and the request body limit (ASGI middleware)."""

from __future__ import annotations

import json
import threading
import time

from api.errors import BodyTooLarge, RateLimited

INGEST_BODY_LIMIT = 16 * 1024 * 1024
MODELS_BODY_LIMIT = 64 * 1024 * 1024  # a version with its skops artifact, base64-encoded


class RateLimiter:
    """Each token refills at rate_per_minute / 60 a second, holding at most 10 seconds' worth."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str, per_minute: int, label: str) -> None:
        rate = per_minute / 60.0
        burst = max(1.0, rate * 10)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise RateLimited((1.0 - tokens) / rate, label)
            self._buckets[key] = (tokens - 1.0, now)


def body_limit(path: str) -> int:
    return MODELS_BODY_LIMIT if path.startswith("/api/v1/models/") else INGEST_BODY_LIMIT


class BodyLimitMiddleware:
    """413 before reading a body whose Content-Length is over the limit; a chunked body is counted as it
    arrives and stopped at the limit."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _send_413(send, BodyTooLarge(limit))
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                scope["loopdeck.too_large"] = str(BodyTooLarge(limit))
                raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted if length is None else receive, send)


async def _send_413(send, exc: BodyTooLarge) -> None:
    body = json.dumps({"error": "too_large", "message": str(exc)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
