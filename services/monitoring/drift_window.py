"""Drift of every column between a reference and a current window (Evidently's default rules,
per-column overrides), with the distributions the page draws."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from services.monitoring import blocks as md
from services.monitoring import drift_summary
from services.monitoring.day_summary import DaySummary
from services.monitoring.frames import WindowSlice, feature_columns, load_window, result_cache
from services.monitoring.overrides import overrides
from services.monitoring.summary_merge import WindowSummary
from services.monitoring.views import (
    DATASET_DRIFT_SHARE,
    DISTRIBUTION_BINS,
    MAX_CATEGORIES_SHOWN,
    METHOD_NOTES,
    OUTCOME_LABEL,
    OUTPUT_COLUMNS,
    PREDICTION_LABEL,
    PREDICTION_SCORE,
    CohortFilter,
    VersionInfo,
    Window,
    get_version,
    norm_filter,
)
from services.stats import drift_columns
from services.stats import drift_select as ds
from services.stats import priority_sample as ps
from services.stats.drift import Method
from services.stats.drift_columns import CategoryCounts, SortedColumn

# --- drift -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """Shares of reference and current rows per bin (numeric) or category, for plotting."""

    kind: str  # "bins" or "categories"
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] = ()  # bins: len(labels) + 1 edges
    n_reference: int = 0
    n_current: int = 0


@dataclass(frozen=True)
class DriftRow:
    column: str
    role: str  # feature, prediction, outcome
    kind: str  # numeric, categorical
    method: str
    method_label: str
    statistic: float
    p_value: float | None
    distance: float | None
    score: float
    threshold: float
    drifted: bool
    overridden: bool
    reason: str
    n_reference: int  # non-missing values in the reference window
    n_current: int
    tested_reference: int  # values the test read (a sample for numeric columns above SAMPLE_SIZE values)
    tested_current: int
    n_unique: int
    applicable: tuple[str, ...]
    detail: str
    note: str
    distribution: Distribution
    status: str = "tested"  # tested, not_testable (id-like column), data_quality (no values in a window)
    problem: str = ""
    # Exact when the test read every value (counts, or numeric columns read whole); else approximate, and
    # `bound` is how far the score can be from the full-data score (99% of draws; the normed Wasserstein
    # distance), None when no bound is computed (a p-value or another distance read on a sample).
    exact: bool = True
    bound: float | None = 0.0

    @property
    def is_p_value(self) -> bool:
        return self.p_value is not None

    @property
    def tested(self) -> bool:
        return self.status == "tested"

    @property
    def past_threshold(self) -> float:
        """How far the score is past its threshold, as a ratio: at least 1 when the column drifted (distance
        / threshold for distances, threshold / p for p-values: p = 0.001 at 0.05 is 50x). NaN when untested."""
        if not self.tested or not math.isfinite(self.score):
            return float("nan")
        if self.is_p_value:
            return self.threshold / max(self.score, 1e-300)
        return self.score / self.threshold if self.threshold > 0 else float("inf")


@dataclass(frozen=True)
class DriftReport:
    model_version_id: int
    model_name: str
    reference: Window
    current: Window
    cohort_filter: tuple
    rows: tuple[DriftRow, ...]
    n_features: int
    n_drifted: int
    share_drifted: float
    drift_share: float
    drifted: bool
    n_reference: int
    n_current: int
    sample_size: int = md.SAMPLE_SIZE
    n_tested: int = 0  # features a test could read: the share's denominator
    source: str = drift_summary.ROWS  # where the numbers come from: day summaries or rows (day blocks)
    source_note: str = ""  # why rows, when rows; which days were summarised from their blocks
    from_blocks: tuple[date, ...] = ()

    @property
    def exact(self) -> bool:
        return all(r.exact for r in self.rows)

    @property
    def problems(self) -> tuple[DriftRow, ...]:
        """Columns not tested: id-like columns and data-quality problems (neither drifted nor not drifted)."""
        return tuple(r for r in self.rows if not r.tested)

    @property
    def features(self) -> tuple[DriftRow, ...]:
        return tuple(r for r in self.rows if r.role == "feature")

    @property
    def outputs(self) -> tuple[DriftRow, ...]:
        return tuple(r for r in self.rows if r.role != "feature")

    @property
    def by_excess(self) -> tuple[DriftRow, ...]:
        """The rows furthest past their threshold first (drifted ones on top), untested ones last."""
        tested = sorted((r for r in self.rows if r.tested and math.isfinite(r.past_threshold)),
                        key=lambda r: (-r.past_threshold, r.column))  # fmt: skip
        return tuple(tested) + tuple(r for r in self.rows if r not in tested)

    def column(self, name: str) -> DriftRow:
        for r in self.rows:
            if r.column == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True, eq=False)
class Prepared:
    """One window prepared for drift: sorted samples of numeric columns, exact counts of categorical ones."""

    n: int
    numeric: dict[str, SortedColumn]  # column -> sorted sample values
    numeric_n: dict[str, int]  # column -> non-missing values in the whole window
    counts: dict[str, pd.Series]  # column -> value counts (whole window; index = category text)
    missing: dict[str, int]
    sampled: bool
    # Sampled numeric columns whose sample shows at most 5 distinct values: the whole window's distinct
    # values (at most 6 kept), so the default rule's "more than 5 values?" reads the whole window.
    distinct: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = drift_summary.ROWS  # day summaries or rows (day blocks)
    source_note: str = ""
    from_blocks: tuple[date, ...] = ()  # days summarised from their blocks (no current stored summary)


def numeric_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column == PREDICTION_SCORE:
        return frame["score"].to_numpy(dtype=np.float64)
    return frame[md.FEATURE_PREFIX + column].to_numpy(dtype=np.float64, na_value=np.nan)


def category_series(frame: pd.DataFrame, column: str) -> pd.Series:
    if column == PREDICTION_LABEL:
        return frame["predicted_label"]
    if column == OUTCOME_LABEL:
        return frame["label"].dropna().astype(np.int64)
    return frame[md.FEATURE_PREFIX + column]


def _prepare(sl: WindowSlice, kinds: Mapping[str, str], seed: int) -> Prepared:
    """Numeric columns: a uniform sample of at most SAMPLE_SIZE of the column's non-missing values (all
    of them when there are fewer), drawn with one seed, so columns without missing values read the same
    rows. Sampling the present values, not the rows, keeps a sparse column whole: a column with 1,490
    values in a 100,000-row window reads all 1,490."""
    frame = sl.frame
    numeric, numeric_n, counts, missing, distinct = {}, {}, {}, {}, {}
    positions: dict[int, np.ndarray | None] = {}  # sample positions per count of present values
    sampled = False
    for column, kind in kinds.items():
        if kind == "numeric":
            full = numeric_values(frame, column)
            present = np.isfinite(full)
            finite = int(present.sum())
            numeric_n[column] = finite
            missing[column] = len(full) - finite
            if finite not in positions:
                positions[finite] = md.uniform_sample(finite, md.SAMPLE_SIZE, seed)
            idx = positions[finite]
            if idx is None:
                numeric[column] = SortedColumn.of(full)
            else:
                values = full if finite == len(full) else full[present]
                numeric[column] = SortedColumn.of(values[idx])
                sampled = True
                if numeric[column].n_unique <= ds.LOW_CARDINALITY_MAX_UNIQUE:
                    distinct[column] = few_distinct(values)
        else:
            s = category_series(frame, column)
            vc = s.value_counts(dropna=True, sort=False)
            vc = vc[vc > 0]
            vc.index = [str(v) for v in vc.index]
            counts[column] = vc
            missing[column] = int(s.isna().sum()) if column != OUTCOME_LABEL else 0
    return Prepared(len(frame), numeric, numeric_n, counts, missing, sampled, distinct)


def few_distinct(values: np.ndarray) -> np.ndarray:
    """Up to LOW_CARDINALITY_MAX_UNIQUE + 1 distinct values of finite `values`, sorted (one hash pass)."""
    return np.sort(pd.unique(values)[: ds.LOW_CARDINALITY_MAX_UNIQUE + 1])


def _whole_window_unique(column: str, ref: Prepared, cur: Prepared) -> int | None:
    """Distinct values of a numeric column over both whole windows when a sample may have missed some
    (None when the samples answer the default rule's question already)."""
    if column not in ref.distinct and column not in cur.distinct:
        return None
    r = ref.distinct.get(column, ref.numeric[column].distinct)
    c = cur.distinct.get(column, cur.numeric[column].distinct)
    return int(np.union1d(r, c).size)


def _aligned_counts(ref: pd.Series, cur: pd.Series, missing_ref: int = 0, missing_cur: int = 0) -> CategoryCounts:
    """As drift.category_counts: categories seen in either window, sorted, counts aligned."""
    labels = sorted(set(ref.index) | set(cur.index))
    r = np.array([int(ref.get(c, 0)) for c in labels], dtype=np.int64)
    c = np.array([int(cur.get(c, 0)) for c in labels], dtype=np.int64)
    return CategoryCounts(tuple(labels), r, c, missing_ref, missing_cur)


def _distribution_numeric(ref: SortedColumn, cur: SortedColumn) -> Distribution:
    if ref.n == 0 and cur.n == 0:
        return Distribution("bins", (), (), (), (), 0, 0)
    both = np.concatenate([ref.values, cur.values])
    distinct = np.unique(both) if both.size <= 200_000 else None
    if distinct is not None and distinct.size <= drift_columns.BINNING_MIN_UNIQUE:

        def shares(col: SortedColumn) -> tuple[float, ...]:
            if col.n == 0:
                return tuple(0.0 for _ in distinct)
            left = np.searchsorted(col.values, distinct, side="left")
            right = np.searchsorted(col.values, distinct, side="right")
            return tuple(((right - left) / col.n).tolist())

        labels = tuple(f"{v:g}" for v in distinct)
        return Distribution("categories", labels, shares(ref), shares(cur), (), ref.n, cur.n)
    lo, hi = np.quantile(both, [0.005, 0.995])
    if not hi > lo:
        lo, hi = float(both.min()), float(both.max())
    if not hi > lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, DISTRIBUTION_BINS + 1)

    def hist(col: SortedColumn) -> tuple[float, ...]:
        if col.n == 0:
            return tuple(0.0 for _ in range(DISTRIBUTION_BINS))
        counts, _ = np.histogram(np.clip(col.values, lo, hi), edges)
        return tuple((counts / col.n).tolist())

    labels = tuple(f"{a:.4g} to {b:.4g}" for a, b in zip(edges[:-1], edges[1:], strict=True))
    return Distribution("bins", labels, hist(ref), hist(cur), tuple(edges.tolist()), ref.n, cur.n)


