"""A shadow or canary next to the champion, live: the realized metrics of each over the stage's period.

- A canary serves its share of traffic, so its predictions are in Monitoring like the champion's: both
  are read from the day summaries (services.monitoring.summary_cache, what the Monitoring page's
  Performance tab reads, so the cost stays per day whatever the row count) over the same window, the
  whole UTC days from the stage's start to its end (the day before, when it ended at midnight) or the
  last day Monitoring holds, on the requests each served that have an outcome. Accuracy is exact; ROC
  AUC, log loss and Brier come from fine score histograms, each within the bound reported beside it
  (services.monitoring.summary_metrics).
- A shadow serves nothing: its scores are recorded beside the requests the champion served
  (services.models.rollout.record_shadow_scores), so both are read on the very same labelled requests
  (paired), the shadow's recorded score against the champion's served one.

The champion is the version serving full traffic when the stage started. Numbers come with their 95%
intervals (Wilson for accuracy, bootstrap for the others: services.stats.performance; over histogram
cells for a canary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core.db import read_session
from services.core.errors import InvalidInput, NotFound
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import Deployment, ModelVersion, ShadowScore
from services.core.timeutil import to_utc, utcnow
from services.monitoring import blocks as md
from services.monitoring import summary_cache
from services.monitoring import summary_metrics as smx
from services.monitoring import views as monitoring
from services.monitoring.frames import result_cache
from services.stats import performance as perf
from services.stats import score_histogram as sh

LIVE_METRICS = ("accuracy", "roc_auc", "log_loss", "brier")
NO_MONITORING = "Monitoring holds no prediction of this stage yet (refresh monitoring)."
PAIRED = "Paired: the shadow's scores on the requests the champion served."
METRIC_NAMES = {"accuracy": "accuracy", "roc_auc": "ROC AUC", "log_loss": "log loss", "brier": "Brier score"}


def bounds_note(bounds: dict[str, float]) -> str:
    """What a canary's approximate metrics may differ from their row values by, in words ("" when exact)."""
    parts = [f"{METRIC_NAMES[m]} within {b:.1e}" if math.isfinite(b) else f"{METRIC_NAMES[m]} without a bound"
             for m, b in bounds.items() if b != 0.0]  # fmt: skip
    if not parts:
        return ""
    return "From the day summaries' score histograms: " + ", ".join(parts) + " of the value on the rows."


@dataclass(frozen=True)
class LiveMetric:
    metric: str
    challenger: float | None
    challenger_low: float | None
    challenger_high: float | None
    champion: float | None
    champion_low: float | None
    champion_high: float | None

    @property
    def difference(self) -> float | None:
        if self.challenger is None or self.champion is None:
            return None
        return self.challenger - self.champion


@dataclass(frozen=True)
class LiveComparison:
    deployment_id: int
    stage: str  # canary or shadow
    traffic_share: float
    version: int
    version_id: int
    champion_version: int | None
    champion_id: int | None
    start: date | None  # the window read (whole UTC days), None when there is nothing to read
    end: date | None
    rows: tuple[int, int]  # labelled rows behind the challenger's and the champion's numbers
    metrics: tuple[LiveMetric, ...]
    source: str  # "monitoring" (canary) or "shadow scores" (paired on the same requests)
    note: str = ""
    # metric -> the largest distance from the row value over both sides (0.0: exact; NaN: no bound);
    # empty for a shadow, whose metrics are computed from its rows
    bounds: dict[str, float] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """One row per metric: challenger and champion with their intervals, and the difference."""
        columns = ["metric", "challenger", "challenger_low", "challenger_high", "champion", "champion_low",
                   "champion_high", "difference"]  # fmt: skip
        rows = [[m.metric, m.challenger, m.challenger_low, m.challenger_high, m.champion, m.champion_low,
                 m.champion_high, m.difference] for m in self.metrics]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    @property
    def window_label(self) -> str:
        if self.start is None or self.end is None:
            return "no window"
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"


