"""Retraining: a candidate version from a base version, a training window and a feedback dataset.

What a run does (the page and `python -m services retrain` call `retrain`; an approved retrain request
runs through the governance executor, services/models/requests.py):

1. Loads the base version's pipeline (its checksum verified) and clones it with
   `sklearn.base.clone`: the same family, preprocessing and parameters, unfitted. Every
   `random_state` in the pipeline is set to the run's seed.
2. Training rows: labelled predictions in [train_from, train_to) and the feedback dataset's corrected
   labels (services/models/training_data.py).
3. Rows are put in request-id order, split 80/20 (stratified, seeded) into training and validation
   rows, and the clone is fitted on one thread (services/models/fitting.py).
4. Metrics on the validation rows (accuracy, ROC AUC, log loss, Brier; overall and per cohort) go
   into the version and its model card; lineage (window, dataset id/version/checksum, row counts,
   seed, base) into training_data; parent = the base; trigger = manual, schedule or alert:<id>.
   The version is registered as a candidate; when the run executes an approved retrain request,
   the request is marked executed in the same transaction (the executor's).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func as sa_func
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core.db import read_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_feedback import TrainingDataset
from services.core.schema_governance import ApprovalRequest
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import Alert
from services.core.timeutil import to_utc, utcnow
from services.governance import approvals, executor
from services.models import registry
from services.models.external_pipeline import ExternalRun
from services.models.fitting import (  # noqa: F401  (re-exported: retraining's public names)
    CARD_METRICS,
    STEPS,
    VALIDATION_SHARE,
    Progress,
    code_versions,
    evaluate,
    fit_with_progress,
    json_params,
    model_card,
    quiet,
    seeded_clone,
)
from services.models.training_data import (  # noqa: F401  (re-exported)
    TrainingSet,
    cohort_frame,
    feature_frame,
    labelled_rows,
    training_set,
)
from services.monitoring import alerts

TRIGGER_PATTERN = re.compile(r"^(manual|schedule|alert:\d+)$")
MIN_ROWS = 50


@dataclass(frozen=True)
class RetrainResult:
    version: ModelVersion
    training: TrainingSet
    metrics: dict[str, Any]
    seconds: dict[str, float]  # load, fit, evaluate, register

    def summary(self) -> str:
        v, t = self.version, self.training
        fb = f", feedback +{t.feedback_added} / {t.feedback_overrides} corrected" if t.dataset else ""
        return (
            f"Registered {v.model_name} v{v.version} (candidate, parent v{self._parent}): {t.rows:,} rows{fb}; "
            f"validation AUC {self.metrics.get('roc_auc')}, accuracy {self.metrics.get('accuracy')}; "
            f"{sum(self.seconds.values()):.1f} s."
        )

    @property
    def _parent(self) -> str:
        return str((self.version.training_data or {}).get("base_version", "?"))


def check_trigger(engine: Engine, trigger: str) -> str:
    trigger = (trigger or "manual").strip()
    if not TRIGGER_PATTERN.match(trigger):
        raise InvalidInput("The trigger is manual, schedule or alert:<alert id>.")
    if trigger.startswith("alert:"):
        with read_session(engine) as session:
            if session.get(Alert, int(trigger.split(":", 1)[1])) is None:
                raise NotFound(f"No alert with id {trigger.split(':', 1)[1]}.")
    return trigger


@dataclass
class Candidate:
    """A fitted candidate, not yet registered: what the run computed and what registering writes."""

    new: registry.NewVersion
    training: TrainingSet
    metrics: dict[str, Any]
    seconds: dict[str, float]
    base: ModelVersion
    report: Progress = quiet
    version: ModelVersion | None = None  # once registered

    def registered(self, seconds: float) -> None:
        """Record the registration's time and report the end of the run."""
        self.seconds["register"] = round(seconds, 2)
        self.report(1.0, f"Registered {self.version.model_name} v{self.version.version} as a candidate.")

    def result(self) -> RetrainResult:
        assert self.version is not None, "registered first"
        return RetrainResult(self.version, self.training, self.metrics, self.seconds)


def _check_window(train_from: datetime, train_to: datetime) -> tuple[datetime, datetime]:
    start, end = to_utc(train_from), to_utc(train_to)
    if start >= end:
        raise InvalidInput("The training window must end after it starts.")
    if end > utcnow():
        raise InvalidInput("The training window cannot end in the future.")
    return start, end


