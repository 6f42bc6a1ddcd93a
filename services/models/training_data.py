"""Training data: labelled predictions of a model (outcomes as labels) and the feedback training set's
corrected labels, as the rows a retraining run fits on. `labelled_rows` is shared with the judge, which
reads its holdout the same way.

Rows: the model's predictions made in [train_from, train_to) whose outcome is known, labelled with the
outcome; then the feedback dataset's corrected labels (an immutable training set version,
services/feedback/training_sets) for predictions in the same window: a corrected label replaces the
outcome of its request, or adds the request when no outcome arrived. Dataset items outside the window
are left out (and counted), so the time after the window stays unseen: the judge's holdout starts there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core.db import read_session
from services.core.errors import NotFound
from services.core.schema_feedback import TrainingDataset
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc
from services.feedback import training_sets


def labelled_rows(
    engine: Engine,
    model_name: str,
    start: datetime | None,
    end: datetime | None,
    *,
    start_inclusive: bool = True,
) -> pd.DataFrame:
    """Predictions of any version of `model_name` with a known outcome and start <= ts < end (or
    start < ts with start_inclusive=False): request_id, ts, label, features (dict), cohorts (dict).

    The JSON columns are read as text and decoded in one pass (per-row decoding is most of the time
    at 200,000 rows)."""
    p, o, mv = Prediction.__table__.c, Outcome.__table__.c, ModelVersion.__table__.c
    query = (
        sa.select(
            p.request_id,
            sa.cast(p.ts, sa.String),
            o.actual_label,
            sa.cast(p.features, sa.Text),
            sa.cast(p.cohorts, sa.Text),
        )  # fmt: skip
        .join(Outcome, o.request_id == p.request_id)
        .join(ModelVersion, mv.id == p.model_version_id)
        .where(mv.model_name == model_name)
    )
    if start is not None:
        query = query.where(p.ts >= to_utc(start) if start_inclusive else p.ts > to_utc(start))
    if end is not None:
        query = query.where(p.ts < to_utc(end))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    request_ids, ts, labels, features, cohorts = zip(*rows, strict=True) if rows else ((), (), (), (), ())
    frame = pd.DataFrame(
        {
            "request_id": pd.Series(request_ids, dtype=object),
            "ts": pd.to_datetime(pd.Series(ts, dtype=object), utc=True, format="ISO8601"),
            "label": np.asarray(labels, dtype=np.int64),
            "features": pd.Series(_decode_all(features), dtype=object),
            "cohorts": pd.Series(_decode_all(cohorts), dtype=object),
        }
    )
    return frame


def _decode_all(texts: tuple) -> list:
    """JSON texts -> Python values, in one json.loads over a JSON array of them."""
    if not texts:
        return []
    return json.loads("[" + ",".join(t if t is not None else "null" for t in texts) + "]")


def feature_frame(features: pd.Series, schema: dict[str, str]) -> pd.DataFrame:
    """The JSON feature dicts as the columns the pipeline was fitted on (schema order)."""
    frame = pd.DataFrame.from_records(
        [f or {} for f in features], columns=list(schema), index=features.index
    )  # missing features: NaN
    for name, kind in schema.items():
        if kind == "numeric":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(np.float64)
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def cohort_frame(cohorts: pd.Series, fields: list[str] | None = None) -> pd.DataFrame:
    records = [c or {} for c in cohorts]
    frame = pd.DataFrame.from_records(records, index=cohorts.index)
    if fields is not None:
        frame = frame.reindex(columns=fields)
    return frame.astype(object).where(frame.notna(), None)


# --- the training set ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSet:
    request_ids: np.ndarray
    features: pd.DataFrame
    labels: np.ndarray
    cohorts: pd.DataFrame
    outcome_rows: int  # rows labelled by their outcome
    feedback_overrides: int  # outcome replaced by the dataset's corrected label (and it differed)
    feedback_confirmed: int  # corrected label equal to the outcome
    feedback_added: int  # rows with no outcome, labelled by the dataset
    feedback_outside_window: int  # dataset items left out: their prediction is outside the window
    dataset: dict[str, Any] | None

    @property
    def rows(self) -> int:
        return int(self.labels.size)


def training_set(
    engine: Engine,
    model_name: str,
    schema: dict[str, str],
    train_from: datetime,
    train_to: datetime,
    dataset_id: int | None = None,
) -> TrainingSet:
    rows = labelled_rows(engine, model_name, train_from, train_to)
    outcome_rows = len(rows)
    overrides = confirmed = added = outside = 0
    dataset_info = None
    if dataset_id is not None:
        with read_session(engine) as session:
            dataset = session.get(TrainingDataset, dataset_id)
        if dataset is None:
            raise NotFound(f"No training set with id {dataset_id}.")
        items = training_sets.dataset_items(engine, dataset_id)
        dataset_info = {
            "id": dataset.id, "name": dataset.name, "version": dataset.version, "sha256": dataset.content_sha256,
            "items": int(dataset.item_count),
        }  # fmt: skip
        if len(items):
            items = items.dropna(subset=["request_id", "ts"])
            items["ts"] = pd.to_datetime(items["ts"], utc=True)
            in_window = (items["ts"] >= pd.Timestamp(to_utc(train_from))) & (
                items["ts"] < pd.Timestamp(to_utc(train_to))
            )
            outside = int((~in_window).sum()) + int(dataset.item_count - len(items))
            # One label per request: the latest labelled item wins.
            items = items[in_window].sort_values(["labelled_at", "feedback_id"], na_position="first")
            items = items.drop_duplicates("request_id", keep="last").set_index("request_id")
            if len(rows):
                known = rows["request_id"].isin(items.index)
                corrected = rows.loc[known, "request_id"].map(items["label"]).astype(np.int64)
                overrides = int((corrected != rows.loc[known, "label"]).sum())
                confirmed = int(known.sum()) - overrides
                rows.loc[known, "label"] = corrected.to_numpy()
            new = items[~items.index.isin(rows["request_id"])]
            model_ids = _version_ids(engine, model_name)
            new = new[new["model_version_id"].isin(model_ids)]
            added = len(new)
            if added:
                extra = pd.DataFrame(
                    {
                        "request_id": new.index.to_numpy(), "ts": new["ts"].to_numpy(),
                        "label": new["label"].astype(np.int64).to_numpy(), "features": new["features"].to_numpy(),
                        "cohorts": new["cohorts"].to_numpy(),
                    }
                )  # fmt: skip
                rows = pd.concat([rows, extra], ignore_index=True)
        dataset_info.update(overrides=overrides, confirmed=confirmed, added=added, outside_window=outside)
    rows = rows.sort_values("request_id", kind="stable", ignore_index=True)  # the same order on every database
    return TrainingSet(
        request_ids=rows["request_id"].to_numpy(dtype=object),
        features=feature_frame(rows["features"], schema),
        labels=rows["label"].to_numpy(dtype=np.int64),
        cohorts=cohort_frame(rows["cohorts"]),
        outcome_rows=outcome_rows,
        feedback_overrides=overrides,
        feedback_confirmed=confirmed,
        feedback_added=added,
        feedback_outside_window=outside,
        dataset=dataset_info,
    )


def _version_ids(engine: Engine, model_name: str) -> list[int]:
    with read_session(engine) as session:
        return list(session.exec(select(ModelVersion.id).where(ModelVersion.model_name == model_name)).all())
