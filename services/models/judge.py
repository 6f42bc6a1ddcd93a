"""Judge: a candidate version against the champion on the same time-based holdout.

The holdout is every prediction of the model with a known outcome made after both versions'
training windows ended (so neither has seen it), up to `holdout_to` (default: everything since).
Both versions score the same rows from the features recorded with each prediction (their artifacts
are loaded with the checksum verified), so the comparison is paired:

- each metric (accuracy, ROC AUC, log loss, Brier score) for both, with 95% intervals (Wilson for
  accuracy, bootstrap percentile for the others), overall and per value of each cohort field
  (platform, region, tier, ... whatever the predictions carry);
- the difference candidate - champion with a paired test: McNemar for accuracy, a paired bootstrap
  for the others (services.stats.paired);
- gates: a no-regression rule per metric, overall and per cohort, in the shape of MLflow's
  `MetricThreshold` (mlflow.models.evaluation.validation): `threshold` (an absolute bar for the
  candidate), `min_absolute_change` and `min_relative_change` (how much better than the champion it
  must be), `greater_is_better`. One deliberate difference: MLflow only takes positive changes (the
  candidate must improve); here a negative value is a tolerance ("at most 0.01 worse"), which is
  what a no-regression rule needs. Like MLflow, the overall gates read the point estimates. A cohort
  has far fewer rows, and its point estimate alone would fail gates by chance (a 100-row cohort's
  accuracy moves by several points between two resamples), so a cohort gate fails only when its
  point estimate breaks the rule AND the paired test finds the difference significant
  (p < `cohort_alpha`, 0.05; None: points only, as MLflow); otherwise it passes with a note.
  Cohorts smaller than `min_cohort_rows` are shown but not gated.

The verdict passes when every gate that could be checked passes. `JudgePanel.to_evidence()` is the
JSON snapshot attached to an approval request (the panel as it was when the change was requested);
`JudgePanel.gate_evidence(gate)` is a failed gate as a backlog evidence link ("judge_gate").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.backlog.evidence import EvidenceRef
from services.core import settings
from services.core.errors import InvalidInput
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc, utcnow
from services.models import registry, retraining
from services.stats import calibration, paired

METRICS = paired.PAIRED_METRICS
LOWER_IS_BETTER = paired.LOWER_IS_BETTER
SETTING_KEY = "judge.thresholds"


@dataclass(frozen=True)
class MetricThreshold:
    """MLflow's MetricThreshold, with negative changes allowed as a tolerance (see the module doc)."""

    threshold: float | None = None
    min_absolute_change: float | None = None
    min_relative_change: float | None = None
    greater_is_better: bool = True

    def rules(self, metric: str) -> list[tuple[str, Any]]:
        """(plain-language rule, check(candidate, champion) -> bool) for each condition set."""
        better = ">=" if self.greater_is_better else "<="
        out: list[tuple[str, Any]] = []
        if self.threshold is not None:
            t = self.threshold
            out.append((f"{metric} {better} {t:g}", lambda c, b, t=t: c >= t if self.greater_is_better else c <= t))
        if self.min_absolute_change is not None:
            d = self.min_absolute_change
            sign = "+" if (d >= 0) == self.greater_is_better else "-"
            out.append(
                (
                    f"{metric} {better} champion {sign} {abs(d):g}",
                    lambda c, b, d=d: (c - b if self.greater_is_better else b - c) >= d - 1e-12,
                )
            )
        if self.min_relative_change is not None:
            r = self.min_relative_change
            factor = 1 + r if self.greater_is_better else 1 - r
            out.append(
                (
                    f"{metric} {better} champion x {factor:g}",
                    lambda c, b, r=r: (
                        abs(b) > 0 and ((c - b) if self.greater_is_better else (b - c)) / abs(b) >= r - 1e-12
                    ),
                )
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> MetricThreshold:
        def number(key: str) -> float | None:
            v = value.get(key)
            if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
                return None
            try:
                out = float(v)
            except (TypeError, ValueError):
                raise InvalidInput(f"{key} must be a number, not {v!r}.") from None
            if not math.isfinite(out):
                raise InvalidInput(f"{key} must be a finite number.")
            return out

        return cls(
            number("threshold"),
            number("min_absolute_change"),
            number("min_relative_change"),
            bool(value.get("greater_is_better", True)),
        )


DEFAULT_THRESHOLDS: dict[str, MetricThreshold] = {
    "accuracy": MetricThreshold(min_absolute_change=-0.01),
    "roc_auc": MetricThreshold(min_absolute_change=-0.01),
    "log_loss": MetricThreshold(min_relative_change=-0.05, greater_is_better=False),
    "brier": MetricThreshold(min_relative_change=-0.05, greater_is_better=False),
}
DEFAULT_COHORT_THRESHOLDS: dict[str, MetricThreshold] = {
    "accuracy": MetricThreshold(min_absolute_change=-0.03),
    "roc_auc": MetricThreshold(min_absolute_change=-0.03),
}


@dataclass(frozen=True)
class JudgeConfig:
    thresholds: dict[str, MetricThreshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    cohort_thresholds: dict[str, MetricThreshold] = field(default_factory=lambda: dict(DEFAULT_COHORT_THRESHOLDS))
    cohort_fields: tuple[str, ...] | None = None  # None: every cohort field the predictions carry
    min_cohort_rows: int = 100
    cohort_alpha: float | None = 0.05  # a cohort gate fails only on a significant difference (None: points)
    n_resamples: int = paired.DEFAULT_RESAMPLES
    seed: int = 0
    confidence: float = 0.95
    decision_threshold: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return {
            "thresholds": {k: v.as_dict() for k, v in self.thresholds.items()},
            "cohort_thresholds": {k: v.as_dict() for k, v in self.cohort_thresholds.items()},
            "cohort_fields": list(self.cohort_fields) if self.cohort_fields is not None else None,
            "min_cohort_rows": self.min_cohort_rows,
            "cohort_alpha": self.cohort_alpha,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "confidence": self.confidence,
            "decision_threshold": self.decision_threshold,
        }


def parse_thresholds(value: Any) -> dict[str, dict[str, MetricThreshold]]:
    """{"overall": {metric: {...}}, "cohort": {metric: {...}}} -> MetricThresholds (validated)."""
    if not isinstance(value, dict):
        raise InvalidInput("Thresholds are {'overall': {metric: ...}, 'cohort': {metric: ...}}.")
    out: dict[str, dict[str, MetricThreshold]] = {}
    for scope in ("overall", "cohort"):
        part = value.get(scope) or {}
        unknown = set(part) - set(METRICS)
        if unknown:
            raise InvalidInput(f"Unknown metric(s) {', '.join(sorted(unknown))}; choose from {', '.join(METRICS)}.")
        out[scope] = {m: MetricThreshold.from_dict(t) for m, t in part.items()}
    return out


def config_from_settings(engine: Engine, **overrides: Any) -> JudgeConfig:
    """Default thresholds, or the admin's (setting "judge.thresholds") when that setting exists."""
    config = JudgeConfig()
    if SETTING_KEY in settings.SPECS:
        parsed = parse_thresholds(settings.get(engine, SETTING_KEY))
        config = replace(config, thresholds=parsed["overall"] or config.thresholds,
                         cohort_thresholds=parsed["cohort"])  # fmt: skip
    return replace(config, **overrides)


def default_thresholds_setting() -> dict[str, Any]:
    """The default value for a "judge.thresholds" setting (for services/settings.SPECS)."""
    return {
        "overall": {k: v.as_dict() for k, v in DEFAULT_THRESHOLDS.items()},
        "cohort": {k: v.as_dict() for k, v in DEFAULT_COHORT_THRESHOLDS.items()},
    }


def _clean_thresholds_setting(value: Any) -> dict[str, Any]:
    parsed = parse_thresholds(value)
    if not parsed["overall"]:
        raise InvalidInput("Keep at least one overall gate (a verdict needs something to check).")
    return {scope: {m: t.as_dict() for m, t in parsed[scope].items()} for scope in ("overall", "cohort")}


def thresholds_setting_value(config: JudgeConfig) -> dict[str, Any]:
    """A config's gates as the value of the "judge.thresholds" setting."""
    return {"overall": {k: v.as_dict() for k, v in config.thresholds.items()},
            "cohort": {k: v.as_dict() for k, v in config.cohort_thresholds.items()}}  # fmt: skip


# The admin setting for the default gates lives with the judge (settings.set_value checks the role and
# audits the change): registered here so that services/settings needs no import of this module.
settings.SPECS.setdefault(
    SETTING_KEY,
    settings.SettingSpec(
        SETTING_KEY, default_thresholds_setting(),
        "The judge's default no-regression gates (MetricThreshold per metric, overall and per cohort).",
        _clean_thresholds_setting,
    ),
)  # fmt: skip


# --- the panel -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    scope: str  # "overall" or "platform=ios"
    metric: str
    rule: str
    candidate: float
    champion: float
    passed: bool | None  # None: not checked (cohort too small, metric undefined)
    note: str = ""


@dataclass(frozen=True)
class Holdout:
    start: datetime  # exclusive: after both training windows
    end: datetime | None  # exclusive
    rows: int
    positives: int
    candidate_window_end: datetime | None
    champion_window_end: datetime | None


@dataclass(frozen=True)
class Side:
    id: int
    model_name: str
    version: int
    status: str
    artifact_sha256: str

    @property
    def label(self) -> str:
        return f"{self.model_name} v{self.version}"


@dataclass(frozen=True)
class JudgePanel:
    candidate: Side
    champion: Side
    holdout: Holdout
    comparison: paired.PairedComparison
    gates: tuple[Gate, ...]
    config: JudgeConfig
    calibration: dict[str, calibration.ReliabilityDiagram]  # "candidate" / "champion"
    computed_at: datetime
    seconds: float = 0.0

    @property
    def checked(self) -> tuple[Gate, ...]:
        return tuple(g for g in self.gates if g.passed is not None)

    @property
    def failed(self) -> tuple[Gate, ...]:
        return tuple(g for g in self.gates if g.passed is False)

    @property
    def verdict(self) -> str:
        if not self.checked:
            return "no verdict"
        return "pass" if not self.failed else "fail"

    def headline(self) -> str:
        n = len(self.checked)
        if self.verdict == "pass":
            return f"{self.candidate.label} passes all {n} gates against {self.champion.label}."
        if self.verdict == "fail":
            return f"{self.candidate.label} fails {len(self.failed)} of {n} gates against {self.champion.label}."
        return "No gate could be checked."

    def metrics_frame(self) -> pd.DataFrame:
        rows = []
        for g in self.comparison.groups:
            for m in g.metrics:
                rows.append(
                    {
                        "scope": g.label, "field": g.field, "value": g.value, "rows": g.n, "positives": g.positives,
                        "metric": m.metric, "candidate": m.value_a, "candidate_low": m.a_low,
                        "candidate_high": m.a_high, "champion": m.value_b, "champion_low": m.b_low,
                        "champion_high": m.b_high, "difference": m.difference, "diff_low": m.diff_low,
                        "diff_high": m.diff_high, "p_value": m.p_value, "test": m.method,
                    }
                )  # fmt: skip
        return pd.DataFrame(rows)

    def gates_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"scope": g.scope, "metric": g.metric, "rule": g.rule, "candidate": g.candidate,
                 "champion": g.champion, "result": _result(g.passed), "note": g.note}
                for g in self.gates
            ],
            columns=["scope", "metric", "rule", "candidate", "champion", "result", "note"],
        )  # fmt: skip

    def to_evidence(self) -> dict[str, Any]:
        """A JSON snapshot (plain numbers, rounded) for an approval request."""
        h = self.holdout
        return _clean(
            {
                "kind": "judge_panel",
                "computed_at": self.computed_at.isoformat(),
                "verdict": self.verdict,
                "headline": self.headline(),
                "candidate": asdict(self.candidate),
                "champion": asdict(self.champion),
                "holdout": {
                    "start_after": h.start.isoformat(),
                    "end_before": h.end.isoformat() if h.end else None,
                    "rows": h.rows,
                    "positives": h.positives,
                },
                "gates": self.gates_frame().to_dict("records"),
                "metrics": self.metrics_frame().drop(columns=["field", "value"]).to_dict("records"),
                "calibration": {
                    k: {"ece": d.ece, "bins": [[b.mean_predicted, b.observed_rate, b.count] for b in d.bins]}
                    for k, d in self.calibration.items()
                },
                "config": self.config.as_dict(),
                "method": (
                    f"Paired on the same {h.rows:,} holdout rows; {self.comparison.n_resamples} bootstrap resamples "
                    f"(seed {self.comparison.seed}); McNemar for accuracy."
                ),
            }
        )

    def gate_evidence(self, gate: Gate) -> EvidenceRef:
        """A gate (typically a failed one) as a "judge_gate" backlog evidence link:
        ref_id "<model>:v<candidate>-vs-v<champion>:<scope>:<metric>"; detail holds the rule, both
        values, the holdout and, for a cohort gate, the cohort (reach: predictions per week in it)."""
        cohort = None
        if gate.scope != "overall" and "=" in gate.scope:
            field_name, value = gate.scope.split("=", 1)
            cohort = {field_name: value}
        c, b, h = self.candidate, self.champion, self.holdout
        where = "overall" if gate.scope == "overall" else f"on {gate.scope}"
        label = (
            f"{c.label} {VERBS[gate.passed]} the {gate.metric} gate {where} against v{b.version}: "
            f"{gate.candidate:.4f} vs {gate.champion:.4f} ({gate.rule})"
        )
        detail = _clean(
            {
                "model_name": c.model_name,
                "candidate_version_id": c.id, "candidate_version": c.version,
                "champion_version_id": b.id, "champion_version": b.version,
                "scope": gate.scope, "metric": gate.metric, "rule": gate.rule,
                "candidate": gate.candidate, "champion": gate.champion,
                "passed": gate.passed, "note": gate.note, "cohort": cohort,
                "holdout": {"start_after": h.start.isoformat(), "end_before": h.end.isoformat() if h.end else None,
                            "rows": h.rows},
                "computed_at": self.computed_at.isoformat(),
            }
        )  # fmt: skip
        ref_id = f"{c.model_name}:v{c.version}-vs-v{b.version}:{gate.scope}:{gate.metric}"
        return EvidenceRef("judge_gate", ref_id[:300], label[:500], detail)