def _distribution_categorical(counts: CategoryCounts) -> Distribution:
    n_r, n_c = counts.n_reference, counts.n_current
    r = counts.reference / n_r if n_r else np.zeros(counts.k)
    c = counts.current / n_c if n_c else np.zeros(counts.k)
    labels = list(counts.categories)
    if len(labels) > MAX_CATEGORIES_SHOWN:
        order = np.argsort(-(counts.reference + counts.current), kind="stable")
        keep, rest = order[: MAX_CATEGORIES_SHOWN - 1], order[MAX_CATEGORIES_SHOWN - 1 :]
        labels = [labels[i] for i in keep] + [f"other ({len(rest)})"]
        r = np.append(r[keep], r[rest].sum())
        c = np.append(c[keep], c[rest].sum())
    return Distribution("categories", tuple(str(x) for x in labels), tuple(r.tolist()), tuple(c.tolist()), (), n_r, n_c)


def column_role(column: str) -> str:
    if column == OUTCOME_LABEL:
        return "outcome"
    return "prediction" if column in OUTPUT_COLUMNS else "feature"


def column_result(
    column: str, kind: str, ref: Prepared, cur: Prepared, override: ds.ColumnOverride | None,
    with_distribution: bool = True,
) -> DriftRow:  # fmt: skip
    if kind == "numeric":
        prepared = ds.PreparedColumn("numeric", ref.numeric[column], cur.numeric[column])
        n_ref, n_cur = ref.numeric_n[column], cur.numeric_n[column]
        n_unique = _whole_window_unique(column, ref, cur)
    else:
        counts = _aligned_counts(ref.counts[column], cur.counts[column], ref.missing[column], cur.missing[column])
        prepared = ds.PreparedColumn("categorical", counts=counts)
        n_ref, n_cur = counts.n_reference, counts.n_current
        n_unique = None
    note_extra = ""
    # The test is chosen from the whole windows' counts: a sampled window gets the test the whole one would.
    try:
        result = ds.column_drift(column, prepared, override=override, n_reference=n_ref, n_unique=n_unique)
    except ValueError as exc:  # a saved override that no longer applies to this data
        result = ds.column_drift(column, prepared, n_reference=n_ref, n_unique=n_unique)
        note_extra = f" The saved override was not applied: {exc}."
    r = result.result
    if with_distribution:
        dist = (
            _distribution_numeric(ref.numeric[column], cur.numeric[column])
            if kind == "numeric"
            else _distribution_categorical(prepared.counts)  # type: ignore[arg-type]
        )
    else:
        dist = Distribution(kind, (), (), ())
    score = r.score
    exact, bound = exactness(kind, str(r.method), r.n_reference, n_ref, r.n_current, n_cur)
    if result.status != "tested":
        exact, bound = True, 0.0  # no score to be exact about
    return DriftRow(
        column=column, role=column_role(column), kind=kind, method=str(r.method), method_label=r.label,
        statistic=r.statistic, p_value=r.p_value, distance=r.distance, score=float(score), threshold=r.threshold,
        drifted=r.drifted, overridden=result.choice.overridden, reason=result.choice.reason + note_extra,
        n_reference=n_ref, n_current=n_cur, tested_reference=r.n_reference, tested_current=r.n_current,
        n_unique=result.n_unique, applicable=ds.applicable_methods(kind, result.n_unique), detail=r.detail,
        note=_note(result, r.method), distribution=dist, status=result.status,
        problem=result.problem, exact=exact, bound=bound,
    )  # fmt: skip


