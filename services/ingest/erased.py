"""Erased request ids stay erased: an import (file or API) refuses a prediction, outcome or feedback row
whose request_id was erased at a data subject's request (services/ingest/erasure.py). erased_request keeps
only each id's SHA-256, so the file's ids are hashed and looked up, and only when some id was ever erased
(one index lookup otherwise). The message names the row and the field, never the id."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import sqlalchemy as sa

from services.core.schema_retention import ErasedRequest
from services.ingest.problems import ProblemLog

MESSAGE = ("this request_id was erased at a data subject's request (an audited erasure); it cannot be imported "
           "again")  # fmt: skip
_LOOKUP_CHUNK = 500


def erased_mask(conn: sa.Connection, request_ids: pd.Series, rows: np.ndarray) -> np.ndarray:
    """True at each position of `rows` (a mask) whose request_id is an erased one."""
    out = np.zeros(len(request_ids), dtype=bool)
    if not rows.any() or conn.execute(sa.select(ErasedRequest.request_hash).limit(1)).first() is None:
        return out
    positions = np.flatnonzero(rows)
    hashes = [hashlib.sha256(str(v).encode("utf-8")).hexdigest() for v in request_ids.to_numpy()[positions]]
    unique = sorted(set(hashes))
    found: set[str] = set()
    for start in range(0, len(unique), _LOOKUP_CHUNK):
        chunk = unique[start : start + _LOOKUP_CHUNK]
        found.update(conn.execute(sa.select(ErasedRequest.request_hash)
                                  .where(ErasedRequest.request_hash.in_(chunk))).scalars())  # type: ignore[attr-defined]  # fmt: skip
    if found:
        out[positions[np.fromiter((h in found for h in hashes), dtype=bool, count=len(hashes))]] = True
    return out


def refuse_erased(conn: sa.Connection, request_ids: pd.Series, rows: np.ndarray, log: ProblemLog) -> np.ndarray:
    """Adds a problem for each erased request id among `rows`; returns their mask."""
    mask = erased_mask(conn, request_ids, rows)
    log.add_rows(mask, "request_id", MESSAGE)
    return mask
