"""A window's summary from its days' summaries, and the Monitoring metrics computed from it: the cost is
O(days x strata x bins), never O(rows) (docs/scale.md).

- `merge_window`: adds the days' histograms and counts stratum by stratum, and merges their samples
  into one uniform window sample (services/stats/priority_sample.py).
- `performance` / `cohort_performance`: realized metrics (exact counts; ROC AUC within its reported
  bound), `reliability`: the calibration diagram (exact).
- `fit_calibrator` / `estimated`: CBPE with a calibrator fitted on the reference window's labelled
  sample rows (as services/monitoring/estimated.py fits it on a sample of at most 50,000), the estimate
  exact (identity calibrator) or within its reported bound (isotonic).
- `drift`: Evidently's default rule per feature (services/stats/drift_select.py), on exact counts for
  categorical features and on the window samples for numeric ones, each row with the bound within which
  its distance can differ from the full-data distance (0 when exact).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from services.monitoring.day_summary import ALL, DaySummary, SummarySchema, add_categories, restratify
from services.stats import cbpe as cbpe_stats
from services.stats import drift_select as ds
from services.stats import priority_sample as ps
from services.stats import score_histogram as sh
from services.stats.drift_columns import CategoryCounts, SortedColumn

WINDOW_SAMPLE = 50_000  # rows of a window sample, as services/monitoring/blocks.SAMPLE_SIZE
CALIBRATION_ROWS = 50_000


@dataclass(frozen=True)
class WindowSummary:
    days: tuple[date, ...]
    schema: SummarySchema
    strata: tuple[tuple[str, str], ...]
    counts: np.ndarray  # (S, 3, 2, N_BINS)
    sums: np.ndarray
    present: np.ndarray  # (S, numeric features)
    categories: pd.DataFrame  # stratum, feature, category, count
    sample: pd.DataFrame
    sample_complete: bool
    n_rows: int

    def stratum(self, key: tuple[str, str] = ALL) -> int:
        return self.strata.index(key)

    def n(self, key: tuple[str, str] = ALL) -> int:
        return int(self.counts[self.stratum(key)].sum()) if key in self.strata else 0


def merge_window(summaries: Iterable[DaySummary], cap: int = WINDOW_SAMPLE, sample: bool = True) -> WindowSummary:
    """One window's summary from its days' (each day once). sample=False skips the window sample and the
    category counts (metrics over time need the histograms only)."""
    days = sorted(summaries, key=lambda s: s.day)
    if not days:
        raise ValueError("a window needs at least one day with data")
    schema = days[0].schema
    strata: list[tuple[str, str]] = [ALL]
    where = {ALL: 0}
    for s in days:
        for key in s.strata:
            if key not in where:
                where[key] = len(strata)
                strata.append(key)
    n_s = len(strata)
    counts = np.zeros((n_s, *days[0].counts.shape[1:]), dtype=np.int64)
    sums = np.zeros((n_s, *days[0].sums.shape[1:]), dtype=np.float64)
    present = np.zeros((n_s, len(schema.numeric)), dtype=np.int64)
    cats = []
    for s in days:
        idx = np.asarray([where[k] for k in s.strata], dtype=np.int64)
        counts[idx] += s.counts  # a day lists each stratum once: no repeated index
        sums[idx] += s.sums
        present[idx] += s.present
        if sample:
            cats.append(restratify(s.categories, idx))
    categories = add_categories(cats)
    if sample:
        columns = [c for c in days[0].sample.columns if c != "request_id"]  # metrics never read the ids
        rows, complete = ps.window_sample([s.sample for s in days], [s.threshold for s in days], cap, columns)
    else:
        rows, complete = days[0].sample.iloc[:0], False
    return WindowSummary(tuple(s.day for s in days), schema, tuple(strata), counts, sums, present, categories, rows,
                         complete, sum(s.n_rows for s in days))  # fmt: skip


def performance(window: WindowSummary, key: tuple[str, str] = ALL) -> sh.HistogramMetrics:
    return sh.classification_metrics(window.counts[window.stratum(key)])


def cohort_performance(window: WindowSummary, field: str) -> list[tuple[str, sh.HistogramMetrics]]:
    """Realized metrics of each value of one cohort field (most labelled rows first)."""
    out = [(v, sh.classification_metrics(window.counts[i])) for i, (f, v) in enumerate(window.strata) if f == field]
    return sorted(out, key=lambda item: -item[1].n)


def reliability(window: WindowSummary, key: tuple[str, str] = ALL, n_bins: int = 10):
    i = window.stratum(key)
    return sh.reliability_from_histograms(window.counts[i], window.sums[i], n_bins)


def labelled_sample(window: WindowSummary, key: tuple[str, str] = ALL) -> pd.DataFrame:
    s = window.sample
    if key != ALL:
        s = s[s[key[0]] == key[1]]
    return s[s["label"].notna()]


def fit_calibrator(reference: WindowSummary, key: tuple[str, str] = ALL,
                   min_rows: int = 100) -> tuple[cbpe_stats.ScoreCalibrator, int]:  # fmt: skip
    """NannyML's calibration rule on the reference window's labelled sample rows (a uniform sample of
    its labelled rows, at most CALIBRATION_ROWS)."""
    lab = labelled_sample(reference, key).sort_values(ps.PRIORITY).head(CALIBRATION_ROWS)
    y, p = lab["label"].to_numpy(dtype=np.float64), lab["score"].to_numpy(dtype=np.float64)
    if len(lab) < min_rows or np.unique(y).size < 2:
        return cbpe_stats.ScoreCalibrator("none"), len(lab)
    return cbpe_stats.fit_calibrator(y, p, method="auto"), len(lab)


def estimated(window: WindowSummary, calibrator: cbpe_stats.ScoreCalibrator, key: tuple[str, str] = ALL,
              n_simulations: int = cbpe_stats.AUC_SIMULATIONS, seed: int = 0) -> sh.HistogramCBPE:  # fmt: skip
    i = window.stratum(key)
    return sh.cbpe_from_histograms(window.counts[i], window.sums[i], calibrator, n_simulations=n_simulations,
                                   seed=seed)  # fmt: skip


@dataclass(frozen=True)
class SummaryDrift:
    column: str
    kind: str
    drift: ds.ColumnDrift
    bound: float  # how far the distance (or p-value) can be from the full-data one; 0.0 exact
    exact: bool

    @property
    def drifted(self) -> bool:
        return self.drift.drifted


def category_counts(reference: WindowSummary, current: WindowSummary, feature: str,
                    key: tuple[str, str] = ALL) -> CategoryCounts:  # fmt: skip
    """Exact reference and current counts of one categorical feature, on sorted categories (as
    services.stats.drift_columns.category_counts orders them)."""

    def counts(w: WindowSummary) -> pd.Series:
        if key not in w.strata:
            return pd.Series(dtype=np.int64)
        c = w.categories
        c = c[(c["stratum"] == w.stratum(key)) & (c["feature"] == feature)]
        return c.groupby("category")["count"].sum()

    r, c = counts(reference), counts(current)
    cats = sorted(set(r.index) | set(c.index))
    ref = r.reindex(cats, fill_value=0).to_numpy(dtype=np.int64)
    cur = c.reindex(cats, fill_value=0).to_numpy(dtype=np.int64)
    return CategoryCounts(tuple(cats), ref, cur)


def drift(reference: WindowSummary, current: WindowSummary, key: tuple[str, str] = ALL) -> list[SummaryDrift]:
    """Every feature's drift between two windows by the default rule."""
    out = []
    schema = reference.schema
    for feat in schema.categorical:
        col = ds.PreparedColumn("categorical", counts=category_counts(reference, current, feat, key))
        out.append(SummaryDrift(feat, "categorical", ds.column_drift(feat, col), 0.0, True))
    ref_s, cur_s = _stratum_sample(reference, key), _stratum_sample(current, key)
    complete_r = reference.sample_complete
    complete_c = current.sample_complete
    for j, feat in enumerate(schema.numeric):
        n_ref = int(reference.present[reference.stratum(key), j]) if key in reference.strata else 0
        col = ds.PreparedColumn("numeric", SortedColumn.of(ref_s[feat].to_numpy(dtype=np.float64)),
                                SortedColumn.of(cur_s[feat].to_numpy(dtype=np.float64)))  # fmt: skip
        result = ds.column_drift(feat, col, n_reference=n_ref)
        exact = complete_r and complete_c
        bound = 0.0 if exact else ps.wasserstein_bound(col.n_reference, col.n_current, complete_r, complete_c)
        if result.choice.method != "wasserstein" and not exact:
            bound = float("nan")  # p-value tests on a sampled window: the page says the p-value is the sample's
        out.append(SummaryDrift(feat, "numeric", result, bound, exact))
    return out


def _stratum_sample(window: WindowSummary, key: tuple[str, str]) -> pd.DataFrame:
    return window.sample if key == ALL else window.sample[window.sample[key[0]] == key[1]]
