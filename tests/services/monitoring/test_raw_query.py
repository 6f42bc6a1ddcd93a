"""Raw-row queries by DuckDB (local folder and S3): a window filtered on two cohort fields at once gives
the counts, accuracy, precision, recall, F1 and mean score pandas computes on the same rows, and sklearn's
ROC AUC; unknown outcomes (nulls, and a NaN an older writer left) are not counted as labelled; an export
holds exactly the filtered rows, is capped with a clear message, and is audited."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

from data import scale_gen as sg
from services.core.errors import InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_accounts import AuditEvent
from services.core.tokens import TokenActor
from services.monitoring import raw_query, raw_store
from tests.services.factories import model_version

SPEC = sg.ScaleSpec(3_000, days=4)
VIEWER = Actor("viewer@test.io", Role.viewer)
ANALYST = Actor("analyst@test.io", Role.analyst)
FILTERS = {"platform": "ios", "region": ["EU", "NA"]}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Four days; a third of the outcomes unknown; scores rounded to 2 decimals so that ties occur."""
    frame = pd.concat([f for _, f in sg.iter_days(SPEC)], ignore_index=True).drop(columns=["outcome_ts"])
    rng = np.random.default_rng(7)
    frame["label"] = np.where(rng.random(len(frame)) < 1 / 3, np.nan, (rng.random(len(frame)) < frame["score"]) * 1.0)
    frame["score"] = frame["score"].round(2)
    return frame


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, rows) -> raw_store.RawStore:
    location = str(tmp_path) if request.param == "local" else request.getfixturevalue("s3_location")
    store = raw_store.open_store(location)
    half = len(rows) // 2
    raw_store.append(store, "churn", 1, rows.iloc[:half])
    raw_store.append(store, "churn", 1, rows.iloc[half:])
    return store


def _expected(frame: pd.DataFrame) -> dict:
    known = frame[frame["label"].notna()]
    y, p = known["label"].astype(int), known["predicted_label"].astype(int)
    tp, fp = int(((y == 1) & (p == 1)).sum()), int(((y == 0) & (p == 1)).sum())
    tn, fn = int(((y == 0) & (p == 0)).sum()), int(((y == 1) & (p == 0)).sum())
    return {"rows": len(frame), "labelled": len(known), "positives": int(y.sum()),
            "predicted_positive": int((frame["predicted_label"] == 1).sum()), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "accuracy": (tp + tn) / len(known), "precision": tp / (tp + fp), "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn), "mean_score": frame["score"].mean(),
            "roc_auc": roc_auc_score(y, known["score"])}  # fmt: skip


def test_metrics_of_two_cohort_fields_at_once_equal_pandas(store, rows):
    first, last = SPEC.day_date(1), SPEC.day_date(2)
    got = raw_query.window_metrics(VIEWER, "churn", 1, first, last, FILTERS, store=store)
    days = rows["ts"].dt.date
    window = rows[(days >= first) & (days <= last) & (rows["platform"] == "ios") & rows["region"].isin(["EU", "NA"])]
    assert 100 < len(window) < len(rows) // 4
    for name, value in _expected(window).items():
        assert getattr(got, name) == pytest.approx(value, rel=1e-12), name
    assert (
        got.filters == {"platform": ("ios",), "region": ("EU", "NA")} and got.files == 3
    )  # the second import starts inside day 1


def test_a_nan_label_is_unknown_and_an_empty_window_has_no_ratios(tmp_path, rows):
    day = rows.iloc[:50].copy()
    store = raw_store.open_store(tmp_path)
    raw_store.append(store, "churn", 1, day)
    path = raw_store.parts(store, "churn", 1, SPEC.day_date(0))[0]
    table = pq.read_table(path)
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label",
                                    pq.read_table(path).column("label").fill_null(np.nan)), path)  # fmt: skip
    got = raw_query.window_metrics(VIEWER, "churn", 1, SPEC.day_date(0), SPEC.day_date(0), store=store)
    assert got.rows == 50 and got.labelled == int(day["label"].notna().sum())
    empty = raw_query.window_metrics(VIEWER, "churn", 1, SPEC.day_date(3), SPEC.day_date(3), store=store)
    assert empty.rows == 0 and empty.accuracy is None and empty.roc_auc is None


def test_export_holds_the_filtered_rows_and_is_audited(engine, store, rows):
    model_version(engine, "churn", 1)
    first, last = SPEC.day_date(0), SPEC.day_date(3)
    days = rows["ts"].dt.date
    want = rows[(days >= first) & (days <= last) & (rows["platform"] == "ios") & rows["region"].isin(["EU", "NA"])]
    parquet = raw_query.export_window(engine, ANALYST, "churn", 1, first, last, FILTERS, store=store)
    got = pq.read_table(io.BytesIO(parquet.data)).to_pandas()
    assert parquet.rows == len(want) and parquet.filename == f"churn-v1-{first}-{last}.parquet"
    assert list(got["request_id"]) == list(want.sort_values(["ts", "request_id"])["request_id"])
    assert got["label"].isna().sum() == want["label"].isna().sum()
    csv = raw_query.export_window(engine, ANALYST, "churn", 1, first, last, FILTERS, fmt="csv", store=store)
    assert pd.read_csv(io.BytesIO(csv.data))["request_id"].tolist() == got["request_id"].tolist()
    with pytest.raises(InvalidInput, match=f"{len(want):,} rows match, over the export cap of 100"):
        raw_query.export_window(engine, ANALYST, "churn", 1, first, last, FILTERS, max_rows=100, store=store)
    with engine.connect() as conn:
        events = conn.execute(sa.select(AuditEvent.action, AuditEvent.payload)
                              .where(AuditEvent.action == "raw.export")).all()  # fmt: skip
    assert [json.loads(e.payload)["rows"] for e in events] == [len(want), len(want)]


