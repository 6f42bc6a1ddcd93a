"""Rows that arrive over the API: the same import as a file (services.ingest.import_frame: same
validation, same idempotency on natural ids, all or nothing, audited), with the API's limits and the
token's scope and model restriction checked first.

Rows are numbered by record, 1-based, in every format: row 1 is `rows[0]` of a JSON body, the first
data line of a CSV body, the first record of a Parquet body.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput, PermissionDenied
from services.core.roles import Actor
from services.core.schema_ingest import Prediction
from services.core.schema_models import ModelVersion
from services.core.tokens import TokenActor, require_scope
from services.ingest import readers
from services.ingest.kinds import KINDS
from services.ingest.problems import ImportRejected, ImportResult, Problem
from services.ingest.service import import_frame

MAX_ROWS = 10_000
MAX_BYTES = 16 * 1024 * 1024
_SCALARS = (str, int, float, bool, type(None))
_LOOKUP_CHUNK = 900


class TooLarge(InvalidInput):
    """The request exceeds MAX_ROWS or MAX_BYTES (the API answers 413)."""


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"Unknown kind {kind!r}; expected one of: {', '.join(KINDS)}.")
    return kind


def _check_rows(rows: list[Any], source: str) -> None:
    if len(rows) > MAX_ROWS:
        raise TooLarge(f"{len(rows):,} rows in one request; the limit is {MAX_ROWS:,}: split the batch.")
    bad = [i for i, row in enumerate(rows, start=1) if type(row) is not dict]
    if bad:
        problems = [Problem(source, i, None, "a row must be a JSON object") for i in bad[:20]]
        raise ImportRejected(problems, len(bad))


def _check_values(frame: pd.DataFrame, source: str) -> None:
    """Values are scalars: a nested object or list in a cell is refused (numeric columns need no look)."""
    problems: list[Problem] = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object:
            continue
        for i, value in enumerate(column.to_numpy(), start=1):
            if not isinstance(value, _SCALARS):
                problems.append(Problem(source, i, str(name), "a value must be a string, number, boolean or null"))
                break
    if problems:
        raise ImportRejected(problems, len(problems))


def frame_from_rows(rows: Any, source: str) -> pd.DataFrame:
    """A JSON body's rows as the DataFrame an import reads; ImportRejected saying which row is wrong."""
    if not isinstance(rows, list):
        raise ImportRejected([Problem(source, None, "rows", "'rows' must be a list of objects")], 1)
    if not rows:
        raise ImportRejected([Problem(source, None, "rows", "'rows' is empty")], 1)
    _check_rows(rows, source)
    frame = pd.DataFrame.from_records(rows)
    _check_values(frame, source)
    return frame


def frame_from_bytes(data: bytes, source: str) -> pd.DataFrame:
    """A CSV or Parquet body (recognised by content, as for files) as a DataFrame."""
    if len(data) > MAX_BYTES:
        raise TooLarge(f"The body has {len(data):,} bytes; the limit is {MAX_BYTES:,} (16 MB): split the batch.")
    loaded = readers.load(data, source)
    if len(loaded.frame) > MAX_ROWS:
        raise TooLarge(f"{len(loaded.frame):,} rows in one request; the limit is {MAX_ROWS:,}: split the batch.")
    return loaded.frame


def ingest(engine: Engine, actor: Actor, kind: str, frame: pd.DataFrame, source: str) -> ImportResult:
    """Import one request's rows as `actor` (a token needs the ingest scope and, when limited to models,
    may only write rows of those models). ImportRejected lists the problems; nothing is written then."""
    kind = _kind(kind)
    require_scope(actor, "ingest")
    if len(frame) > MAX_ROWS:
        raise TooLarge(f"{len(frame):,} rows in one request; the limit is {MAX_ROWS:,}: split the batch.")
    if isinstance(actor, TokenActor) and actor.models is not None:
        require_scope(actor, "ingest", _models_of(engine, kind, frame, actor))
    return import_frame(engine, actor, kind, frame, source)


def _models_of(engine: Engine, kind: str, frame: pd.DataFrame, actor: TokenActor) -> set[str]:
    """The models a batch writes to, for a token limited to some models."""
    if kind == "predictions":
        if "model_name" not in frame.columns:
            return set()  # the import rejects the batch for the missing column
        return {str(m) for m in pd.unique(frame["model_name"].dropna())}
    if kind in ("exposures", "metrics"):
        raise PermissionDenied(f"{actor.label} is limited to models; {kind} belong to experiments, not to a model.")
    ids = frame["request_id"] if "request_id" in frame.columns else pd.Series([], dtype=object)
    if kind == "feedback" and ids.isna().any():
        raise PermissionDenied(f"{actor.label} is limited to models; feedback without a request_id has no model.")
    return _models_of_requests(engine, [str(i) for i in pd.unique(ids.dropna())])


def _models_of_requests(engine: Engine, request_ids: Iterable[str]) -> set[str]:
    ids = list(request_ids)
    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            query = (
                sa.select(ModelVersion.model_name)
                .join(Prediction, Prediction.model_version_id == ModelVersion.id)
                .where(Prediction.request_id.in_(chunk))  # type: ignore[attr-defined]
                .distinct()
            )
            found.update(conn.execute(query).scalars())
    return found


def result_dict(result: ImportResult) -> dict[str, Any]:
    """The API's answer for an accepted batch (plain JSON values)."""
    return {
        "kind": result.kind,
        "rows": result.rows,
        "new": result.new,
        "known": result.known,
        "redactions": result.redactions,
        "import_id": result.import_id,
        "sha256": result.sha256,
        "seconds": round(result.seconds, 4),
        "alerts_opened": list(result.alerts_opened),
        "alerts_error": result.alerts_error,
    }
