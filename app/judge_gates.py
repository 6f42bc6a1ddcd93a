"""The judge's gates as an editable table and back: the Models screen's Judge view edits them for one run,
the Settings screen saves them as everyone's default. Pure functions, tested without a browser."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from services.core.errors import LoopdeckError
from services.models import judge


def thresholds_table(config: judge.JudgeConfig) -> pd.DataFrame:
    rows = []
    for scope, thresholds in (("overall", config.thresholds), ("cohort", config.cohort_thresholds)):
        for metric, t in thresholds.items():
            rows.append(
                {"scope": scope, "metric": metric, "min_absolute_change": t.min_absolute_change,
                 "min_relative_change": t.min_relative_change, "threshold": t.threshold,
                 "greater_is_better": t.greater_is_better}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=["scope", "metric", "min_absolute_change", "min_relative_change", "threshold",
                                       "greater_is_better"])  # fmt: skip


def config_from_table(table: pd.DataFrame, base: judge.JudgeConfig) -> judge.JudgeConfig:
    parts: dict[str, dict[str, Any]] = {"overall": {}, "cohort": {}}
    for row in table.to_dict("records"):
        scope, metric = str(row.get("scope") or "").strip(), str(row.get("metric") or "").strip()
        if not metric:
            continue
        if scope not in parts:
            raise LoopdeckError(f"Scope is overall or cohort, not {scope!r}.")
        parts[scope][metric] = {k: row.get(k) for k in ("threshold", "min_absolute_change", "min_relative_change",
                                                       "greater_is_better")}  # fmt: skip
    parsed = judge.parse_thresholds(parts)
    return replace(base, thresholds=parsed["overall"], cohort_thresholds=parsed["cohort"])