def exactness(
    kind: str, method: str, tested_ref: int, n_ref: int, tested_cur: int, n_cur: int
) -> tuple[bool, float | None]:
    """(exact, bound) of one column's score: categorical columns read exact counts; a numeric column read
    whole is exact; a sampled one is within the normed Wasserstein bound of services/stats/priority_sample
    (99% of draws) when its test is Wasserstein, else approximate without a bound (None: the sample's
    p-value or distance)."""
    ref_whole, cur_whole = tested_ref >= n_ref, tested_cur >= n_cur
    if kind != "numeric" or (ref_whole and cur_whole):
        return True, 0.0
    if method != Method.WASSERSTEIN:
        return False, None
    return False, ps.wasserstein_bound(tested_ref, tested_cur, ref_whole, cur_whole)


def _note(result: ds.ColumnDrift, method: str) -> str:
    if result.status == "not_testable":
        return ds.NOT_TESTABLE_NOTE
    return result.problem or METHOD_NOTES.get(method, "")


def drift_kinds(frame: pd.DataFrame, info: VersionInfo) -> dict[str, str]:
    kinds = feature_columns(frame)
    kinds.update(OUTPUT_COLUMNS)
    return kinds


def prepared_window(
    engine: Engine, info: VersionInfo, window: Window, cohort_filter: CohortFilter | None, *, rows: bool = False,
) -> tuple[Prepared, tuple, dict[str, str]]:  # fmt: skip
    """The window prepared for drift, with its data token and its columns' kinds: from day summaries
    (summary_cache) unless the filter is on two cohort fields, the rows are not a binary classifier's, or
    `rows` asks for every row (the exact row path, O(rows): for checks)."""
    filt = norm_filter(cohort_filter)
    note = ""
    if not rows:
        days, token, from_blocks, note = drift_summary.window_days(engine, info.id, window, cohort_filter, filt)
        if days:
            key = ("prepared", drift_summary.SUMMARIES, md.engine_key(engine), info.id, window, filt, token)
            prepared = result_cache.get_or_compute(key, lambda: days_prepared(days, from_blocks))
            return prepared, (drift_summary.SUMMARIES, token), drift_summary.kinds_of(days[0].schema)
    prepared, token, kinds = _rows_prepared(engine, info, window, cohort_filter)
    return (replace(prepared, source_note=note) if note else prepared), token, kinds