VERBS = {True: "passes", False: "fails", None: "was not checked at"}


def _result(passed: bool | None) -> str:
    return "pass" if passed else ("not checked" if passed is None else "fail")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return round(v, 6) if math.isfinite(v) else None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def gates_for(comparison: paired.PairedComparison, config: JudgeConfig) -> tuple[Gate, ...]:
    gates: list[Gate] = []
    for group in comparison.groups:
        overall = not group.field
        thresholds = config.thresholds if overall else config.cohort_thresholds
        for metric, rule_set in thresholds.items():
            m = group[metric]
            for text, check in rule_set.rules(metric):
                note = ""
                if not overall and group.n < config.min_cohort_rows:
                    passed, note = None, f"fewer than {config.min_cohort_rows} rows"
                elif not (math.isfinite(m.value_a) and math.isfinite(m.value_b)):
                    passed, note = None, "undefined (one class only)"
                else:
                    passed = bool(check(m.value_a, m.value_b))
                    alpha = config.cohort_alpha
                    if not passed and not overall and alpha is not None:
                        p = m.p_value
                        if p is None or p >= alpha:
                            passed = True
                            note = f"below the bar but not significant (p = {p:.2g})" if p is not None else note
                gates.append(Gate(group.label, metric, text, m.value_a, m.value_b, passed, note))
    return tuple(gates)