def _load(engine: Engine, base_version_id: int, start: datetime, end: datetime, dataset_id: int | None,
          report: Progress) -> tuple[ModelVersion, Any, TrainingSet]:  # fmt: skip
    base = registry.get_version(engine, base_version_id)
    schema = dict(base.feature_schema or {})
    if not schema:
        raise InvalidInput(f"{base.model_name} v{base.version} has no feature schema to train on.")
    report(0.01, f"Loading {base.model_name} v{base.version} (checksum verified) ...")
    base_model = registry.load_model(engine, base.id)
    report(0.04, "Reading labelled predictions in the window ...")
    data = training_set(engine, base.model_name, schema, start, end, dataset_id)
    if data.rows < MIN_ROWS or len(np.unique(data.labels)) < 2:
        raise InvalidInput(
            f"The window has {data.rows:,} labelled rows{' with both classes' if data.rows else ''}; at least "
            f"{MIN_ROWS} with both outcomes are needed. Choose a longer window or one with known outcomes."
        )
    report(0.2, f"{data.rows:,} labelled rows ({data.outcome_rows:,} outcomes, {data.feedback_added:,} added and "
                f"{data.feedback_overrides:,} corrected by feedback).")  # fmt: skip
    return base, base_model, data


def fit_candidate(
    engine: Engine,
    actor: Actor,
    base_version_id: int,
    train_from: datetime,
    train_to: datetime,
    dataset_id: int | None = None,
    *,
    seed: int = 0,
    trigger: str = "manual",
    progress: Progress | None = None,
    approval_request_id: int | None = None,
    comment: str = "",
) -> Candidate:
    """Steps 1-4 of the module docstring short of registering: the candidate, ready to be written."""
    require(actor, Role.analyst, "retrain models")
    report = progress or quiet
    trigger = check_trigger(engine, trigger)
    start, end = _check_window(train_from, train_to)
    t0 = time.perf_counter()
    base, base_model, data = _load(engine, base_version_id, start, end, dataset_id, report)
    seconds = {"load": round(time.perf_counter() - t0, 2)}
    idx = np.arange(data.rows)
    from sklearn.model_selection import train_test_split  # lazily: see services/models/fitting.py

    train_idx, val_idx = train_test_split(
        idx, test_size=VALIDATION_SHARE, stratify=data.labels, random_state=int(seed) % (2**32)
    )
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    candidate = seeded_clone(base_model, seed)
    t1 = time.perf_counter()
    fit_with_progress(
        candidate, data.features.iloc[train_idx], data.labels[train_idx],
        lambda f, m: report(0.2 + 0.7 * min(max(f, 0.0), 1.0), m),
    )  # fmt: skip
    seconds["fit"] = round(time.perf_counter() - t1, 2)
    report(0.92, f"Evaluating on {len(val_idx):,} validation rows ...")
    t2 = time.perf_counter()
    metrics = evaluate(candidate, data.features.iloc[val_idx], data.labels[val_idx], data.cohorts.iloc[val_idx])
    seconds["evaluate"] = round(time.perf_counter() - t2, 2)
    training_data = {
        "window_start": start.isoformat(), "window_end": end.isoformat(), "window_end_exclusive": True,
        "rows": int(len(train_idx)), "validation_rows": int(len(val_idx)), "outcome_rows": data.outcome_rows,
        "feedback_dataset": data.dataset, "labels_known_by": utcnow().isoformat(),
        "positive_rate": _round(float(np.mean(data.labels))), "seed": int(seed), "base_version": base.version,
        "base_version_id": base.id, "approval_request_id": approval_request_id, "code": code_versions(),
    }  # fmt: skip
    card = model_card(base, candidate, training_data, metrics, data, comment)
    report(0.96, "Registering the candidate (skops, checksum) ...")
    new = registry.new_version(
        base.model_name, candidate, feature_schema=dict(base.feature_schema or {}),
        params=json_params(candidate, seed, base), metrics=metrics, training_data=training_data, model_card=card,
        parent_id=base.id, trigger=trigger,
    )  # fmt: skip
    return Candidate(new, data, metrics, seconds, base, report)


def _round(value: float) -> float | None:
    return round(float(value), 4) if value is not None and np.isfinite(value) else None


