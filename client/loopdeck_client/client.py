"""`Loopdeck(url, token)`: the client a serving system or pipeline uses.

    ld = Loopdeck("http://loopdeck:8502", token)                  # sends in the caller's thread
    ld.log_predictions(rows_or_dataframe)                          # {"new": N, "known": M, ...}
    ld = Loopdeck(url, token, background=True, spool_dir="spool")  # never blocks; spools while down

Rows are batched (batch_size, at most 10,000), each batch with its own Idempotency-Key kept across
retries; retries back off on 429 (Retry-After), 5xx and connection errors.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from loopdeck_client.spool import Spool
from loopdeck_client.transport import LoopdeckError, Transport, chunks, final, plain_rows

__all__ = ["Loopdeck", "LoopdeckError"]


class Loopdeck:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        batch_size: int = 1000,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        background: bool = False,
        spool_dir: str | os.PathLike | None = None,
        flush_interval: float = 0.5,
        max_spool_bytes: int = 1 << 30,
        transport: httpx.BaseTransport | None = None,
    ):
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size must be between 1 and 10,000 (the API's limit per request).")
        self.batch_size = batch_size
        self._http = Transport(url, token, timeout, max_retries, backoff, max_backoff, transport)
        self._routing: dict[str, tuple[str, dict[str, Any]]] = {}
        self._spool: Spool | None = None
        if background:
            folder = spool_dir or Path.home() / ".loopdeck" / "spool"
            self._spool = Spool(self._http, folder, batch_size, flush_interval, max_spool_bytes)
            atexit.register(self.close)

    # --- logging rows ----------------------------------------------------------------------------

    def _log(self, kind: str, rows: Any) -> dict[str, Any] | None:
        if self._spool is not None:
            self._spool.put(kind, rows)
            return None
        total: dict[str, Any] = {"rows": 0, "new": 0, "known": 0, "import_ids": []}
        for batch in chunks(plain_rows(rows), self.batch_size):
            answer = self._http.post_rows(kind, batch, uuid.uuid4().hex)
            for k in ("rows", "new", "known"):
                total[k] += answer[k]
            total["import_ids"].append(answer["import_id"])
        return total

    def log_predictions(self, rows: Any) -> dict[str, Any] | None:
        """Rows (dicts or a DataFrame) with the import columns: request_id, model_name, model_version, ts,
        score, predicted_label, feature_<name>..., cohort_<name>.... Background mode returns None at once."""
        return self._log("predictions", rows)

    def log_outcomes(self, rows: Any) -> dict[str, Any] | None:
        return self._log("outcomes", rows)

    def log_feedback(self, rows: Any) -> dict[str, Any] | None:
        return self._log("feedback", rows)

    def log_exposures(self, rows: Any) -> dict[str, Any] | None:
        return self._log("exposures", rows)

    def log_metrics(self, rows: Any) -> dict[str, Any] | None:
        return self._log("metrics", rows)

    # --- routing and versions --------------------------------------------------------------------

    def routing(self, model: str) -> dict[str, Any]:
        """What production should serve now; cheap to poll (the ETag makes an unchanged answer a 304)."""
        cached = self._routing.get(model)
        headers = {"If-None-Match": cached[0]} if cached else {}
        r = self._http.request("GET", f"/api/v1/routing/{model}", headers=headers)
        if r.status_code == 304 and cached:
            return cached[1]
        body = final(r)
        self._routing[model] = (r.headers.get("ETag", ""), body)
        return body

    def register_version(
        self,
        model: str,
        feature_schema: dict[str, str],
        *,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        cohort_metrics: dict[str, dict[str, dict[str, float]]] | None = None,
        training_start: datetime | str | None = None,
        training_end: datetime | str | None = None,
        training_rows: int | None = None,
        code_reference: str = "",
        model_card: dict[str, str] | None = None,
        artifact: bytes | str | os.PathLike | None = None,
    ) -> dict[str, Any]:
        """Register a version trained elsewhere; `artifact` is a skops file (bytes or a path)."""
        body: dict[str, Any] = {
            "feature_schema": feature_schema, "params": params or {},
            "metrics": {"overall": metrics or {}, "cohorts": cohort_metrics or {}},
            "training_window": {"start": _iso(training_start), "end": _iso(training_end)},
            "training_rows": training_rows, "code_reference": code_reference, "model_card": model_card or {},
        }  # fmt: skip
        if artifact is not None:
            data = artifact if isinstance(artifact, bytes) else Path(artifact).read_bytes()
            body["artifact_base64"] = base64.b64encode(data).decode()
            body["artifact_sha256"] = hashlib.sha256(data).hexdigest()
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        return final(self._http.request("POST", f"/api/v1/models/{model}/versions", json=body, headers=headers))

    # --- raw rows ------------------------------------------------------------------------------------

    def query_window(self, model: str, version: int, first: str, last: str,
                     filters: dict[str, list[str]] | None = None) -> dict[str, Any]:  # fmt: skip
        """Metrics of the days `first`..`last` (YYYY-MM-DD) of a version's raw rows, filtered on several cohort
        fields at once (`{"platform": ["ios"], "region": ["EU", "NA"]}`); needs the monitoring:read scope."""
        body = {"model": model, "version": version, "first": first, "last": last, "filters": filters or {}}
        return final(self._http.request("POST", "/api/v1/monitoring/query", json=body))

    def export_window(self, model: str, version: int, first: str, last: str,
                      filters: dict[str, list[str]] | None = None, fmt: str = "parquet") -> bytes:  # fmt: skip
        """The same window's raw rows as Parquet (or "csv") bytes; needs the raw:export scope."""
        body = {"model": model, "version": version, "first": first, "last": last, "filters": filters or {},
                "format": fmt}  # fmt: skip
        r = self._http.request("POST", "/api/v1/monitoring/export", json=body)
        if r.status_code != 200:
            final(r)  # raises the API's message
        return r.content

    def health(self) -> dict[str, Any]:
        return final(self._http.request("GET", "/api/v1/health", retries=0))

    # --- background sender -----------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Background mode: wait until everything logged is accepted by Loopdeck (False on timeout)."""
        return True if self._spool is None else self._spool.flush(timeout)

    @property
    def pending_files(self) -> int:
        return 0 if self._spool is None else len(self._spool.pending_files())

    @property
    def dropped_rows(self) -> int:
        return 0 if self._spool is None else self._spool.dropped_rows

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued to the spool, try to send it within `timeout`, stop; unsent files stay spooled."""
        if self._spool is not None:
            spool, self._spool = self._spool, None
            spool.flush(timeout)
            self._http.stop.set()
            spool.close(timeout)
        self._http.close()

    def __enter__(self) -> Loopdeck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
