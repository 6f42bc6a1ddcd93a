"""Two versions of a model side by side (the Models screen's Compare view):

- the metrics recorded with each version, overall and per cohort (its metrics json, from its own
  validation rows at training: not the same rows, so read them as each version's own report);
- the same metrics measured on one holdout both have never seen, paired (services.models.judge: every
  labelled prediction after both training windows), with 95% intervals;
- calibration: each version's reliability curve on that holdout;
- the judge's gates for each: every gate of the no-regression rule checked for A against B and for B
  against A on the same numbers (a tolerance such as "at most 0.01 worse" can let both pass).

The holdout part needs the artifacts and labelled predictions after both windows; without them the
recorded metrics are still compared and `problem` says why the rest is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput
from services.core.schema_models import ModelVersion
from services.models import judge, registry

RECORDED_METRICS = ("accuracy", "roc_auc", "log_loss", "brier")
GATE_COLUMNS = ["scope", "metric", "rule", "A", "B", "A result", "B result", "note"]


@dataclass(frozen=True)
class VersionComparison:
    a: judge.Side
    b: judge.Side
    recorded: pd.DataFrame  # scope, rows A, rows B, metric, A, B, difference (A - B)
    panel: judge.JudgePanel | None  # A as the candidate against B, on their common holdout
    problem: str | None = None  # why there is no panel

    @property
    def gates(self) -> pd.DataFrame:
        """Each gate with A's result (against B) and B's (against A)."""
        if self.panel is None:
            return pd.DataFrame(columns=GATE_COLUMNS)
        config = self.panel.config
        a_gates = self.panel.gates
        b_gates = judge.gates_for(self.panel.comparison, config, swap=True)
        rows = []
        for ga, gb in zip(a_gates, b_gates, strict=True):
            note = "; ".join(dict.fromkeys(n for n in (ga.note, gb.note) if n))
            rule = ga.rule.replace("champion", "the other")  # here the bar is the other version, not the champion
            rows.append([ga.scope, ga.metric, rule, ga.candidate, ga.champion, judge.result_text(ga.passed),
                         judge.result_text(gb.passed), note])  # fmt: skip
        return pd.DataFrame(rows, columns=GATE_COLUMNS)

    def passed(self, side: str) -> tuple[int, int]:
        """(gates passed, gates checked) for side "A" or "B"."""
        g = self.gates
        checked = g[g[f"{side} result"] != "not checked"]
        return int((checked[f"{side} result"] == "pass").sum()), len(checked)


def _recorded_scopes(v: ModelVersion) -> dict[str, dict]:
    m = v.metrics or {}
    scopes = {"overall": {"rows": m.get("rows"), **{k: m.get(k) for k in RECORDED_METRICS}}}
    cohorts = m.get("cohorts") or (v.model_card or {}).get("metrics_by_cohort") or {}
    for field_name, values in cohorts.items():
        for value, metrics in (values or {}).items():
            scopes[f"{field_name}={value}"] = dict(metrics or {})
    return scopes


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def recorded_metrics(a: ModelVersion, b: ModelVersion) -> pd.DataFrame:
    """The metrics recorded with each version, per scope (overall first, then the cohorts either has)."""
    sa, sb = _recorded_scopes(a), _recorded_scopes(b)
    rows = []
    for scope in dict.fromkeys([*sa, *sb]):
        ma, mb = sa.get(scope, {}), sb.get(scope, {})
        for metric in RECORDED_METRICS:
            va, vb = _number(ma.get(metric)), _number(mb.get(metric))
            if va is None and vb is None:
                continue
            rows.append([scope, ma.get("rows"), mb.get("rows"), metric, va, vb,
                         va - vb if va is not None and vb is not None else None])  # fmt: skip
    return pd.DataFrame(rows, columns=["scope", "rows A", "rows B", "metric", "A", "B", "difference"])


def compare_versions(
    engine: Engine, a_id: int, b_id: int, config: judge.JudgeConfig | None = None, *, measure: bool = True
) -> VersionComparison:
    """Versions `a_id` and `b_id` of one model side by side (anybody signed in may read). measure=False
    compares the recorded metrics only (no scoring)."""
    if a_id == b_id:
        raise InvalidInput("Choose two different versions.")
    a, b = registry.get_version(engine, a_id), registry.get_version(engine, b_id)
    if a.model_name != b.model_name:
        raise InvalidInput(f"{b.model_name} v{b.version} is another model.")
    recorded = recorded_metrics(a, b)
    panel, problem = None, None
    if measure:
        try:
            panel = judge.judge(engine, a.id, b.id, config=config)
        except InvalidInput as exc:
            problem = str(exc)
    else:
        problem = "Not measured on a holdout yet."
    return VersionComparison(judge.side_of(a), judge.side_of(b), recorded, panel, problem)