def retrain(
    engine: Engine,
    actor: Actor,
    base_version_id: int,
    train_from: datetime,
    train_to: datetime,
    dataset_id: int | None = None,
    *,
    seed: int = 0,
    trigger: str = "manual",
    progress: Progress | None = None,
    comment: str = "",
) -> RetrainResult:
    """Fit a candidate from `base_version_id` on the window and dataset; register it (see module doc).
    An approved retrain request runs through the governance executor instead (retrain_from_request)."""
    report = progress or quiet
    c = fit_candidate(engine, actor, base_version_id, train_from, train_to, dataset_id, seed=seed, trigger=trigger,
                      progress=report, comment=comment)  # fmt: skip
    t3 = time.perf_counter()
    c.version = registry.register_prepared(engine, actor, c.new)
    c.registered(time.perf_counter() - t3)
    return c.result()


def retrain_from_request(
    engine: Engine, actor: Actor, request_id: int, progress: Progress | None = None
) -> RetrainResult | ExternalRun:
    """Run an approved retrain request through the governance executor (the request is marked executed
    with the registration, in one transaction): what the Approvals page and the shell start. For a model
    that trains in an external pipeline, the ExternalRun that queued the pipeline's webhook."""
    kind = approvals.get_request(engine, request_id).request.kind
    if kind != "retrain":
        raise InvalidInput(f"Request #{request_id} is a {kind} request, not a retrain request.")
    prepared = executor.execute(engine, actor, request_id, progress=progress).prepared
    return prepared if isinstance(prepared, ExternalRun) else prepared.result()


def request_retrain(
    engine: Engine,
    actor: Actor,
    base_version_id: int,
    train_from: datetime,
    train_to: datetime,
    dataset_id: int | None = None,
    *,
    seed: int = 0,
    trigger: str = "manual",
    comment: str = "",
    evidence: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Ask for a retraining run (an approval request of kind "retrain" on the model): what
    `retrain_from_request` runs once approved. A run triggered by an alert carries the alert (its
    rule, value, window and evidence, as it is now) as the evidence snapshot unless one is given."""
    require(actor, Role.analyst, "request retraining")
    trigger = check_trigger(engine, trigger)
    start, end = to_utc(train_from), to_utc(train_to)
    if start >= end:
        raise InvalidInput("The training window must end after it starts.")
    base = registry.get_version(engine, base_version_id)
    if dataset_id is not None:
        with read_session(engine) as session:
            if session.get(TrainingDataset, dataset_id) is None:
                raise NotFound(f"No training set with id {dataset_id}.")
    if evidence is None and trigger.startswith("alert:"):
        evidence = alert_evidence(engine, int(trigger.split(":", 1)[1]))
    payload = {
        "base_version_id": base.id, "base_version": base.version, "train_from": start.isoformat(),
        "train_to": end.isoformat(), "dataset_id": dataset_id, "seed": int(seed), "trigger": trigger,
    }  # fmt: skip
    return approvals.request_change(engine, actor, "retrain", base.model_name, comment, payload, evidence)


def alert_evidence(engine: Engine, alert_id: int) -> dict[str, Any]:
    """An alert as an evidence snapshot (through services.monitoring.alerts' public reader)."""
    view = alerts.get_alert(engine, alert_id)
    a = view.alert
    return json.loads(json.dumps({
        "kind": "alert", "alert_id": a.id, "state": a.state, "rule": view.rule.name, "metric": view.rule.metric,
        "summary": view.summary, "value": a.value, "opened_at": to_utc(a.opened_at).isoformat(),
        "evidence": a.evidence or {},
    }, default=str))  # fmt: skip


@dataclass(frozen=True)
class WindowSuggestion:
    train_from: datetime | None
    train_to: datetime | None
    first_prediction: datetime | None
    last_labelled: datetime | None


def suggest_window(engine: Engine, model_name: str, holdout_days: int = 14) -> WindowSuggestion:
    """A default window: from the first prediction to `holdout_days` before the last prediction with
    a known outcome, which leaves a labelled holdout after it for the judge."""
    p, o, mv = Prediction.__table__.c, Outcome.__table__.c, ModelVersion.__table__.c
    versions = select(mv.id).where(mv.model_name == model_name)
    with read_session(engine) as session:
        first = session.exec(select(sa_func.min(p.ts)).where(p.model_version_id.in_(versions))).one()
        last = session.exec(
            select(sa_func.max(p.ts))
            .join(Outcome, o.request_id == p.request_id)
            .where(p.model_version_id.in_(versions))
        ).one()
    if first is None or last is None:
        return WindowSuggestion(None, None, first, last)
    start = to_utc(first).replace(hour=0, minute=0, second=0, microsecond=0)
    end = to_utc(last).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=holdout_days)
    return WindowSuggestion(start, max(end, start + timedelta(days=1)), to_utc(first), to_utc(last))