def test_bad_input_and_roles(engine, tmp_path):
    model_version(engine, "churn", 1)
    day = SPEC.day_date(0)
    cases = [
        (dict(model_name="../x", version=1, first=day, last=day), "Model name"),
        (dict(model_name="churn", version=1, first=day, last=day - timedelta(days=1)), "before it starts"),
        (dict(model_name="churn", version=1, first=day, last=day + timedelta(days=400)), "at most 400 days"),
        (dict(model_name="churn", version=1, first=day, last=day, filters={"platform": []}), "1 to 200 values"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidInput, match=message):
            raw_query.window_metrics(VIEWER, store=tmp_path, **kwargs)
    with pytest.raises(PermissionDenied):
        raw_query.export_window(engine, VIEWER, "churn", 1, day, day, store=tmp_path)
    with pytest.raises(InvalidInput, match="one of parquet, csv"):
        raw_query.export_window(engine, ANALYST, "churn", 1, day, day, fmt="xlsx", store=tmp_path)


def test_an_unknown_filter_field_names_the_columns(store):
    with pytest.raises(InvalidInput, match="Unknown field 'os'.*platform"):
        raw_query.window_metrics(VIEWER, "churn", 1, SPEC.day_date(0), SPEC.day_date(1), {"os": "ios"}, store=store)


def test_with_an_engine_the_version_must_exist_and_its_database_raw_store_is_read(engine, rows, monkeypatch, tmp_path):
    """The API and the page pass their engine: an unknown version is NotFound (not an empty window), and the
    rows come from that database's raw store (here LOOPDECK_RAW_STORE_DIR, as the engine fixture sets it)."""
    model_version(engine, "churn", 1)
    raw_store.append(raw_store.root_for(engine), "churn", 1, rows)
    first, last = SPEC.day_date(0), SPEC.day_date(3)
    got = raw_query.window_metrics(VIEWER, "churn", 1, first, last, FILTERS, engine=engine)
    days = rows["ts"].dt.date
    want = rows[(days >= first) & (days <= last) & (rows["platform"] == "ios") & rows["region"].isin(["EU", "NA"])]
    assert got.rows == len(want) > 0
    for version in (2, 1):
        name = "churn" if version == 2 else "other"
        with pytest.raises(NotFound, match=f"No version {version} of a model named '{name}'"):
            raw_query.window_metrics(VIEWER, name, version, first, last, engine=engine)
        with pytest.raises(NotFound):
            raw_query.export_window(engine, ANALYST, name, version, first, last)


def test_a_token_needs_its_scope_for_the_model(engine, tmp_path):
    model_version(engine, "churn", 1)
    day = SPEC.day_date(0)
    reader = TokenActor("token:r", Role.viewer, scopes=frozenset({"monitoring:read"}), models=frozenset({"churn"}))
    raw_query.window_metrics(reader, "churn", 1, day, day, engine=engine)  # allowed: an empty window
    with pytest.raises(PermissionDenied, match="limited to the models churn"):
        raw_query.window_metrics(reader, "fraud", 1, day, day, engine=engine)
    with pytest.raises(PermissionDenied, match="lacks the 'monitoring:read' scope"):
        raw_query.window_metrics(TokenActor("token:i", Role.analyst, scopes=frozenset({"ingest"})), "churn", 1,
                                 day, day, engine=engine)  # fmt: skip
    exporter = TokenActor("token:e", Role.analyst, scopes=frozenset({"raw:export"}))
    assert raw_query.export_window(engine, exporter, "churn", 1, day, day).rows == 0
    with pytest.raises(PermissionDenied, match="lacks the 'raw:export' scope"):
        raw_query.export_window(engine, TokenActor("token:r2", Role.analyst, scopes=frozenset({"monitoring:read"})),
                                "churn", 1, day, day)  # fmt: skip


def test_a_window_whose_outcomes_have_not_arrived_counts_its_rows_and_has_no_ratios(tmp_path, rows):
    """Every label unknown (the usual state of the newest days): counts are 0, not missing."""
    store = raw_store.open_store(tmp_path)
    raw_store.append(store, "churn", 1, rows.assign(label=np.nan))
    got = raw_query.window_metrics(VIEWER, "churn", 1, SPEC.day_date(0), SPEC.day_date(0), store=store)
    assert got.rows == int((rows["ts"].dt.date == SPEC.day_date(0)).sum()) > 0
    assert (got.labelled, got.positives, got.tp, got.fp, got.tn, got.fn) == (0, 0, 0, 0, 0, 0)
    assert got.predicted_positive > 0 and got.accuracy is None and got.roc_auc is None and got.precision is None
