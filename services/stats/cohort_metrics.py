"""Metrics per cohort with 95% intervals, each cohort compared with all other rows (its gap and the
gap's interval), ranked by how far it falls below the rest; cohorts under the minimum size are
listed but not ranked. Same intervals as services.stats.performance (Wilson, stratified bootstrap)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from services.stats.performance import (
    CONFIDENCE,
    DEFAULT_MIN_COHORT_SIZE,
    DEFAULT_RESAMPLES,
    LOWER_IS_BETTER,
    METRICS,
    PROPORTION_METRICS,
    MetricCI,
    MetricSet,
    Weighted,
    build_metric_set,
    check_metrics,
    classification_metrics,
    gap_of,
    metric_point_values,
    percentile_bounds,
    prepare_inputs,
    proportion_parts,
    rest_sums_of,
    run_bootstrap,
)


@dataclass(frozen=True)
class CohortRow:
    cohort: tuple  # one label per cohort field
    n: int
    metrics: MetricSet
    rest_value: float  # the ranking metric on all other rows
    gap: float  # negative = worse than the rest
    gap_ci_low: float
    gap_ci_high: float
    p_value: float | None  # two-proportion z-test (proportions only)
    too_small: bool
    rank: int | None  # 1 = furthest below the rest; None when too small
    flagged: bool  # the gap's interval lies entirely below zero


@dataclass(frozen=True)
class CohortTable:
    fields: tuple[str, ...]
    rank_by: str
    min_size: int
    overall: MetricSet
    rows: tuple[CohortRow, ...]  # ranked cohorts first (worst first), then the too-small ones

    @property
    def flagged(self) -> tuple[CohortRow, ...]:
        return tuple(r for r in self.rows if r.flagged)


def cohort_codes(
    cohorts: npt.ArrayLike | pd.Series | pd.DataFrame | Sequence[npt.ArrayLike],
) -> tuple[np.ndarray, list[tuple], tuple[str, ...]]:
    """Integer codes for one or two cohort fields (missing values become their own cohort, None)."""
    if isinstance(cohorts, pd.DataFrame):
        fields = tuple(str(c) for c in cohorts.columns)
        columns = [cohorts[c] for c in cohorts.columns]
    elif isinstance(cohorts, pd.Series):
        fields, columns = (str(cohorts.name or "cohort"),), [cohorts]
    elif isinstance(cohorts, (list, tuple)) and cohorts and np.ndim(cohorts[0]) == 1:
        columns = list(cohorts)
        fields = tuple(f"cohort_{i + 1}" for i in range(len(columns)))
    else:
        fields, columns = ("cohort",), [cohorts]
    if not 1 <= len(columns) <= 2:
        raise ValueError("slice by one or two cohort fields")
    field_codes, field_uniques = [], []
    for col in columns:
        c, u = pd.factorize(col if isinstance(col, pd.Series) else pd.Series(col), use_na_sentinel=False)
        field_codes.append(c.astype(np.int64))
        field_uniques.append(list(u))
    codes = field_codes[0]
    for c, u in zip(field_codes[1:], field_uniques[1:], strict=True):
        codes = codes * max(len(u), 1) + c
    combo, first_rows = np.unique(codes, return_index=True)
    compact = np.searchsorted(combo, codes)
    labels = [tuple(_label(u[c[row]]) for c, u in zip(field_codes, field_uniques, strict=True)) for row in first_rows]
    return compact.astype(np.int64), labels, fields


def _label(v: object) -> object:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    return v.item() if isinstance(v, np.generic) else v


def cohort_table(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    cohorts: npt.ArrayLike | pd.Series | pd.DataFrame | Sequence[npt.ArrayLike],
    y_pred: npt.ArrayLike | None = None,
    threshold: float = 0.5,
    rank_by: str = "accuracy",
    min_size: int = DEFAULT_MIN_COHORT_SIZE,
    metrics: Sequence[str] = METRICS,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    weighted: Weighted | None = None,
) -> CohortTable:
    """Metrics per cohort (one or two cohort fields), ranked by how far each falls below the rest.
    weighted: rows that stand for many alike rows (histogram cells; services.stats.performance.Weighted)."""
    check_metrics(metrics)
    if rank_by not in METRICS:
        raise ValueError(f"rank_by must be one of {METRICS}")
    metrics = tuple(metrics) if rank_by in metrics else (*metrics, rank_by)
    y, score, pred = prepare_inputs(y_true, y_score, y_pred, threshold)
    codes, labels, fields = cohort_codes(cohorts)
    if codes.size != y.size:
        raise ValueError("cohort labels must have one value per row")
    k = len(labels)
    c = run_bootstrap(
        y, score, pred, codes, k, metrics, n_resamples, seed, confidence, rest_metric=rank_by, with_overall=True,
        weighted=weighted,
    )  # fmt: skip
    values, cis, sums, gap_reps = c.values, c.cis, c.sums, c.gap_reps
    rest_values = metric_point_values(rest_sums_of(sums))[rank_by]
    gaps = gap_of(rank_by, values[rank_by], rest_values)
    gap_lo, gap_hi = np.full(k, np.nan), np.full(k, np.nan)
    p_values: list[float | None] = [None] * k
    if rank_by in PROPORTION_METRICS:
        count, nobs = proportion_parts(rank_by, sums)
        r_count, r_nobs = proportion_parts(rank_by, rest_sums_of(sums))
        for i in range(k):
            if nobs[i] > 0 and r_nobs[i] > 0:
                _, p = proportions_ztest([count[i], r_count[i]], [nobs[i], r_nobs[i]])
                p_values[i] = float(p) if np.isfinite(p) else 1.0
                lo, hi = confint_proportions_2indep(
                    count[i], nobs[i], r_count[i], r_nobs[i], method="newcomb", compare="diff", alpha=1 - confidence
                )
                gap_lo[i], gap_hi[i] = float(lo), float(hi)
    elif gap_reps is not None:
        tail = (1 - confidence) / 2 * 100
        lo, hi = percentile_bounds(gap_reps, tail)
        gap_lo, gap_hi = lo, hi

    too_small = sums["n"] < min_size
    rankable = [i for i in range(k) if not too_small[i] and np.isfinite(gaps[i])]
    rankable.sort(key=lambda i: gaps[i])
    ranks = {i: r + 1 for r, i in enumerate(rankable)}
    order = rankable + sorted((i for i in range(k) if i not in ranks), key=lambda i: -sums["n"][i])
    rows = []
    for i in order:
        rows.append(
            CohortRow(
                cohort=labels[i],
                n=int(round(sums["n"][i])),
                metrics=build_metric_set(values, cis, sums, metrics, i, n_resamples, confidence),
                rest_value=float(rest_values[i]),
                gap=float(gaps[i]),
                gap_ci_low=float(gap_lo[i]),
                gap_ci_high=float(gap_hi[i]),
                p_value=p_values[i],
                too_small=bool(too_small[i]),
                rank=ranks.get(i),
                flagged=bool(i in ranks and np.isfinite(gap_hi[i]) and gap_hi[i] < 0),
            )
        )
    if c.overall is not None:
        o_values, o_cis, o_sums = c.overall
        overall = build_metric_set(o_values, o_cis, o_sums, metrics, 0, n_resamples, confidence)
    else:  # no rows
        overall = classification_metrics(y, score, pred, metrics=metrics, n_resamples=0)
    return CohortTable(fields, rank_by, min_size, overall, tuple(rows))


@dataclass(frozen=True)
class MetricChange:
    """One metric of the same cohort in two windows: now minus before, with its interval."""

    metric: str
    now: float
    before: float
    change: float  # now - before (for log loss and Brier a rise is a regression)
    ci_low: float
    ci_high: float
    method: str  # "newcomb" (proportions) or "MOVER" (from the two windows' intervals)
    confidence: float = CONFIDENCE

    @property
    def regression(self) -> float:
        """How much worse it got: positive when worse, whatever the metric's direction."""
        return self.change if self.metric in LOWER_IS_BETTER else -self.change

    @property
    def worse(self) -> bool:
        """The whole interval of the change lies on the worse side of zero."""
        if self.metric in LOWER_IS_BETTER:
            return bool(np.isfinite(self.ci_low) and self.ci_low > 0)
        return bool(np.isfinite(self.ci_high) and self.ci_high < 0)


