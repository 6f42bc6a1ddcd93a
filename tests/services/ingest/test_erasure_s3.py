"""Erasure with the raw store on S3-compatible storage (moto's server): the prediction's version's files
when the database still has the prediction, and every version's files when it no longer has it."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from services.ingest import erasure
from services.monitoring import raw_store
from tests.services import factories

START = datetime(2026, 11, 1, tzinfo=UTC)


def _frame(ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"request_id": ids, "ts": pd.to_datetime([START] * len(ids), utc=True),
                         "score": 0.5, "predicted_label": 1, "label": None})  # fmt: skip


def test_erasure_reaches_the_s3_raw_store(engine, admin, s3_location):
    mv = factories.model_version(engine, "churn")
    ids = factories.predictions(engine, mv, 4, start=START)
    store = raw_store.open_store(s3_location)
    raw_store.append(store, "churn", 1, _frame(ids))
    raw_store.append(store, "fraud", 2, _frame(ids[:1]))  # the same id in another model's files
    first = erasure.erase_request(engine, admin, ids[0], "DSR-1", raw_root=s3_location)
    assert (first.predictions, first.raw_rows, first.raw_files) == (1, 1, 1)  # churn v1's files only
    assert raw_store.read_window(store, "fraud", 2, START.date(), START.date())["request_id"].tolist() == ids[:1]
    again = erasure.erase_request(engine, admin, ids[0], "DSR-1, every model", raw_root=s3_location)
    assert (again.predictions, again.raw_rows, again.raw_files) == (0, 1, 1)  # gone from the tables: every version
    assert raw_store.read_window(store, "fraud", 2, START.date(), START.date()).empty
    left = raw_store.read_window(store, "churn", 1, START.date(), START.date())["request_id"].tolist()
    assert sorted(left) == sorted(ids[1:])
