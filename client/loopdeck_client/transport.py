"""One HTTP call with retries: backoff with jitter on 429 (honouring Retry-After), 5xx and connection
errors; any other answer is final. Rows are made JSON-safe here (NaN -> null, datetimes -> ISO 8601)."""

from __future__ import annotations

import base64
import json
import math
import random
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

RETRYABLE = {429, 500, 502, 503, 504}


class LoopdeckError(Exception):
    """An answer that retrying cannot fix (4xx other than 429), or retries exhausted."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def plain_rows(rows: Any) -> list[dict[str, Any]]:
    """A list of dicts, or a pandas DataFrame, as JSON-safe records."""
    if hasattr(rows, "to_dict") and not isinstance(rows, Mapping):
        rows = rows.to_dict(orient="records")
    if isinstance(rows, Mapping):
        rows = [rows]
    out = []
    for row in rows:
        out.append({str(k): (v if isinstance(v, str | int) else _plain(v)) for k, v in row.items()})
    return out


def chunks(rows: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class Transport:
    def __init__(self, url: str, token: str, timeout: float, max_retries: int, backoff: float, max_backoff: float,
                 transport: httpx.BaseTransport | None = None):  # fmt: skip
        self.base = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": "loopdeck-client/0.1"}
        self.timeout, self.max_retries, self.backoff, self.max_backoff = timeout, max_retries, backoff, max_backoff
        self._transport = transport
        self._local = threading.local()  # one httpx.Client per thread (the background sender has its own)
        self.stop = threading.Event()  # set by close(): waits between retries end at once

    def client(self) -> httpx.Client:
        c = getattr(self._local, "client", None)
        if c is None:
            c = httpx.Client(base_url=self.base, headers=self.headers, timeout=self.timeout, transport=self._transport)
            self._local.client = c
        return c

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_backoff)
        return min(self.max_backoff, self.backoff * 2**attempt) * (0.5 + random.random() / 2)

    def request(self, method: str, path: str, *, retries: int | None = None, **kwargs: Any) -> httpx.Response:
        """The final response (2xx, 304 or a non-retryable 4xx), or LoopdeckError after the retries."""
        retries = self.max_retries if retries is None else retries
        last = "no attempt"
        for attempt in range(retries + 1):
            retry_after = None
            try:
                r = self.client().request(method, path, **kwargs)
                if r.status_code not in RETRYABLE:
                    return r
                retry_after = r.headers.get("Retry-After")
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempt < retries and self.stop.wait(self.delay(attempt, retry_after)):
                break
        raise LoopdeckError(f"{method} {path} failed after {retries + 1} attempts ({last})")

    def post_rows(self, kind: str, rows: list[dict[str, Any]], key: str, retries: int | None = None) -> dict[str, Any]:
        body = json.dumps({"rows": rows}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        return final(self.request("POST", f"/api/v1/{kind}", content=body, headers=headers, retries=retries))

    def close(self) -> None:
        self.stop.set()
        c = getattr(self._local, "client", None)
        if c is not None:
            c.close()


def final(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        body = {"message": r.text[:500]}
    if r.status_code >= 400:
        message = body.get("message", r.text[:500]) if isinstance(body, dict) else r.text[:500]
        raise LoopdeckError(f"HTTP {r.status_code}: {message}", r.status_code, body)
    return body