def _num(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _champion_at(engine: Engine, model_name: str, at: datetime) -> ModelVersion | None:
    """The version serving full traffic at `at` (the deployment history is never overwritten)."""
    with read_session(engine) as session:
        rows = session.exec(
            select(Deployment, ModelVersion)
            .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
            .where(ModelVersion.model_name == model_name, Deployment.stage == "full")
            .order_by(Deployment.started_at.desc())
        ).all()
    for d, v in rows:
        if to_utc(d.started_at) <= at and (d.ended_at is None or to_utc(d.ended_at) > at):
            return v
    return None


def _deployment(engine: Engine, deployment_id: int) -> tuple[Deployment, ModelVersion]:
    with read_session(engine) as session:
        found = session.exec(
            select(Deployment, ModelVersion)
            .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
            .where(Deployment.id == deployment_id)
        ).first()
    if found is None:
        raise NotFound(f"No deployment #{deployment_id}.")
    return found[0], found[1]


def _from_monitoring(engine: Engine, version_id: int, window: monitoring.Window) -> tuple[int, dict, dict]:
    """(labelled rows, metric -> (value, low, high), metric -> bound) of one version over the window, from
    its day summaries (histograms only, no sample decoded), cached by the days' generations as the
    Monitoring page's own reports are."""
    lw = summary_cache.window_summary(engine, version_id, window, sample=False)
    key = ("live", "summary", md.engine_key(engine), version_id, window, lw.token)

    def compute() -> tuple[int, dict, dict]:
        w = lw.summary
        n_lab = int(w.counts[w.stratum(), sh.NEGATIVE :].sum()) if w is not None else 0
        if n_lab == 0:
            return 0, {m: (None, None, None) for m in LIVE_METRICS}, {}
        counts, sums = w.counts[w.stratum()], w.sums[w.stratum()]
        ms, bounds = smx.metric_set(counts, sums, LIVE_METRICS, smx.resamples_for_cells(smx.n_cells(counts[None])),
                                    md.seed_for("live", version_id, window) % 2**32, lw.out_of_range)  # fmt: skip
        values = {m: (_num(ms[m].value), _num(ms[m].ci_low), _num(ms[m].ci_high)) for m in LIVE_METRICS}
        return n_lab, values, bounds

    return result_cache.get_or_compute(key, compute)


def _base(d: Deployment, v: ModelVersion, champion: ModelVersion, source: str) -> dict:
    return dict(deployment_id=d.id, stage=d.stage, traffic_share=float(d.traffic_share), version=v.version,
                version_id=v.id, champion_version=champion.version, champion_id=champion.id, source=source)  # fmt: skip


def _canary(d: Deployment, v: ModelVersion, champion: ModelVersion, engine: Engine) -> LiveComparison:
    info = monitoring.get_version(engine, v.id)
    start = to_utc(d.started_at).date()
    end = (to_utc(d.ended_at) - timedelta(microseconds=1)).date() if d.ended_at else utcnow().date()
    if info.last_day is not None:
        end = min(end, info.last_day)
    base = _base(d, v, champion, "monitoring")
    if info.last_day is None or end < start:
        return LiveComparison(**base, start=None, end=None, rows=(0, 0), metrics=(),
                              note=NO_MONITORING)  # fmt: skip
    window = monitoring.Window(start, end)
    n_c, chall, chall_bounds = _from_monitoring(engine, v.id, window)
    n_b, champ, champ_bounds = _from_monitoring(engine, champion.id, window)
    metrics = tuple(LiveMetric(m, *chall[m], *champ[m]) for m in LIVE_METRICS)
    bounds = smx.merge_bounds([chall_bounds, champ_bounds])
    return LiveComparison(**base, start=start, end=end, rows=(n_c, n_b), metrics=metrics, bounds=bounds)


def _shadow(d: Deployment, v: ModelVersion, champion: ModelVersion, engine: Engine) -> LiveComparison:
    p, o, s = Prediction.__table__.c, Outcome.__table__.c, ShadowScore.__table__.c
    with read_session(engine) as session:
        rows = session.exec(
            select(s.score, s.predicted_label, p.score, p.predicted_label, o.actual_label, p.ts)
            .join(Prediction, p.request_id == s.request_id)
            .join(Outcome, o.request_id == s.request_id)
            .where(s.deployment_id == d.id, p.model_version_id == champion.id)
        ).all()
    base = _base(d, v, champion, "shadow scores")
    frame = pd.DataFrame(rows, columns=["s_score", "s_pred", "c_score", "c_pred", "label", "ts"]).dropna(
        subset=["label"]
    )
    if frame.empty:
        return LiveComparison(**base, start=None, end=None, rows=(0, 0), metrics=(),
                              note="No recorded shadow score has an outcome yet (record shadow scores).")  # fmt: skip
    y = frame["label"].to_numpy(dtype=np.int64)
    out = {}
    for key, score, pred in (("s", "s_score", "s_pred"), ("c", "c_score", "c_pred")):
        ms = perf.classification_metrics(y, frame[score].to_numpy(dtype=float), frame[pred].to_numpy(dtype=np.int64),
                                         metrics=LIVE_METRICS)  # fmt: skip
        out[key] = {m: (_num(ms[m].value), _num(ms[m].ci_low), _num(ms[m].ci_high)) for m in LIVE_METRICS}
    metrics = tuple(LiveMetric(m, *out["s"][m], *out["c"][m]) for m in LIVE_METRICS)
    ts = pd.to_datetime(frame["ts"], utc=True)
    return LiveComparison(**base, start=ts.min().date(), end=ts.max().date(), rows=(len(frame), len(frame)),
                          metrics=metrics, note=PAIRED)  # fmt: skip


def live_comparison(engine: Engine, deployment_id: int) -> LiveComparison:
    """A shadow or canary deployment (open or ended) next to the champion of its time (anybody signed
    in may read)."""
    d, v = _deployment(engine, deployment_id)
    if d.stage not in ("canary", "shadow"):
        raise InvalidInput(f"Deployment #{d.id} is a {d.stage} deployment: only a canary or shadow has a champion "
                           "to stand next to.")  # fmt: skip
    champion = _champion_at(engine, v.model_name, to_utc(d.started_at))
    if champion is None or champion.id == v.id:
        raise InvalidInput(f"No other version served full traffic when deployment #{d.id} started.")
    return (_shadow if d.stage == "shadow" else _canary)(d, v, champion, engine)


def stage_deployments(engine: Engine, model_name: str) -> list[tuple[Deployment, ModelVersion]]:
    """The model's canary and shadow deployments, open ones first, then the newest."""
    with read_session(engine) as session:
        rows = session.exec(
            select(Deployment, ModelVersion)
            .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
            .where(ModelVersion.model_name == model_name, Deployment.stage.in_(("canary", "shadow")))
            .order_by(Deployment.started_at.desc())
        ).all()
    return sorted(rows, key=lambda r: r[0].ended_at is not None)
