"""Fitting a candidate: a seeded clone of the base pipeline, fitted on one thread (the same inputs and
seed give the same model on any machine), with progress; boosting and forest models are fitted in steps
with warm_start (identical to one fit, tested), which is what the progress reports. Its metrics on the
validation rows (overall and per cohort), its parameters, the code that fitted it and its model card.
"""

from __future__ import annotations

import functools
import platform
import subprocess
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from services.core.db import ROOT
from services.core.schema_models import ModelVersion
from services.models.training_data import TrainingSet
from services.stats import performance

Progress = Callable[[float, str], None]
VALIDATION_SHARE = 0.2
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


def quiet(fraction: float, message: str) -> None:
    return None


# scikit-learn and skops are imported where they are used: every entry point imports this module through
# services.kinds (the request kinds), and scikit-learn's import (with scipy.stats) costs ~1.5 CPU-s in each
# UI, API, worker and shell process, most of which never fit a model.


def seeded_clone(estimator: Any, seed: int) -> Any:
    """An unfitted copy with the same parameters; every random_state set to `seed`."""
    from sklearn.base import clone

    fresh = clone(estimator)
    seeds = {k: int(seed) for k in fresh.get_params(deep=True) if k == "random_state" or k.endswith("__random_state")}
    if seeds:
        fresh.set_params(**seeds)
    return fresh


def _is_pipeline(estimator: Any) -> bool:
    from sklearn.pipeline import Pipeline

    return isinstance(estimator, Pipeline)


def _final_step(estimator: Any) -> Any:
    return estimator.steps[-1][1] if _is_pipeline(estimator) else estimator


def _staged_parameter(clf: Any) -> str | None:
    name = STAGED.get(type(clf).__name__)
    if name is None or not hasattr(clf, "warm_start"):
        return None
    if name == "max_iter" and getattr(clf, "early_stopping", False) not in (False,):
        return None  # early stopping ("auto" or True) decides the iterations itself
    return name


def fit_with_progress(estimator: Any, x: pd.DataFrame, y: np.ndarray, progress: Progress = quiet) -> Any:
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
        if _is_pipeline(estimator) and len(estimator.steps) > 1:
            from sklearn.pipeline import Pipeline

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
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5, check=True
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    import sklearn
    import skops

    return {"loopdeck_commit": commit, "python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "skops": skops.__version__, "numpy": np.__version__, "pandas": pd.__version__}  # fmt: skip


def json_params(estimator: Any, seed: int, base: ModelVersion) -> dict[str, Any]:
    clf = _final_step(estimator)
    params = {k: v for k, v in clf.get_params().items() if isinstance(v, (bool, int, float, str)) or v is None}
    steps = [type(s).__name__ for _, s in estimator.steps[:-1]] if _is_pipeline(estimator) else []
    prep = (base.params or {}).get("preprocessing") or " + ".join(steps) or "none"
    return {"estimator": type(clf).__name__, "preprocessing": prep, **params, "seed": int(seed),
            "cloned_from": f"v{base.version}"}  # fmt: skip


def model_card(
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