def evaluate_panel(
    y_true: np.ndarray,
    candidate_scores: np.ndarray,
    champion_scores: np.ndarray,
    cohorts: pd.DataFrame | None,
    config: JudgeConfig,
    candidate: Side,
    champion: Side,
    holdout: Holdout,
) -> JudgePanel:
    """The panel from scores (no database): what `judge` computes after reading and scoring."""
    import time

    t0 = time.perf_counter()
    comparison = paired.paired_bootstrap(
        y_true, candidate_scores, champion_scores, cohorts, threshold=config.decision_threshold,
        n_resamples=config.n_resamples, seed=config.seed, confidence=config.confidence,
    )  # fmt: skip
    diagrams = {
        "candidate": calibration.reliability_diagram(y_true, candidate_scores, n_bins=10),
        "champion": calibration.reliability_diagram(y_true, champion_scores, n_bins=10),
    }
    return JudgePanel(
        candidate, champion, holdout, comparison, gates_for(comparison, config), config, diagrams, utcnow(),
        round(time.perf_counter() - t0, 3),
    )  # fmt: skip


def _window_end(version: ModelVersion) -> datetime | None:
    value = (version.training_data or {}).get("window_end")
    if not value:
        return None
    try:
        return to_utc(datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def _side(v: ModelVersion) -> Side:
    return Side(v.id, v.model_name, v.version, v.status, v.artifact_sha256 or "")


def default_holdout_start(candidate: ModelVersion, champion: ModelVersion) -> datetime:
    ends = [e for e in (_window_end(candidate), _window_end(champion)) if e is not None]
    if not ends:
        raise InvalidInput(
            "Neither version records the end of its training window, so no holdout can be proven unseen."
        )
    return max(ends)


def judge(
    engine: Engine,
    candidate_id: int,
    champion_id: int | None = None,
    holdout_to: datetime | None = None,
    config: JudgeConfig | None = None,
    holdout_from: datetime | None = None,
) -> JudgePanel:
    """Compare `candidate_id` with `champion_id` (default: the model's champion) on the holdout."""
    import time

    t0 = time.perf_counter()
    candidate = registry.get_version(engine, candidate_id)
    if champion_id is None:
        current = registry.aliases(engine, candidate.model_name).champion
        if current is None:
            raise InvalidInput(f"{candidate.model_name} has no champion to compare with.")
        champion_id = current.id
    champion = registry.get_version(engine, champion_id)
    if champion.model_name != candidate.model_name:
        raise InvalidInput(f"{champion.model_name} v{champion.version} is another model.")
    if champion.id == candidate.id:
        raise InvalidInput("Choose two different versions.")
    config = config or config_from_settings(engine)
    earliest = default_holdout_start(candidate, champion)
    start = to_utc(holdout_from) if holdout_from else earliest
    if start < earliest:
        raise InvalidInput(
            f"The holdout must start after both training windows (after {earliest:%Y-%m-%d %H:%M} UTC): "
            "earlier rows were seen by one of the versions."
        )
    end = to_utc(holdout_to) if holdout_to else None
    rows = retraining.labelled_rows(engine, candidate.model_name, start, end, start_inclusive=False)
    if len(rows) == 0 or rows["label"].nunique() < 2:
        raise InvalidInput(
            f"The holdout after {start:%Y-%m-%d %H:%M} UTC has {len(rows):,} labelled rows"
            f"{' (one class only)' if len(rows) else ''}: wait for more outcomes or train on an earlier window."
        )
    rows = rows.sort_values("request_id", kind="stable", ignore_index=True)
    scores = {}
    for key, version in (("candidate", candidate), ("champion", champion)):
        model = registry.load_model(engine, version.id)
        x = retraining.feature_frame(rows["features"], dict(version.feature_schema or {}))
        scores[key] = model.predict_proba(x)[:, 1]
    cohorts = retraining.cohort_frame(rows["cohorts"])
    fields = sorted(cohorts.columns) if config.cohort_fields is None else list(config.cohort_fields)
    cohorts = cohorts.reindex(columns=fields)
    y = rows["label"].to_numpy(dtype=np.int64)
    holdout = Holdout(start, end, int(y.size), int(y.sum()), _window_end(candidate), _window_end(champion))
    panel = evaluate_panel(y, scores["candidate"], scores["champion"], cohorts, config, _side(candidate),
                           _side(champion), holdout)  # fmt: skip
    return replace(panel, seconds=round(time.perf_counter() - t0, 3))
