"""One number per metric and window, for alert rules: drift, the drift share, realized and estimated
performance (the names are views.metric_names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from services.core.errors import InvalidInput
from services.monitoring import blocks as md
from services.monitoring import summary_cache
from services.monitoring import summary_metrics as smx
from services.monitoring.drift_window import drift_report
from services.monitoring.estimated import estimate_window
from services.monitoring.frames import load_window, result_cache
from services.monitoring.performance import binary_inputs, in_strata, labelled, resamples_for
from services.monitoring.views import (
    DRIFT_PREFIX,
    DRIFT_SHARE,
    ESTIMATED_PREFIX,
    CohortFilter,
    Window,
    default_windows,
    get_version,
    is_known_metric,
    norm_filter,
)
from services.stats import performance as perf
from services.stats import score_histogram as sh


@dataclass(frozen=True)
class MetricValue:
    metric: str
    value: float
    n: int  # rows the number is computed on
    window: Window
    detail: dict[str, Any] = field(default_factory=dict)


def metric_value(
    engine: Engine, model_version_id: int, metric: str, window: Window, reference: Window | None = None,
    cohort_filter: CohortFilter | None = None, *, rows: bool = False,
) -> MetricValue:  # fmt: skip
    """The value of one watched number on one window (drift and estimates need the reference window).
    Realized and estimated performance come from the day summaries (rows=True or a cohort filter on two
    fields: from the window's rows); `detail` says the source and, for realized metrics, the bound within
    which the row-level value lies (0.0: exact; see services/monitoring/summary_metrics.py)."""
    if not is_known_metric(metric):
        raise InvalidInput(f"Unknown metric {metric!r}.")
    info = get_version(engine, model_version_id)
    needs_reference = metric.startswith((DRIFT_PREFIX, ESTIMATED_PREFIX)) or metric == DRIFT_SHARE
    if needs_reference and reference is None:
        reference = default_windows(info)[0]
    if metric == DRIFT_SHARE or metric.startswith(DRIFT_PREFIX):
        report = drift_report(engine, info.id, reference, window, cohort_filter)  # type: ignore[arg-type]
        if metric == DRIFT_SHARE:
            return MetricValue(metric, report.share_drifted, report.n_current, window,
                               {"reference": reference.as_dict(), "drifted_features": report.n_drifted,  # type: ignore[union-attr]
                                "features": report.n_features, "dataset_drift_share": report.drift_share})  # fmt: skip
        column = metric.removeprefix(DRIFT_PREFIX)
        try:
            row = report.column(column)
        except KeyError:
            raise InvalidInput(f"No column {column!r} in the drift report of {info.label}.") from None
        return MetricValue(metric, row.score, row.n_current, window,
                           {"reference": reference.as_dict(), "method": row.method, "test_threshold": row.threshold,  # type: ignore[union-attr]
                            "drifted": row.drifted, "is_p_value": row.is_p_value})  # fmt: skip
    if metric.startswith(ESTIMATED_PREFIX):
        name = metric.removeprefix(ESTIMATED_PREFIX)
        est = estimate_window(
            engine,
            info.id,
            reference,
            window,
            cohort_filter,  # type: ignore[arg-type]
            auc_band=name == "roc_auc",
            rows=rows,
        )
        m = est.metric(name)
        return MetricValue(
            metric, m.value, est.n, window, {"reference": reference.as_dict(), "lower": m.lower, "upper": m.upper}
        )  # type: ignore[union-attr]
    if not rows and in_strata(cohort_filter, ()):
        return _realized_summary(engine, info.id, metric, window, cohort_filter)
    sl = load_window(engine, info.id, window, cohort_filter, base_only=True)
    lab = labelled(sl.frame)
    y, score, pred = binary_inputs(lab)
    b = resamples_for(len(lab)) if metric in perf.BOOTSTRAP_METRICS else 0
    ms = perf.classification_metrics(y, score, pred, metrics=(metric,), n_resamples=b)
    m = ms[metric]
    return MetricValue(metric, m.value, len(lab), window, {"ci_low": m.ci_low, "ci_high": m.ci_high,
                                                             "n_predictions": sl.n, "source": "rows"})  # fmt: skip


def _realized_summary(engine: Engine, mv: int, metric: str, window: Window,
                      cohort_filter: CohortFilter | None) -> MetricValue:  # fmt: skip
    """A realized metric of one window from its merged day summaries (histograms only)."""
    lw = summary_cache.window_summary(engine, mv, window, cohort_filter, sample=False)
    key = ("metric_value", md.engine_key(engine), mv, metric, window, norm_filter(cohort_filter), lw.token)

    def compute() -> MetricValue:
        w = lw.summary
        shape = (3, 2, sh.N_BINS)
        counts, sums = (w.counts[0], w.sums[0]) if w is not None else (np.zeros(shape, np.int64), np.zeros(shape))
        b = smx.resamples_for_cells(smx.n_cells(counts[None])) if metric in perf.BOOTSTRAP_METRICS else 0
        ms, bounds = smx.metric_set(counts, sums, (metric,), b, out_of_range=lw.out_of_range)
        m = ms[metric]
        n_lab = int(counts[sh.NEGATIVE :].sum())
        return MetricValue(metric, m.value, n_lab, window,
                           {"ci_low": m.ci_low, "ci_high": m.ci_high, "n_predictions": lw.n_rows,
                            "source": smx.SOURCE, "bound": bounds[metric]})  # fmt: skip

    return result_cache.get_or_compute(key, compute)
