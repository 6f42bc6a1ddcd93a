"""Versioned training sets built from corrected feedback labels. A version never changes once made:
there is no update path, and its content hash lets anyone check that its rows are as created."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_feedback import Feedback, TrainingDataset, TrainingDatasetItem
from services.core.schema_ingest import Prediction
from services.core.schema_retention import ErasedRequest


def _content_hash(rows: list[tuple[int, str | None, int]]) -> str:
    digest = hashlib.sha256()
    for feedback_pk, request_id, label in sorted(rows):
        digest.update(f"{feedback_pk}\x1f{request_id or ''}\x1f{label}\n".encode())
    return digest.hexdigest()


def eligible_count(engine: Engine) -> int:
    """Labelled items with a corrected label that point at a prediction (so they have features)."""
    with read_session(engine) as session:
        return session.exec(select(func.count()).select_from(Feedback).where(*_eligible())).one()


def _eligible():
    return (Feedback.status == "labelled", Feedback.corrected_label.is_not(None), Feedback.request_id.is_not(None))


def create_dataset(
    engine: Engine, actor: Actor, name: str, description: str = "", feedback_pks: list[int] | None = None
) -> TrainingDataset:
    """Snapshot the chosen labelled items (all eligible ones when none are chosen) as the next version."""
    require(actor, Role.analyst, "create training sets")
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("A training set needs a name of 1 to 200 characters.")
    with write_session(engine) as session:
        query = select(
            Feedback.id, Feedback.feedback_id, Feedback.request_id, Feedback.corrected_label, Feedback.status,
            Feedback.label_set_by, Feedback.label_set_at,
        )  # fmt: skip
        if feedback_pks is None:
            query = query.where(*_eligible())
        else:
            query = query.where(Feedback.id.in_(feedback_pks))
        rows = session.exec(query.order_by(Feedback.id)).all()
        erased = _erased(session, [r.request_id for r in rows])
        if feedback_pks is None:  # erased at a data subject's request: never in a new set
            rows = [r for r in rows if r.request_id not in erased]
        else:
            missing = set(feedback_pks) - {r.id for r in rows}
            bad = [f"{r.feedback_id} ({_why_not(r, erased)})" for r in rows if _why_not(r, erased)]
            if missing or bad:
                shown = [f"id {m} (does not exist)" for m in sorted(missing)] + bad
                raise InvalidInput(
                    f"{len(shown)} item(s) cannot go into a training set: {'; '.join(shown[:20])}. Nothing was created."
                )
        if not rows:
            raise InvalidInput("No labelled feedback with a linked prediction yet: label some items first.")
        version = (
            session.exec(select(func.max(TrainingDataset.version)).where(TrainingDataset.name == name)).one() or 0
        ) + 1
        labels = pd.Series([r.corrected_label for r in rows]).value_counts().sort_index()
        dataset = TrainingDataset(
            name=name, version=version, description=description, item_count=len(rows),
            label_counts={str(k): int(v) for k, v in labels.items()}, created_by=actor.label,
            content_sha256=_content_hash([(r.id, r.request_id, r.corrected_label) for r in rows]),
        )  # fmt: skip
        session.add(dataset)
        session.flush()
        session.execute(
            sa.insert(TrainingDatasetItem),
            [
                {"dataset_id": dataset.id, "feedback_id": r.id, "request_id": r.request_id,
                 "label": r.corrected_label, "labelled_by": r.label_set_by, "labelled_at": r.label_set_at}
                for r in rows
            ],
        )  # fmt: skip
        audit.record(
            session, actor, "dataset.create", "training_dataset", dataset.id,
            {"name": name, "version": version, "items": len(rows), "labels": dataset.label_counts,
             "sha256": dataset.content_sha256},
        )  # fmt: skip
        return dataset


def _erased(session, request_ids: list[str | None]) -> set[str]:
    """Which of these request ids were erased (erased_request holds their SHA-256, services/ingest/erasure.py)."""
    by_hash = {hashlib.sha256(r.encode("utf-8")).hexdigest(): r for r in request_ids if r}
    if not by_hash:
        return set()
    found = session.exec(select(ErasedRequest.request_hash).where(ErasedRequest.request_hash.in_(list(by_hash))))
    return {by_hash[h] for h in found.all()}


def _why_not(row, erased: set[str] = frozenset()) -> str:
    if row.request_id in erased:
        return "erased at a data subject's request"
    if row.status != "labelled" or row.corrected_label is None:
        return "not labelled"
    return "" if row.request_id else "no linked prediction"


def list_datasets(engine: Engine) -> list[TrainingDataset]:
    with read_session(engine) as session:
        return list(
            session.exec(select(TrainingDataset).order_by(TrainingDataset.name, TrainingDataset.version.desc())).all()
        )


def dataset_items(engine: Engine, dataset_id: int) -> pd.DataFrame:
    """The labelled rows with their prediction's features and cohorts: what a retraining run reads."""
    with read_session(engine) as session:
        rows = session.exec(
            select(
                TrainingDatasetItem.feedback_id,
                TrainingDatasetItem.request_id,
                TrainingDatasetItem.label,
                TrainingDatasetItem.labelled_by,
                TrainingDatasetItem.labelled_at,
                Prediction.ts,
                Prediction.features,
                Prediction.cohorts,
                Prediction.model_version_id,
            )
            .outerjoin(Prediction, Prediction.request_id == TrainingDatasetItem.request_id)
            .where(TrainingDatasetItem.dataset_id == dataset_id)
            .order_by(TrainingDatasetItem.feedback_id)
        ).all()
    return pd.DataFrame([dict(r._mapping) for r in rows])


@dataclass(frozen=True)
class DatasetCheck:
    intact: bool
    expected: str
    actual: str


def verify_dataset(engine: Engine, dataset_id: int) -> DatasetCheck:
    with read_session(engine) as session:
        dataset = session.get(TrainingDataset, dataset_id)
        if dataset is None:
            raise NotFound(f"No training set with id {dataset_id}.")
        rows = session.exec(
            select(TrainingDatasetItem.feedback_id, TrainingDatasetItem.request_id, TrainingDatasetItem.label).where(
                TrainingDatasetItem.dataset_id == dataset_id
            )
        ).all()
    actual = _content_hash([tuple(r) for r in rows])
    return DatasetCheck(actual == dataset.content_sha256, dataset.content_sha256, actual)
