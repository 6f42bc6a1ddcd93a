"""Erasing one request id at a data subject's request: its prediction and outcome rows (database tables
and the raw store's Parquet files), its shadow scores, remembered API answers naming it, its feedback
items (with their text, rating, labels and triage edits), its rows in the monitoring day blocks and day
summaries (removed in place, as the summaries count it: labelled only if its outcome was folded; no
rebuild), and it is excluded from future training sets (erased_request
keeps only its SHA-256).

Admins only, or an API token with the `erase` scope (an admin's delegation; never limited to models).
One transaction holds every database change and the audit event, which says what was
removed (counts, never the data) and which already-frozen training sets contain it: those are immutable
(database triggers), so their item rows keep the request id and the label, and the feedback item they
point at is emptied (text, rating, links) instead of deleted. The transaction first locks the summaries'
watermark row (services/monitoring/summary_fold.py), so no refresh folds the request meanwhile; the raw
store's files are rewritten under that lock, before the commit (files cannot roll back; erasing again is
harmless). An erased request id is refused when imported again (services/ingest/validate.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import write_session
from services.core.errors import InvalidInput, PermissionDenied
from services.core.roles import Actor, Role, require
from services.core.schema_feedback import Feedback, TrainingDataset, TrainingDatasetItem
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion, ShadowScore
from services.core.schema_monitoring import MonitoringSync
from services.core.schema_retention import ErasedRequest
from services.core.timeutil import to_utc, utcnow
from services.core.tokens import TokenActor, require_scope
from services.core.tokens_schema import ApiIdempotency
from services.monitoring import block_erase, raw_store, summary_fold, summary_rows, summary_store


def request_hash(request_id: str) -> str:
    return hashlib.sha256(request_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ErasureResult:
    request_hash: str
    predictions: int = 0
    outcomes: int = 0
    shadow_scores: int = 0
    feedback_deleted: int = 0
    feedback_emptied: int = 0  # held by a frozen training set: emptied, not deleted
    block_rows: int = 0
    summary_rows: int = 0
    raw_rows: int = 0
    raw_files: int = 0
    training_sets: list[dict] = field(default_factory=list)  # frozen sets holding it: id, name, version
    api_answers: int = 0  # remembered Idempotency-Key answers that named it

    def summary(self) -> str:
        sets = ", ".join(f"{s['name']} v{s['version']}" for s in self.training_sets) or "none"
        return (f"Erased: {self.predictions} prediction(s), {self.outcomes} outcome(s), {self.feedback_deleted} "
                f"feedback item(s) deleted and {self.feedback_emptied} emptied, {self.raw_rows} raw-store row(s), "
                f"{self.block_rows} monitoring row(s). Frozen training sets holding it: {sets}.")  # fmt: skip


def _require_erase(actor: Actor) -> None:
    if not isinstance(actor, TokenActor):
        require(actor, Role.admin, "erase a request's data")
        return
    require_scope(actor, "erase")
    if actor.models is not None:
        raise PermissionDenied(f"{actor.label} is limited to models; erasure reaches every model's data.")


def _check(request_id: str, reason: str) -> tuple[str, str]:
    request_id, reason = (request_id or "").strip(), (reason or "").strip()
    if not request_id or len(request_id) > 200:
        raise InvalidInput("Give the request id to erase (1 to 200 characters).")
    if not reason or len(reason) > 2000:
        raise InvalidInput("Give the reason for the erasure (1 to 2000 characters), e.g. the ticket of the request.")
    return request_id, reason


def _prediction(session, request_id: str):
    return session.exec(
        select(Prediction, ModelVersion.model_name, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == Prediction.model_version_id)
        .where(Prediction.request_id == request_id)
    ).first()


def _erase_raw(store: raw_store.RawStore, request_id: str, found) -> raw_store.EraseResult:
    """From the prediction's version's files; from every version's when the database no longer has it."""
    if found is not None and raw_store.NAME.match(found[1]):
        return raw_store.erase(store, found[1], found[2], [request_id])
    rows = files = 0
    for model, version in raw_store.versions(store):
        done = raw_store.erase(store, model, version, [request_id])
        rows, files = rows + done.rows_removed, files + done.files_rewritten
    return raw_store.EraseResult(rows, files)


def _summary_rows(session, prediction: Prediction, outcomes_upto: int) -> pd.DataFrame:
    """The prediction as its version's day summary holds it: its fields under the version's column names,
    labelled only when its outcome was folded too (outcome id <= the summaries' outcome watermark)."""
    rows = summary_rows.by_ids(session, [prediction.id], outcomes_upto)
    info = summary_rows.versions(session, [prediction.model_version_id])[prediction.model_version_id]
    return summary_rows.fold_frame(summary_rows.typed(rows, np.arange(len(rows)), info), info)


