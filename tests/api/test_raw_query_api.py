"""POST /api/v1/monitoring/query and /export: a window's raw rows filtered on two cohort fields at once, with the
counts pandas computes on the same rows; the export's rows and headers; scopes and models; clear 4xx answers."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score

from data import scale_gen as sg
from services.monitoring import raw_store

SPEC = sg.ScaleSpec(1_200, days=3)
FIRST, LAST = SPEC.day_date(0).isoformat(), SPEC.day_date(2).isoformat()
FILTERS = {"platform": ["ios"], "region": ["EU", "NA"]}


def _stored(engine) -> pd.DataFrame:
    rows = pd.concat([f for _, f in sg.iter_days(SPEC)], ignore_index=True).drop(columns=["outcome_ts"])
    rng = np.random.default_rng(3)  # a third of the outcomes unknown, the rest drawn from the score
    rows["label"] = np.where(rng.random(len(rows)) < 1 / 3, np.nan, (rng.random(len(rows)) < rows["score"]) * 1.0)
    raw_store.append(raw_store.root_for(engine), "churn", 1, rows)
    return rows[(rows["platform"] == "ios") & rows["region"].isin(["EU", "NA"])]


def test_query_answers_the_filtered_windows_metrics(client, engine, make_token):
    want = _stored(engine)
    auth = make_token("reader", scopes=["monitoring:read"], models=["churn"])
    body = {"model": "churn", "version": 1, "first": FIRST, "last": LAST, "filters": FILTERS}
    r = client.post("/api/v1/monitoring/query", json=body, headers=auth)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["rows"] == len(want) > 0 and got["filters"] == FILTERS
    assert got["labelled"] == int(want["label"].notna().sum())
    assert got["positives"] == int((want["label"] == 1).sum())
    assert abs(got["mean_score"] - want["score"].mean()) < 1e-9
    known = want[want["label"].notna()]
    assert abs(got["roc_auc"] - roc_auc_score(known["label"], known["score"])) < 1e-9


def test_export_is_the_rows_as_a_file(client, engine, make_token):
    want = _stored(engine)
    auth = make_token("exporter", scopes=["raw:export"])
    body = {"model": "churn", "version": 1, "first": FIRST, "last": LAST, "filters": FILTERS}
    r = client.post("/api/v1/monitoring/export", json=body, headers=auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    assert r.headers["x-loopdeck-rows"] == str(len(want))
    assert f'filename="churn-v1-{FIRST}-{LAST}.parquet"' in r.headers["content-disposition"]
    got = pq.read_table(io.BytesIO(r.content)).to_pandas()
    assert sorted(got["request_id"]) == sorted(want["request_id"])
    r = client.post("/api/v1/monitoring/export", json={**body, "format": "csv"}, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert len(pd.read_csv(io.BytesIO(r.content))) == len(want)
    r = client.post("/api/v1/monitoring/export", json={**body, "max_rows": 10}, headers=auth)
    assert r.status_code == 422 and "over the export cap of 10" in r.json()["message"]


def test_scopes_models_and_bad_input_get_clear_answers(client, engine, make_token):
    _stored(engine)
    body = {"model": "churn", "version": 1, "first": FIRST, "last": LAST}
    other = make_token("fraud-only", scopes=["monitoring:read", "raw:export"], models=["fraud"])
    for path in ("/api/v1/monitoring/query", "/api/v1/monitoring/export"):
        r = client.post(path, json=body, headers=other)
        assert r.status_code == 403 and "limited to the models fraud" in r.json()["message"]
    reader = make_token("reader", scopes=["monitoring:read"])
    r = client.post("/api/v1/monitoring/export", json=body, headers=reader)
    assert r.status_code == 403 and "raw:export" in r.json()["message"]
    cases = [
        ({**body, "version": 7}, 404, "No version 7 of a model named 'churn'"),
        ({**body, "last": "2020-01-01"}, 422, "before it starts"),
        ({**body, "filters": {"os": ["ios"]}}, 422, "Unknown field 'os'"),
        ({**body, "first": "yesterday"}, 422, "first"),
    ]
    for payload, status, message in cases:
        r = client.post("/api/v1/monitoring/query", json=payload, headers=reader)
        assert r.status_code == status and message in r.text, (payload, r.text)
    assert client.post("/api/v1/monitoring/query", json=body).status_code == 401
