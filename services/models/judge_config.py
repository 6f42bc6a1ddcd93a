"""The judge's gates as settings: MLflow-shaped `MetricThreshold` rules per metric (overall and per
cohort), the `JudgeConfig` a comparison runs with, and the admin setting that stores them
("judge.thresholds"). services/models/judge.py applies them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Engine

from services.core import settings
from services.core.errors import InvalidInput
from services.stats import paired

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
