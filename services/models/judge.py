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
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.backlog.items import EvidenceRef
from services.core.errors import InvalidInput
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc, utcnow
from services.models import registry, retraining
from services.models.judge_config import (  # noqa: F401  (re-exported: the judge's public names)
    DEFAULT_COHORT_THRESHOLDS,
    DEFAULT_THRESHOLDS,
    LOWER_IS_BETTER,
    METRICS,
    SETTING_KEY,
    JudgeConfig,
    MetricThreshold,
    config_from_settings,
    default_thresholds_setting,
    parse_thresholds,
    thresholds_setting_value,
)
from services.stats import calibration, paired

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
                 "champion": g.champion, "result": result_text(g.passed), "note": g.note}
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


def result_text(passed: bool | None) -> str:
    """A gate's result as the tables show it: pass, fail or not checked."""
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


def gates_for(comparison: paired.PairedComparison, config: JudgeConfig, swap: bool = False) -> tuple[Gate, ...]:
    """The gates of version A (the comparison's first) against B; swap=True: B's against A (the paired
    test is two-sided, so the same p-values hold)."""
    gates: list[Gate] = []
    for group in comparison.groups:
        overall = not group.field
        thresholds = config.thresholds if overall else config.cohort_thresholds
        for metric, rule_set in thresholds.items():
            m = group[metric]
            mine, other = (m.value_b, m.value_a) if swap else (m.value_a, m.value_b)
            for text, check in rule_set.rules(metric):
                note = ""
                if not overall and group.n < config.min_cohort_rows:
                    passed, note = None, f"fewer than {config.min_cohort_rows} rows"
                elif not (math.isfinite(mine) and math.isfinite(other)):
                    passed, note = None, "undefined (one class only)"
                else:
                    passed = bool(check(mine, other))
                    alpha = config.cohort_alpha
                    if not passed and not overall and alpha is not None:
                        p = m.p_value
                        if p is None or p >= alpha:
                            passed = True
                            note = f"below the bar but not significant (p = {p:.2g})" if p is not None else note
                gates.append(Gate(group.label, metric, text, mine, other, passed, note))
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


def side_of(v: ModelVersion) -> Side:
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
    panel = evaluate_panel(y, scores["candidate"], scores["champion"], cohorts, config, side_of(candidate),
                           side_of(champion), holdout)  # fmt: skip
    return replace(panel, seconds=round(time.perf_counter() - t0, 3))