def days_prepared(days: list[DaySummary], from_blocks: tuple[date, ...] = (),
                  cap: int = drift_summary.WINDOW_SAMPLE) -> Prepared:  # fmt: skip
    """A window prepared for drift from its days' summaries (restricted to the cohort by summary_cache):
    only what drift reads is added up (drift_summary.days_inputs), no whole-summary merge."""
    (n, numeric, numeric_n, counts, missing), complete = drift_summary.days_inputs(days, cap)
    return Prepared(n, numeric, numeric_n, counts, missing, not complete, source=drift_summary.SUMMARIES,
                    source_note=drift_summary.from_blocks_note(from_blocks), from_blocks=from_blocks)  # fmt: skip


def summary_prepared(summary: WindowSummary, from_blocks: tuple[date, ...] = ()) -> Prepared:
    """A merged window summary prepared for drift (its every-row stratum: the cohort's when filtered)."""
    n, numeric, numeric_n, counts, missing = drift_summary.drift_inputs(summary)
    return Prepared(n, numeric, numeric_n, counts, missing, not summary.sample_complete,
                    source=drift_summary.SUMMARIES, source_note=drift_summary.from_blocks_note(from_blocks),
                    from_blocks=from_blocks)  # fmt: skip


def _rows_prepared(
    engine: Engine, info: VersionInfo, window: Window, cohort_filter: CohortFilter | None,
) -> tuple[Prepared, tuple, dict[str, str]]:  # fmt: skip
    sl = load_window(engine, info.id, window, cohort_filter)
    filt = norm_filter(cohort_filter)
    key = ("prepared", drift_summary.ROWS, md.engine_key(engine), info.id, window, filt, sl.token)
    seed = md.seed_for(info.id, window, filt, sl.token)
    kinds = drift_kinds(sl.frame, info)
    prepared = result_cache.get_or_compute(key, lambda: _prepare(sl, kinds, seed))
    return prepared, sl.token, kinds