def metric_change(now: MetricCI, before: MetricCI, confidence: float = CONFIDENCE) -> MetricChange:
    """The change of one metric between two windows of the same cohort (independent rows). Proportions
    (accuracy, precision, recall, positive rate): Newcomb's hybrid score interval of the difference
    (statsmodels confint_proportions_2indep, method "newcomb"). Other metrics: MOVER (Zou & Donner 2008)
    from the two windows' own intervals (the same construction, applied to bootstrap intervals)."""
    if now.metric != before.metric:
        raise ValueError("compare the same metric in both windows")
    d = now.value - before.value
    if not (np.isfinite(now.value) and np.isfinite(before.value)):
        return MetricChange(now.metric, now.value, before.value, float("nan"), float("nan"), float("nan"), "none")
    if now.metric in PROPORTION_METRICS and now.n > 0 and before.n > 0:
        lo, hi = confint_proportions_2indep(
            round(now.value * now.n), now.n, round(before.value * before.n), before.n,
            method="newcomb", compare="diff", alpha=1 - confidence,
        )  # fmt: skip
        return MetricChange(now.metric, now.value, before.value, d, float(lo), float(hi), "newcomb", confidence)
    lo = d - np.sqrt((now.value - now.ci_low) ** 2 + (before.ci_high - before.value) ** 2)
    hi = d + np.sqrt((now.ci_high - now.value) ** 2 + (before.value - before.ci_low) ** 2)
    return MetricChange(now.metric, now.value, before.value, d, float(lo), float(hi), "MOVER", confidence)
