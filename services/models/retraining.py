"""Retraining: a candidate version from a base version, a training window and a feedback dataset.

What a run does (the page, `python -m services retrain` and an approved retrain request all call
`retrain`):

1. Loads the base version's pipeline (its checksum verified) and clones it with
   `sklearn.base.clone`: the same family, preprocessing and parameters, unfitted. Every
   `random_state` in the pipeline is set to the run's seed.
2. Training rows: the model's predictions made in [train_from, train_to) whose outcome is known,
   labelled with the outcome; then the feedback dataset's corrected labels (an immutable training
   set version, services/training_sets) for predictions in the same window: a corrected label
   replaces the outcome of its request, or adds the request when no outcome arrived. Dataset items
   outside the window are left out (and counted), so the time after the window stays unseen: the
   judge's holdout starts there.
3. Rows are put in request-id order, split 80/20 (stratified, seeded) into training and validation
   rows, and the clone is fitted on one thread: same inputs and seed, same model, on any machine.
   Boosting and forest models are fitted in steps with warm_start (identical to one fit, tested),
   which is what the progress reports; other models report their stages.
4. Metrics on the validation rows (accuracy, ROC AUC, log loss, Brier; overall and per cohort) go
   into the version and its model card; lineage (window, dataset id/version/checksum, row counts,
   seed, base) into training_data; parent = the base; trigger = manual, schedule or alert:<id>.
   The version is registered as a candidate; when the run executes an approved retrain request,
   the request is marked executed in the same transaction.

`labelled_rows` is shared with the judge, which reads its holdout the same way.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sqlalchemy import func as sa_func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from threadpoolctl import threadpool_limits

from services.core.db import read_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_feedback import TrainingDataset
from services.core.schema_governance import ApprovalRequest
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import Alert
from services.core.timeutil import to_utc, utcnow
from services.feedback import training_sets
from services.governance import approvals
from services.models import registry
from services.stats import performance

Progress = Callable[[float, str], None]
TRIGGER_PATTERN = re.compile(r"^(manual|schedule|alert:\d+)$")
VALIDATION_SHARE = 0.2
MIN_ROWS = 50
THRESHOLD = 0.5
CARD_METRICS = ("accuracy", "roc_auc", "log_loss", "brier")
# Estimators fitted in steps (warm_start adds trees/iterations; the result equals one fit).
STAGED = {
    "HistGradientBoostingClassifier": "max_iter",
    "GradientBoostingClassifier": "n_estimators",
    "RandomForestClassifier": "n_estimators",
    "ExtraTreesClassifier": "n_estimators",
}
STEPS = 10


def _quiet(fraction: float, message: str) -> None:
    return None


# --- reading labelled rows -------------------------------------------------------------------------


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


# --- fitting -------------------------------------------------------------------------------------


def seeded_clone(estimator: Any, seed: int) -> Any:
    """An unfitted copy with the same parameters; every random_state set to `seed`."""
    fresh = clone(estimator)
    seeds = {k: int(seed) for k in fresh.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")}
    if seeds:
        fresh.set_params(**seeds)
    return fresh


def _final_step(estimator: Any) -> Any:
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _staged_parameter(clf: Any) -> str | None:
    name = STAGED.get(type(clf).__name__)
    if name is None or not hasattr(clf, "warm_start"):
        return None
    if name == "max_iter" and getattr(clf, "early_stopping", False) not in (False,):
        return None  # early stopping ("auto" or True) decides the iterations itself
    return name


def fit_with_progress(estimator: Any, x: pd.DataFrame, y: np.ndarray, progress: Progress = _quiet) -> Any:
    """Fit on one thread (deterministic), reporting progress from 0 to 1."""
    clf = _final_step(estimator)
    staged = _staged_parameter(clf)
    with threadpool_limits(limits=1):
        if staged is None:
            progress(0.0, f"Fitting {type(clf).__name__} ({len(y):,} rows) ...")
            estimator.fit(x, y)
            progress(1.0, f"Fitted {type(clf).__name__}.")
            return estimator
        total = int(getattr(clf, staged))
        if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
            prep = Pipeline(estimator.steps[:-1])
            progress(0.0, "Fitting the preprocessing ...")
            xt = prep.fit_transform(x, y)
        else:
            xt = x
        warm = clf.get_params()["warm_start"]
        clf.set_params(warm_start=True)
        stops = sorted({max(1, round(total * k / STEPS)) for k in range(1, STEPS + 1)})
        for stop in stops:
            clf.set_params(**{staged: stop})
            clf.fit(xt, y)
            progress(stop / total, f"{type(clf).__name__}: {stop} of {total} {staged.replace('_', ' ')}")
        clf.set_params(warm_start=warm)
    return estimator


def evaluate(
    estimator: Any, x: pd.DataFrame, y: np.ndarray, cohorts: pd.DataFrame | None, min_rows: int = 30
) -> dict[str, Any]:
    """Metrics on held-out rows: overall and per value of each cohort field (exact, no resampling)."""
    score = estimator.predict_proba(x)[:, 1]
    out: dict[str, Any] = {}
    overall = performance.classification_metrics(y, score, threshold=THRESHOLD, metrics=CARD_METRICS, n_resamples=0)
    for m in CARD_METRICS:
        out[m] = _round(overall[m].value)
    out.update(positive_rate=_round(float(np.mean(y))) if y.size else None, threshold=THRESHOLD, rows=int(y.size))
    per_cohort: dict[str, dict[str, Any]] = {}
    if cohorts is not None:
        for field in cohorts.columns:
            values = cohorts[field].to_numpy(dtype=object)
            per_value = {}
            for value in sorted({v for v in values if v is not None}, key=str):
                mask = values == value
                if mask.sum() < min_rows or len(np.unique(y[mask])) < 2:
                    continue
                ms = performance.classification_metrics(
                    y[mask], score[mask], threshold=THRESHOLD, metrics=CARD_METRICS, n_resamples=0
                )
                per_value[str(value)] = {"rows": int(mask.sum()), **{m: _round(ms[m].value) for m in CARD_METRICS}}
            if per_value:
                per_cohort[str(field)] = per_value
    out["cohorts"] = per_cohort
    return out


def _round(value: float) -> float | None:
    return round(float(value), 4) if value is not None and np.isfinite(value) else None


@functools.cache
def code_versions() -> dict[str, str | None]:
    """What code fitted a version: the Loopdeck commit (when run from a git checkout) and the versions
    of the libraries that define the pipeline and its file format."""
    import platform
    import subprocess

    import sklearn
    import skops

    from services.core.db import ROOT

    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"loopdeck_commit": commit, "python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "skops": skops.__version__, "numpy": np.__version__, "pandas": pd.__version__}  # fmt: skip


def json_params(estimator: Any, seed: int, base: ModelVersion) -> dict[str, Any]:
    clf = _final_step(estimator)
    params = {k: v for k, v in clf.get_params().items() if isinstance(v, (bool, int, float, str)) or v is None}
    steps = [type(s).__name__ for _, s in estimator.steps[:-1]] if isinstance(estimator, Pipeline) else []
    prep = (base.params or {}).get("preprocessing") or " + ".join(steps) or "none"
    return {"estimator": type(clf).__name__, "preprocessing": prep, **params, "seed": int(seed),
            "cloned_from": f"v{base.version}"}  # fmt: skip


# --- the run -------------------------------------------------------------------------------------


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
    approval_request_id: int | None = None,
    comment: str = "",
) -> RetrainResult:
    """Fit a candidate from `base_version_id` on the window and dataset; register it (see module doc)."""
    require(actor, Role.analyst, "retrain models")
    report = progress or _quiet
    trigger = check_trigger(engine, trigger)
    start, end = to_utc(train_from), to_utc(train_to)
    if start >= end:
        raise InvalidInput("The training window must end after it starts.")
    if end > utcnow():
        raise InvalidInput("The training window cannot end in the future.")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
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
    seconds["load"] = round(time.perf_counter() - t0, 2)
    report(0.2, f"{data.rows:,} labelled rows ({data.outcome_rows:,} outcomes, {data.feedback_added:,} added and "
                f"{data.feedback_overrides:,} corrected by feedback).")  # fmt: skip

    idx = np.arange(data.rows)
    train_idx, val_idx = train_test_split(
        idx, test_size=VALIDATION_SHARE, stratify=data.labels, random_state=int(seed) % (2**32)
    )
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    candidate = seeded_clone(base_model, seed)
    t1 = time.perf_counter()
    fit_with_progress(
        candidate,
        data.features.iloc[train_idx],
        data.labels[train_idx],
        lambda f, m: report(0.2 + 0.7 * min(max(f, 0.0), 1.0), m),
    )
    seconds["fit"] = round(time.perf_counter() - t1, 2)
    report(0.92, f"Evaluating on {len(val_idx):,} validation rows ...")
    t2 = time.perf_counter()
    metrics = evaluate(candidate, data.features.iloc[val_idx], data.labels[val_idx], data.cohorts.iloc[val_idx])
    seconds["evaluate"] = round(time.perf_counter() - t2, 2)

    now = utcnow()
    training_data = {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "window_end_exclusive": True,
        "rows": int(len(train_idx)),
        "validation_rows": int(len(val_idx)),
        "outcome_rows": data.outcome_rows,
        "feedback_dataset": data.dataset,
        "labels_known_by": now.isoformat(),
        "positive_rate": _round(float(np.mean(data.labels))),
        "seed": int(seed),
        "base_version": base.version,
        "base_version_id": base.id,
        "approval_request_id": approval_request_id,
        "code": code_versions(),
    }
    card = _model_card(base, candidate, training_data, metrics, data, comment)
    report(0.96, "Registering the candidate (skops, checksum) ...")
    t3 = time.perf_counter()

    def mark(session: Session, row: ModelVersion) -> None:
        if approval_request_id is None:
            return
        request = approvals.lock_for_execution(session, approval_request_id, kinds=("retrain",))
        if request.subject_id != base.model_name:
            raise InvalidInput(f"Request #{request.id} is about {request.subject_id}, not {base.model_name}.")
        approvals.mark_executed(session, actor, request, {"model_version_id": row.id, "version": row.version})

    if approval_request_id is not None:
        approvals.refresh(engine, approval_request_id)
    version = registry.register_model_version(
        engine,
        actor,
        base.model_name,
        candidate,
        feature_schema=schema,
        params=json_params(candidate, seed, base),
        metrics=metrics,
        training_data=training_data,
        model_card=card,
        parent_id=base.id,
        trigger=trigger,
        also=mark,
    )
    seconds["register"] = round(time.perf_counter() - t3, 2)
    report(1.0, f"Registered {version.model_name} v{version.version} as a candidate.")
    return RetrainResult(version, data, metrics, seconds)


def _model_card(
    base: ModelVersion, estimator: Any, training: dict, metrics: dict, data: TrainingSet, comment: str
) -> dict[str, Any]:
    card = dict(base.model_card or {})
    name = type(_final_step(estimator)).__name__
    window = f"{training['window_start'][:10]} to {training['window_end'][:10]} (end excluded)"
    fb = ""
    if data.dataset:
        d = data.dataset
        fb = (
            f" Feedback training set {d['name']} v{d['version']}: {d['added']:,} requests added and "
            f"{d['overrides']:,} outcome labels corrected ({d['outside_window']:,} items outside the window left out)."
        )
    card.update(
        summary=f"{card.get('summary', base.model_name).split(',')[0]}, {name}, retrained from v{base.version}.",
        training_data=(
            f"{training['rows']:,} labelled requests from {window}: outcomes as labels, corrected by feedback "
            f"where given.{fb}"
        ),
        evaluation=(
            f"Random {VALIDATION_SHARE:.0%} of the window held out ({training['validation_rows']:,} rows): "
            + ", ".join(f"{m} {metrics.get(m)}" for m in CARD_METRICS)
            + ". Compare with the champion on a later holdout on the Models page (Judge)."
        ),
        metrics_by_cohort=metrics.get("cohorts", {}),
        limitations=(
            (card.get("limitations") or "").rstrip()
            + f" Trained on {window}; behaviour outside that period (new app releases, new markets) is unknown."
        ).strip(),
        retraining_note=(comment or "").strip()[:2000],
    )
    return card


def retrain_from_request(
    engine: Engine, actor: Actor, request_id: int, progress: Progress | None = None
) -> RetrainResult:
    """Run an approved retrain request (payload: base_version_id, train_from, train_to, dataset_id,
    seed, trigger). The request is marked executed with the registration."""
    view = approvals.get_request(engine, request_id)
    row = view.request
    if row.kind != "retrain":
        raise InvalidInput(f"Request #{row.id} is a {row.kind} request, not a retrain request.")
    if row.status != "approved":
        raise InvalidInput(f"Request #{row.id} is {row.status}; only approved requests can be executed.")
    payload = row.payload or {}
    try:
        base_id = int(payload["base_version_id"])
        start = datetime.fromisoformat(str(payload["train_from"]))
        end = datetime.fromisoformat(str(payload["train_to"]))
    except (KeyError, ValueError, TypeError):
        raise InvalidInput(
            f"Request #{row.id} does not say what to train (base_version_id, train_from, train_to)."
        ) from None
    return retrain(
        engine, actor, base_id, start, end, payload.get("dataset_id"), seed=int(payload.get("seed", 0)),
        trigger=str(payload.get("trigger") or "manual"), progress=progress, approval_request_id=row.id,
        comment=row.comment,
    )  # fmt: skip


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
    from services.monitoring import alerts

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
    from datetime import timedelta

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