def drift_report(
    engine: Engine, model_version_id: int, reference: Window, current: Window,
    cohort_filter: CohortFilter | None = None, *, rows: bool = False,
) -> DriftReport:  # fmt: skip
    """Per column drift of `current` against `reference` with the saved overrides; dataset drift share.
    From day summaries where they hold the view (see prepared_window; rows=True: every row, exact)."""
    info = get_version(engine, model_version_id)
    saved = overrides(engine, info.model_name)
    ref, ref_token, ref_kinds = prepared_window(engine, info, reference, cohort_filter, rows=rows)
    cur, cur_token, cur_kinds = prepared_window(engine, info, current, cohort_filter, rows=rows)
    filt = norm_filter(cohort_filter)
    key = ("drift", md.engine_key(engine), info.id, reference, current, filt, ref_token, cur_token,
           tuple(sorted(saved.items())))  # fmt: skip

    def compute() -> DriftReport:
        kinds = {c: k for c, k in ref_kinds.items() if cur_kinds.get(c) == k}
        rows = tuple(column_result(c, k, ref, cur, saved.get(c)) for c, k in ordered_rows(kinds).items())
        features = [r for r in rows if r.role == "feature"]
        # Untestable columns and data-quality problems count neither as drifted nor as not drifted.
        n_tested = sum(r.tested for r in features)
        n_drifted = sum(r.drifted for r in features if r.tested)
        share = n_drifted / n_tested if n_tested else 0.0
        summaries = ref.source == cur.source == drift_summary.SUMMARIES
        return DriftReport(
            info.id, info.model_name, reference, current, filt, rows, len(features), n_drifted, share,
            DATASET_DRIFT_SHARE, bool(n_tested) and share >= DATASET_DRIFT_SHARE, ref.n, cur.n,
            n_tested=n_tested, source=drift_summary.SUMMARIES if summaries else drift_summary.ROWS,
            source_note=_source_note(ref, cur), from_blocks=tuple(sorted(set(ref.from_blocks + cur.from_blocks))),
        )  # fmt: skip

    return result_cache.get_or_compute(key, compute)


def _source_note(ref: Prepared, cur: Prepared) -> str:
    if ref.source_note == cur.source_note:
        return ref.source_note
    notes = [f"{name} window {p.source_note}" for name, p in (("reference", ref), ("current", cur)) if p.source_note]
    return "; ".join(notes)


def ordered_rows(kinds: Mapping[str, str]) -> dict[str, str]:
    features = sorted(c for c in kinds if c not in OUTPUT_COLUMNS)
    outputs = [c for c in OUTPUT_COLUMNS if c in kinds]
    return {c: kinds[c] for c in features + outputs}