def _feedback(session, request_id: str) -> tuple[int, int, list[dict]]:
    """Deletes the request's feedback items, or empties those a frozen training set holds."""
    ids = list(session.exec(select(Feedback.id).where(Feedback.request_id == request_id)).all())
    frozen = session.exec(
        select(TrainingDataset.id, TrainingDataset.name, TrainingDataset.version, TrainingDatasetItem.feedback_id)
        .join(TrainingDatasetItem, TrainingDatasetItem.dataset_id == TrainingDataset.id)
        .where(sa.or_(TrainingDatasetItem.request_id == request_id, TrainingDatasetItem.feedback_id.in_(ids or [-1])))
    ).all()  # fmt: skip
    held = {r.feedback_id for r in frozen}
    emptied = [i for i in ids if i in held]
    if emptied:
        session.execute(sa.update(Feedback).where(Feedback.id.in_(emptied)).values(
            request_id=None, text="", redactions=0, rating=None, source="", category=None, assignee_id=None,
            theme_id=None, duplicate_group=None, status="dismissed", updated_at=utcnow(), updated_by="erasure",
        ))  # fmt: skip
    deleted = [i for i in ids if i not in held]
    if deleted:
        session.execute(sa.delete(Feedback).where(Feedback.id.in_(deleted)))
    sets = {(r.id, r.name, r.version) for r in frozen}
    return len(deleted), len(emptied), [{"id": i, "name": n, "version": v} for i, n, v in sorted(sets)]


def _lower_watermark(session) -> None:
    """The monitoring watermarks (blocks, summaries) never stay above the highest ids left: when the erased
    rows were the newest, SQLite gives their ids to the next rows, which the incremental refresh would
    otherwise skip."""
    top_p = session.execute(sa.select(sa.func.max(Prediction.id))).scalar() or 0
    top_o = session.execute(sa.select(sa.func.max(Outcome.id))).scalar() or 0
    s = MonitoringSync
    session.execute(sa.update(s).where(s.id == 1).values(
        last_prediction_id=sa.case((s.last_prediction_id > top_p, top_p), else_=s.last_prediction_id),
        last_outcome_id=sa.case((s.last_outcome_id > top_o, top_o), else_=s.last_outcome_id),
        summary_prediction_id=sa.case((s.summary_prediction_id > top_p, top_p), else_=s.summary_prediction_id),
        summary_outcome_id=sa.case((s.summary_outcome_id > top_o, top_o), else_=s.summary_outcome_id),
    ))  # fmt: skip


def erase_request(
    engine: Engine, actor: Actor, request_id: str, reason: str, raw_root: raw_store.Location | None = None
) -> ErasureResult:
    """Erase every trace of one request id (admins or an `erase` token; one audited transaction, see the module)."""
    _require_erase(actor)
    request_id, reason = _check(request_id, reason)
    digest = request_hash(request_id)
    root = raw_store.open_store(raw_root) if raw_root is not None else raw_store.root_for(engine)
    block_rows = summary_rows_erased = 0
    with write_session(engine) as session:
        # The summaries' watermark row, locked: no refresh step folds (or writes raw files) meanwhile.
        folded_p, folded_o = summary_fold.lock(session)
        found = _prediction(session, request_id)
        # Files cannot roll back: rewritten inside the transaction, before it commits (erasing again is harmless).
        raw = _erase_raw(root, request_id, found) if root is not None else raw_store.EraseResult(0, 0)
        if found is not None:
            prediction = found[0]
            day = to_utc(prediction.ts).date()
            block_rows = block_erase.erase_rows(session, prediction.model_version_id, [day], [prediction.id])
            if prediction.id <= folded_p:  # folded into the day summaries: it leaves them as it is counted there
                frame = _summary_rows(session, prediction, folded_o)
                summary_rows_erased = summary_store.erase_in(session, prediction.model_version_id, frame)
        deleted, emptied, sets = _feedback(session, request_id)
        shadow = session.execute(sa.delete(ShadowScore).where(ShadowScore.request_id == request_id)).rowcount
        answers = session.execute(sa.delete(ApiIdempotency).where(  # remembered API answers (kept 24 h) naming it
            sa.cast(ApiIdempotency.response, sa.Text).contains(request_id, autoescape=True))).rowcount  # fmt: skip
        outcomes = session.execute(sa.delete(Outcome).where(Outcome.request_id == request_id)).rowcount
        predictions = session.execute(sa.delete(Prediction).where(Prediction.request_id == request_id)).rowcount
        _lower_watermark(session)
        if session.get(ErasedRequest, digest) is None:
            session.add(ErasedRequest(request_hash=digest, erased_by=actor.label))
        result = ErasureResult(digest, int(predictions or 0), int(outcomes or 0), int(shadow or 0), deleted, emptied,
                               block_rows, summary_rows_erased, raw.rows_removed, raw.files_rewritten, sets,
                               int(answers or 0))  # fmt: skip
        payload = {k: v for k, v in asdict(result).items() if k != "request_hash"}
        audit.record(session, actor, "request.erase", "request", digest, {"reason": reason, **payload})
    return result
