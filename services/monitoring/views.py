"""Monitoring: is the model still right, for whom, and since when?

Windows: a reference and a current window (UTC days, inclusive), or rolling daily / weekly windows
over a model version's data. Rows come from the columnar day blocks of services/monitoring/blocks.py
(never from the JSON columns at page time); computed results are cached in-process, keyed by the
database, the version, the windows, the cohort filter, the saved overrides and the generations of the
blocks they read, so a new import invalidates exactly what it changed and revisiting is instant.

Drift (per column: each feature, the prediction score and predicted label, the outcome label):
Evidently's default rule via services/stats/drift_select (reference <= 1000 rows: KS / chi-square /
z-test at p < 0.05; above: normed Wasserstein / Jensen-Shannon at >= 0.1), dataset drift when the
share of drifted features is >= 0.5, and a saved per-column override of test and threshold. Numeric
tests read a uniform sample of at most monitoring_data.SAMPLE_SIZE non-missing values per column and
window, the test being chosen from the whole window's counts; categorical tests read the exact counts
of the whole window (see monitoring_data for what sampling does to verdicts).

Performance (wherever outcomes are known): services/stats/performance, per cohort (one field, two
fields, or every field one at a time, ranked by how far each cohort falls below the rest, cohorts
under `min_size` flagged and not ranked) and over time. Bootstrap intervals (F1, ROC AUC, log loss,
Brier) cost one pass over the rows per resample, so the number of resamples follows a budget of
BOOTSTRAP_ROW_BUDGET row-passes: 200 up to 25,000 labelled rows, fewer above (never under 30); the
page shows the number used. Proportions use Wilson intervals and need no resampling.

Calibration: reliability diagram and ECE overall and per cohort (services/stats/calibration).

Estimated performance: CBPE (services/stats/cbpe) with the calibrator fitted on the reference
window's labelled rows (a uniform sample of at most SAMPLE_SIZE of them), estimated for every rolling
window and shown beside the realized values where outcomes are known.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import select
from threadpoolctl import ThreadpoolController

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema import DriftOverride, ModelVersion
from services.core.timeutil import utcnow
from services.monitoring import blocks as md
from services.stats import cbpe as cbpe_stats
from services.stats import drift as d
from services.stats import drift_select as ds
from services.stats import performance as perf
from services.stats.calibration import CohortCalibration, ReliabilityDiagram, calibration_by_cohort, reliability_diagram
from services.stats.drift import CategoryCounts, SortedColumn

Progress = Callable[[float, str], None]
CohortFilter = Mapping[str, Sequence[str] | str]

PREDICTION_SCORE = "prediction.score"
PREDICTION_LABEL = "prediction.label"
OUTCOME_LABEL = "outcome.label"
OUTPUT_COLUMNS = {PREDICTION_SCORE: "numeric", PREDICTION_LABEL: "categorical", OUTCOME_LABEL: "categorical"}
DATASET_DRIFT_SHARE = ds.DATASET_DRIFT_SHARE
GRANULARITIES = ("day", "week")
DEFAULT_REFERENCE_DAYS = 14
DEFAULT_CURRENT_DAYS = 28
BOOTSTRAP_ROW_BUDGET = 5_000_000
MIN_RESAMPLES = 30
AUC_SIMULATION_BUDGET = 10_000_000
MIN_CALIBRATION_ROWS = 100
DISTRIBUTION_BINS = 30
OVER_TIME_SAMPLE = 20_000
OVER_TIME_MIN_ROWS = 100
SHIFT_MIN_WINDOWS = {"day": 3, "week": 2}  # windows on each side of a shift
MAX_CATEGORIES_SHOWN = 20

# What each test is, which way it decides, and where we differ from Evidently on purpose (the page
# shows these as the tests' tooltips).
METHOD_NOTES: dict[str, str] = {
    d.Method.KS: (
        "Two-sample Kolmogorov-Smirnov, two-sided; drift when p < threshold. Exact p-value up to 10,000 rows per "
        "sample (scipy), Kolmogorov's limiting distribution above: scipy's asymptotic mode takes seconds per column "
        "there and differs by at most ~0.004 (verdicts agree). On a sampled window the p-value is the sample's."
    ),
    d.Method.WASSERSTEIN: (
        "Wasserstein distance divided by the reference standard deviation (ddof 0, floored at 0.001), as Evidently; "
        "drift when >= threshold. Evidently's default for numeric columns above 1,000 reference rows."
    ),
    d.Method.ANDERSON: (
        "k-sample Anderson-Darling (scipy, midrank); drift when p < threshold. scipy caps its p-values to "
        "[0.001, 0.25], which does not change a verdict at 0.05."
    ),
    d.Method.CHI_SQUARE: (
        "Chi-square test of homogeneity on the 2 x K table of reference and current counts (no Yates correction); "
        "drift when p < threshold. Differs from Evidently on purpose: Evidently compares current counts with the "
        "reference shares as if those were exact (goodness of fit), which flags far more than 5% of columns on "
        "windows without any drift; the homogeneity test flags 5%, as it should."
    ),
    d.Method.Z: (
        "Two-proportion z-test (pooled) on the share of the first category, for columns with at most 2 values; "
        "drift when p < threshold. Same as Evidently."
    ),
    d.Method.PSI: (
        "Population stability index over Sturges bins (numeric) or categories, Evidently's zero fill; drift when "
        ">= threshold (0.1 by default; 0.25 is the classic 'significant shift')."
    ),
    d.Method.JENSEN_SHANNON: (
        "Jensen-Shannon distance (natural log) between the share vectors; drift when >= threshold. Evidently's "
        "default for categorical columns above 1,000 reference rows."
    ),
    d.Method.HELLINGER: (
        "Hellinger distance between the share vectors, in [0, 1]; drift when >= threshold. Differs slightly from "
        "Evidently on numeric columns: we use the same Sturges bins as PSI and Jensen-Shannon (Evidently counts "
        "bins from the distinct values, one or two fewer bins for columns with many repeated values)."
    ),
}
SAMPLING_NOTE = (
    f"Numeric tests read a uniform sample of at most {md.SAMPLE_SIZE:,} of each column's values per window (all "
    "of them when there are fewer; the same rows for every column without missing values); categorical tests read "
    "the exact counts of the whole window. The test is chosen from the whole window's counts, so a sampled window "
    "gets the test the whole window would get ('reference n' is the whole window's, 'tested' what the test read). "
    f"At {md.SAMPLE_SIZE:,} values the normed Wasserstein distance between two samples of one distribution stays "
    f"below {md.wasserstein_sampling_error(md.SAMPLE_SIZE):.3f} in 99% of draws, so a sampled verdict at 0.1 can "
    "differ from the full-data verdict only when the full-data distance is that close to the threshold. p-values "
    "of tests chosen by a user (KS, Anderson-Darling) on a sampled window are those of the sample."
)
PERFORMANCE_NOTE = (
    "95% intervals: Wilson for accuracy, precision, recall and positive rate; a stratified percentile bootstrap "
    "for F1, ROC AUC, log loss and Brier score. A cohort is compared with all other rows (its gap; negative is "
    "worse) and flagged when the gap's whole interval is below zero; cohorts under the minimum size are listed "
    "but not ranked. Undefined metrics (no positives, no predicted positives) are blank, not 0 as in scikit-learn."
)
CBPE_NOTE = (
    "Confidence-based performance estimation as NannyML defines it: expected confusion matrix from calibrated "
    "scores (isotonic calibration fitted on the reference window's labelled rows when it lowers the held-out "
    "calibration error). Differences from NannyML, on purpose: the band is +-3 standard errors of the realized "
    "metric implied by this window's own scores (not NannyML's reference-based sampling error), tied scores are "
    "one step of the expected ROC curve, and cumulative sums are not rounded."
)
CALIBRATION_NOTE = (
    "Bins as scikit-learn's calibration_curve (equal width on [0, 1], right-closed, empty bins dropped), each with "
    "a Wilson interval on its observed rate. ECE = sum over bins of (bin share) x |observed rate - mean score|."
)


# --- versions and windows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInput(f"A window ends on or after its start ({self.start} > {self.end}).")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start:%Y-%m-%d}"
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"

    def bounds(self) -> tuple[datetime, datetime]:
        """[start 00:00 UTC, day after end 00:00 UTC)."""
        start = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return start, datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC) + timedelta(days=1)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class VersionInfo:
    id: int
    model_name: str
    version: int
    status: str
    feature_schema: dict[str, str]
    first_day: date | None
    last_day: date | None
    n_rows: int
    n_labelled: int
    last_labelled_day: date | None

    @property
    def label(self) -> str:
        return f"{self.model_name} v{self.version} ({self.status})"

    @property
    def has_data(self) -> bool:
        return self.first_day is not None and self.n_rows > 0


_VERSIONS: ContextVar[tuple[str, list[VersionInfo]] | None] = ContextVar("monitoring_versions", default=None)


@contextmanager
def one_version_list(engine: Engine) -> Iterator[None]:
    """Within the block, list_versions / get_version answer from one read instead of a query each (a page
    or a summary that asks for a dozen numbers reads the version list once, and sees one state of it)."""
    token = _VERSIONS.set((md.engine_key(engine), _read_versions(engine)))
    try:
        yield
    finally:
        _VERSIONS.reset(token)


def list_versions(engine: Engine) -> list[VersionInfo]:
    """Every model version with the days and rows its monitoring blocks cover (versions with data first)."""
    snapshot = _VERSIONS.get()
    if snapshot is not None and snapshot[0] == md.engine_key(engine):
        return list(snapshot[1])
    return _read_versions(engine)


def _read_versions(engine: Engine) -> list[VersionInfo]:
    with read_session(engine) as session:
        versions = session.exec(select(ModelVersion).order_by(ModelVersion.model_name, ModelVersion.version)).all()
    data = md.version_data(engine)
    out = []
    for v in versions:
        vd = data.get(v.id)  # type: ignore[arg-type]
        out.append(
            VersionInfo(
                int(v.id), v.model_name, v.version, v.status, dict(v.feature_schema or {}),  # type: ignore[arg-type]
                vd.first_day if vd else None, vd.last_day if vd else None, vd.n_rows if vd else 0,
                vd.n_labelled if vd else 0, vd.last_labelled_day if vd else None,
            )
        )  # fmt: skip
    out.sort(key=lambda v: (not v.has_data, v.model_name, -v.version))
    return out


def get_version(engine: Engine, model_version_id: int) -> VersionInfo:
    for v in list_versions(engine):
        if v.id == model_version_id:
            return v
    raise NotFound(f"No model version with id {model_version_id}.")


def default_version(versions: Sequence[VersionInfo]) -> VersionInfo | None:
    """The champion with data if there is one, else the version with the latest data (then the most rows)."""
    with_data = [v for v in versions if v.has_data]
    if not with_data:
        return None
    champions = [v for v in with_data if v.status == "champion"]
    pool = champions or with_data
    return max(pool, key=lambda v: (v.last_day, v.n_rows))


REFERENCE_PRESETS = {"first14": "First 14 days of the version", "first28": "First 28 days of the version"}
CURRENT_PRESETS = {
    "last7": "Last 7 days",
    "last14": "Last 14 days",
    "last28": "Last 28 days",
    "after_reference": "Everything after the reference",
}


def preset_window(info: VersionInfo, preset: str, reference: Window | None = None) -> Window:
    """A named window over the version's data: first<N>, last<N> days, or everything after `reference`."""
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    first, last = info.first_day, info.last_day
    assert first is not None and last is not None
    if preset == "after_reference":
        reference = reference or preset_window(info, f"first{DEFAULT_REFERENCE_DAYS}")
        if reference.end >= last:
            raise InvalidInput("Nothing comes after the reference window: choose an earlier reference.")
        return Window(reference.end + timedelta(days=1), last)
    if preset.startswith("first"):
        days = int(preset.removeprefix("first"))
        return Window(first, min(last, first + timedelta(days=days - 1)))
    if preset.startswith("last"):
        days = int(preset.removeprefix("last"))
        return Window(max(first, last - timedelta(days=days - 1)), last)
    raise InvalidInput(f"Unknown window preset {preset!r}.")


def default_windows(info: VersionInfo) -> tuple[Window, Window]:
    """Reference: the version's first 14 days. Current: its last 28 days, starting after the reference
    (a version with little data gets the days after its reference, or the reference itself)."""
    reference = preset_window(info, f"first{DEFAULT_REFERENCE_DAYS}")
    current = preset_window(info, f"last{DEFAULT_CURRENT_DAYS}")
    if current.start <= reference.end:
        assert info.last_day is not None
        current = (
            Window(reference.end + timedelta(days=1), info.last_day) if info.last_day > reference.end else reference
        )
    return reference, current


def rolling_windows(first: date, last: date, granularity: str = "day") -> list[Window]:
    """Daily windows, or ISO weeks (Monday to Sunday) clipped to [first, last]."""
    if granularity not in GRANULARITIES:
        raise InvalidInput(f"Rolling windows are daily or weekly, not {granularity!r}.")
    out = []
    if granularity == "day":
        day = first
        while day <= last:
            out.append(Window(day, day))
            day += timedelta(days=1)
        return out
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=6 - start.weekday()))
        out.append(Window(start, end))
        start = end + timedelta(days=1)
    return out


# --- caches --------------------------------------------------------------------------------------


class _ResultCache:
    """LRU of computed results (small dataclasses and frames), shared by all sessions of the process.

    Computations run with BLAS on one thread: the statistics here make many small matrix-vector
    products (Wasserstein sums, CBPE's simulated AUCs), where a multi-threaded BLAS spends more time
    synchronising its threads than computing; on a busy 2-core host the drift over time of 1,000,000
    rows took 13 s with OpenBLAS's threads and 1.6 s without."""

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        with _BLAS.limit(limits=1, user_api="blas"):
            value = compute()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_BLAS = ThreadpoolController()  # the BLAS libraries loaded by numpy and scipy (found once: ~1 ms)
_results = _ResultCache()
_frames = md._LRU(256 * 2**20)


def clear_caches() -> None:
    """Forget every computed window (tests; the caches are otherwise invalidated by block generations)."""
    _results.clear()
    _frames.clear()
    md.clear_caches()


def _norm_filter(cohort_filter: CohortFilter | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not cohort_filter:
        return ()
    out = []
    for field_name, values in sorted(cohort_filter.items()):
        vals = (values,) if isinstance(values, str) else tuple(values)
        if vals:
            out.append((str(field_name), tuple(sorted(str(v) for v in vals))))
    return tuple(out)


def filter_label(cohort_filter: CohortFilter | None) -> str:
    parts = [f"{f} = {' or '.join(v)}" for f, v in _norm_filter(cohort_filter)]
    return ", ".join(parts) if parts else "all rows"


@dataclass(frozen=True)
class _Slice:
    """The rows of one window (after the cohort filter) and the token of the data they came from."""

    frame: pd.DataFrame
    token: tuple

    @property
    def n(self) -> int:
        return len(self.frame)


def _blocks(engine: Engine, model_version_id: int, window: Window) -> list[md.BlockInfo]:
    return [b for b in md.block_index(engine, model_version_id) if window.contains(b.day)]


def _token(blocks: Sequence[md.BlockInfo]) -> tuple:
    return tuple((b.id, b.generation) for b in blocks)


def _load(
    engine: Engine, model_version_id: int, window: Window, cohort_filter: CohortFilter | None = None,
    blocks: Sequence[md.BlockInfo] | None = None, *, base_only: bool = False,
) -> _Slice:  # fmt: skip
    """The window's rows (cached by the blocks' generations). base_only: just id, ts, score, predicted
    label and label (plus the filter's cohort fields), for metrics and CBPE: converting the feature
    columns to pandas is most of a cold read, and they don't need them. A cached full frame serves too."""
    blocks = _blocks(engine, model_version_id, window) if blocks is None else blocks
    token = _token(blocks)
    filt = _norm_filter(cohort_filter)
    key = (md.engine_key(engine), model_version_id, window, filt, token)
    hit = _frames.get(key)
    if hit is not None:
        return _Slice(hit, token)
    columns = None
    if base_only:
        columns = (*md.BASE_COLUMNS, *(md.COHORT_PREFIX + name for name, _ in filt))
        key = (*key, "base")
        hit = _frames.get(key)
        if hit is not None:
            return _Slice(hit, token)
    frame = md.read_frame(engine, blocks, columns)
    for field_name, values in filt:
        col = md.COHORT_PREFIX + field_name
        if col not in frame.columns:
            frame = frame.iloc[0:0]
            break
        frame = frame[frame[col].isin(values)]
    frame = frame.reset_index(drop=True)
    _frames.put(key, frame, int(frame.memory_usage(deep=False).sum()))
    return _Slice(frame, token)


def feature_columns(frame: pd.DataFrame) -> dict[str, str]:
    """{feature name: numeric | categorical} from a window frame's columns."""
    out = {}
    for col in frame.columns:
        if col.startswith(md.FEATURE_PREFIX):
            out[col[len(md.FEATURE_PREFIX) :]] = (
                "categorical" if isinstance(frame[col].dtype, pd.CategoricalDtype) else "numeric"
            )
    return out


def cohort_fields(frame: pd.DataFrame) -> list[str]:
    return [c[len(md.COHORT_PREFIX) :] for c in frame.columns if c.startswith(md.COHORT_PREFIX)]


def version_columns(engine: Engine, info: VersionInfo) -> tuple[dict[str, str], list[str], dict[str, list[str]]]:
    """Features with their kinds, cohort fields, and each field's values, read from the version's last
    7 days of data (cheap, and what a user filters on today)."""
    blocks = md.block_index(engine, info.id)
    if not blocks:
        return dict(info.feature_schema), [], {}
    recent = blocks[-7:]
    sl = _load(engine, info.id, Window(recent[0].day, recent[-1].day), blocks=recent)
    fields = cohort_fields(sl.frame)
    values = {f: sorted(str(v) for v in sl.frame[md.COHORT_PREFIX + f].dropna().unique()) for f in fields}
    kinds = feature_columns(sl.frame)
    for name, kind in info.feature_schema.items():
        kinds.setdefault(name, kind)
    return kinds, fields, values


# --- overrides ------------------------------------------------------------------------------------


def overrides(engine: Engine, model_name: str) -> dict[str, ds.ColumnOverride]:
    with read_session(engine) as session:
        rows = session.exec(select(DriftOverride).where(DriftOverride.model_name == model_name)).all()
    return {r.column_name: ds.ColumnOverride(r.method, r.threshold) for r in rows}


def list_overrides(engine: Engine, model_name: str) -> list[DriftOverride]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(DriftOverride).where(DriftOverride.model_name == model_name).order_by(DriftOverride.column_name)
            ).all()
        )


def _column_kind(engine: Engine, model_name: str, column: str) -> str | None:
    if column in OUTPUT_COLUMNS:
        return OUTPUT_COLUMNS[column]
    with read_session(engine) as session:
        schemas = session.exec(select(ModelVersion.feature_schema).where(ModelVersion.model_name == model_name)).all()
    for schema in schemas:
        if schema and column in schema:
            return schema[column]
    return None


def _check_threshold(method: str | None, threshold: float | None) -> None:
    if threshold is None:
        return
    if not math.isfinite(threshold) or threshold <= 0:
        raise InvalidInput("A drift threshold is a positive number.")
    if method in d.P_VALUE_METHODS and threshold >= 1:
        raise InvalidInput("A p-value threshold lies between 0 and 1 (e.g. 0.05).")


def set_override(
    engine: Engine, actor: Actor, model_name: str, column: str, method: str | None = None,
    threshold: float | None = None,
) -> DriftOverride:  # fmt: skip
    """Save the test and/or threshold for one column of a model (None keeps that part's default)."""
    require(actor, Role.analyst, "change drift tests")
    column = (column or "").strip()
    if not column:
        raise InvalidInput("Choose the column whose drift test you change.")
    if method is None and threshold is None:
        raise InvalidInput("Choose a test or a threshold (or reset the column to its default).")
    if method is not None and method not in set(d.Method):
        raise InvalidInput(f"Unknown drift test {method!r}; choose one of {', '.join(d.Method)}.")
    kind = _column_kind(engine, model_name, column)
    if method is not None and kind is not None:
        allowed = d.NUMERIC_METHODS | {d.Method.CHI_SQUARE, d.Method.Z} if kind == "numeric" else d.CATEGORICAL_METHODS
        if method not in allowed:
            raise InvalidInput(f"{d.METHOD_LABELS[method]} does not apply to the {kind} column {column!r}.")
    _check_threshold(method, threshold)
    with write_session(engine) as session:
        row = session.exec(
            select(DriftOverride).where(DriftOverride.model_name == model_name, DriftOverride.column_name == column)
        ).first()
        previous = {"method": row.method, "threshold": row.threshold} if row else None
        if row is None:
            row = DriftOverride(model_name=model_name, column_name=column)
        row.method, row.threshold = method, threshold
        row.updated_by, row.updated_at = actor.label, utcnow()
        session.add(row)
        session.flush()
        audit.record(
            session, actor, "monitoring.override.set", "drift_override", f"{model_name}:{column}",
            {"model": model_name, "column": column, "method": method, "threshold": threshold, "previous": previous},
        )  # fmt: skip
        return row


def clear_override(engine: Engine, actor: Actor, model_name: str, column: str) -> bool:
    """Back to the default test and threshold for the column. False when there was nothing to clear."""
    require(actor, Role.analyst, "change drift tests")
    with write_session(engine) as session:
        row = session.exec(
            select(DriftOverride).where(DriftOverride.model_name == model_name, DriftOverride.column_name == column)
        ).first()
        if row is None:
            return False
        previous = {"method": row.method, "threshold": row.threshold}
        session.delete(row)
        audit.record(
            session, actor, "monitoring.override.clear", "drift_override", f"{model_name}:{column}",
            {"model": model_name, "column": column, "previous": previous},
        )  # fmt: skip
        return True


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

    @property
    def is_p_value(self) -> bool:
        return self.p_value is not None


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

    @property
    def features(self) -> tuple[DriftRow, ...]:
        return tuple(r for r in self.rows if r.role == "feature")

    @property
    def outputs(self) -> tuple[DriftRow, ...]:
        return tuple(r for r in self.rows if r.role != "feature")

    def column(self, name: str) -> DriftRow:
        for r in self.rows:
            if r.column == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True, eq=False)
class _Prepared:
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


def _numeric_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column == PREDICTION_SCORE:
        return frame["score"].to_numpy(dtype=np.float64)
    return frame[md.FEATURE_PREFIX + column].to_numpy(dtype=np.float64, na_value=np.nan)


def _category_series(frame: pd.DataFrame, column: str) -> pd.Series:
    if column == PREDICTION_LABEL:
        return frame["predicted_label"]
    if column == OUTCOME_LABEL:
        return frame["label"].dropna().astype(np.int64)
    return frame[md.FEATURE_PREFIX + column]


def _prepare(sl: _Slice, kinds: Mapping[str, str], seed: int) -> _Prepared:
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
            full = _numeric_values(frame, column)
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
                    distinct[column] = _few_distinct(values)
        else:
            s = _category_series(frame, column)
            vc = s.value_counts(dropna=True, sort=False)
            vc = vc[vc > 0]
            vc.index = [str(v) for v in vc.index]
            counts[column] = vc
            missing[column] = int(s.isna().sum()) if column != OUTCOME_LABEL else 0
    return _Prepared(len(frame), numeric, numeric_n, counts, missing, sampled, distinct)


def _few_distinct(values: np.ndarray) -> np.ndarray:
    """Up to LOW_CARDINALITY_MAX_UNIQUE + 1 distinct values of finite `values`, sorted (one hash pass)."""
    return np.sort(pd.unique(values)[: ds.LOW_CARDINALITY_MAX_UNIQUE + 1])


def _whole_window_unique(column: str, ref: _Prepared, cur: _Prepared) -> int | None:
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
    if distinct is not None and distinct.size <= d.BINNING_MIN_UNIQUE:

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


def _role(column: str) -> str:
    if column == OUTCOME_LABEL:
        return "outcome"
    return "prediction" if column in OUTPUT_COLUMNS else "feature"


def _column_result(
    column: str, kind: str, ref: _Prepared, cur: _Prepared, override: ds.ColumnOverride | None,
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
    return DriftRow(
        column=column, role=_role(column), kind=kind, method=str(r.method), method_label=r.label,
        statistic=r.statistic, p_value=r.p_value, distance=r.distance, score=float(score), threshold=r.threshold,
        drifted=r.drifted, overridden=result.choice.overridden, reason=result.choice.reason + note_extra,
        n_reference=n_ref, n_current=n_cur, tested_reference=r.n_reference, tested_current=r.n_current,
        n_unique=result.n_unique, applicable=ds.applicable_methods(kind, result.n_unique), detail=r.detail,
        note=METHOD_NOTES.get(r.method, ""), distribution=dist,
    )  # fmt: skip


def _drift_kinds(frame: pd.DataFrame, info: VersionInfo) -> dict[str, str]:
    kinds = feature_columns(frame)
    kinds.update(OUTPUT_COLUMNS)
    return kinds


def _prepared_window(
    engine: Engine, info: VersionInfo, window: Window, cohort_filter: CohortFilter | None,
) -> tuple[_Prepared, tuple, dict[str, str]]:  # fmt: skip
    sl = _load(engine, info.id, window, cohort_filter)
    filt = _norm_filter(cohort_filter)
    key = ("prepared", md.engine_key(engine), info.id, window, filt, sl.token)
    seed = md.seed_for(info.id, window, filt, sl.token)
    kinds = _drift_kinds(sl.frame, info)
    prepared = _results.get_or_compute(key, lambda: _prepare(sl, kinds, seed))
    return prepared, sl.token, kinds


def drift_report(
    engine: Engine, model_version_id: int, reference: Window, current: Window,
    cohort_filter: CohortFilter | None = None,
) -> DriftReport:  # fmt: skip
    """Per column drift of `current` against `reference` with the saved overrides; dataset drift share."""
    info = get_version(engine, model_version_id)
    saved = overrides(engine, info.model_name)
    ref, ref_token, ref_kinds = _prepared_window(engine, info, reference, cohort_filter)
    cur, cur_token, cur_kinds = _prepared_window(engine, info, current, cohort_filter)
    filt = _norm_filter(cohort_filter)
    key = ("drift", md.engine_key(engine), info.id, reference, current, filt, ref_token, cur_token,
           tuple(sorted(saved.items())))  # fmt: skip

    def compute() -> DriftReport:
        kinds = {c: k for c, k in ref_kinds.items() if cur_kinds.get(c) == k}
        rows = tuple(_column_result(c, k, ref, cur, saved.get(c)) for c, k in _ordered(kinds).items())
        features = [r for r in rows if r.role == "feature"]
        n_drifted = sum(r.drifted for r in features)
        share = n_drifted / len(features) if features else 0.0
        return DriftReport(
            info.id, info.model_name, reference, current, filt, rows, len(features), n_drifted, share,
            DATASET_DRIFT_SHARE, bool(features) and share >= DATASET_DRIFT_SHARE, ref.n, cur.n,
        )  # fmt: skip

    return _results.get_or_compute(key, compute)


def _ordered(kinds: Mapping[str, str]) -> dict[str, str]:
    features = sorted(c for c in kinds if c not in OUTPUT_COLUMNS)
    outputs = [c for c in OUTPUT_COLUMNS if c in kinds]
    return {c: kinds[c] for c in features + outputs}


@dataclass(frozen=True)
class DriftOverTime:
    model_version_id: int
    reference: Window
    granularity: str
    cohort_filter: tuple
    # one row per (window, column): window_start, window_end, column, role, method, score, threshold,
    # is_p_value, drifted (Evidently's verdict, whatever the window's size), n_current, too_small (fewer
    # than OVER_TIME_MIN_ROWS rows: shown, but too noisy to date a shift)
    frame: pd.DataFrame
    # one row per window: window_start, window_end, n, n_drifted, share_drifted, drifted
    dataset: pd.DataFrame


def _subsample(col: SortedColumn, size: int, seed: int) -> SortedColumn:
    idx = md.uniform_sample(col.n, size, seed)
    if idx is None:
        return col
    return SortedColumn(col.values[idx], col.n_missing, col.is_integer)  # positions sorted: values stay sorted


def _window_index(frame: pd.DataFrame, windows: Sequence[Window]) -> np.ndarray:
    """Index of the rolling window each row falls in."""
    starts = np.array([np.datetime64(w.start) for w in windows])
    day = frame["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
    return np.searchsorted(starts, day, side="right") - 1


def drift_over_time(
    engine: Engine, model_version_id: int, reference: Window, granularity: str = "day",
    cohort_filter: CohortFilter | None = None, progress: Progress | None = None,
) -> DriftOverTime:  # fmt: skip
    """Each column's drift score in every rolling window of the version against `reference`.

    Same tests, thresholds and overrides as the drift report; numeric columns read uniform samples of at
    most OVER_TIME_SAMPLE rows of the reference and of each window (the chart's noise floor for the normed
    Wasserstein distance is then about 0.013, 0.028 in 99% of windows), categorical columns their exact
    counts."""
    info = get_version(engine, model_version_id)
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    assert info.first_day is not None and info.last_day is not None
    windows = rolling_windows(info.first_day, info.last_day, granularity)
    saved = overrides(engine, info.model_name)
    ref_full, ref_token, ref_kinds = _prepared_window(engine, info, reference, cohort_filter)
    whole = _load(engine, info.id, Window(info.first_day, info.last_day), cohort_filter)
    filt = _norm_filter(cohort_filter)
    key = ("drift_over_time", md.engine_key(engine), info.id, reference, granularity, filt, ref_token,
           whole.token, tuple(sorted(saved.items())))  # fmt: skip

    def compute() -> DriftOverTime:
        frame = whole.frame
        kinds = _ordered({c: k for c, k in ref_kinds.items() if c in OUTPUT_COLUMNS or md.FEATURE_PREFIX + c in frame})
        seed = md.seed_for("over_time", info.id, reference, filt, ref_token)
        ref_numeric = {c: _subsample(v, OVER_TIME_SAMPLE, seed) for c, v in ref_full.numeric.items()}
        ref_distinct = {  # what the subsample may have missed, from the report's sample or whole window
            c: ref_full.distinct.get(c, ref_full.numeric[c].distinct[: ds.LOW_CARDINALITY_MAX_UNIQUE + 1])
            for c, v in ref_numeric.items()
            if v.n < ref_full.numeric[c].n and v.n_unique <= ds.LOW_CARDINALITY_MAX_UNIQUE
        }
        ref = _Prepared(ref_full.n, ref_numeric, ref_full.numeric_n, ref_full.counts, ref_full.missing,
                        ref_full.sampled or bool(ref_distinct), ref_full.distinct | ref_distinct)  # fmt: skip
        win = _window_index(frame, windows)
        order = np.argsort(win, kind="stable")
        bounds = np.searchsorted(win[order], np.arange(len(windows) + 1))
        numeric = {c: _numeric_values(frame, c) for c, k in kinds.items() if k == "numeric"}
        cats: dict[str, tuple[np.ndarray, list[str]]] = {}
        for c, k in kinds.items():
            if k != "numeric":
                s = _category_series(frame, c) if c != OUTCOME_LABEL else frame["label"]
                if c == OUTCOME_LABEL:
                    codes, uniques = pd.factorize(s, use_na_sentinel=True)
                    labels = [str(int(v)) for v in uniques]
                else:
                    codes, uniques = pd.factorize(s, use_na_sentinel=True)
                    labels = [str(v) for v in uniques]
                cats[c] = (codes.astype(np.int64), labels)
        rows, dataset = [], []
        for i, w in enumerate(windows):
            if progress:
                progress(i / len(windows), f"window {w.label}")
            rows_i = order[bounds[i] : bounds[i + 1]]
            idx = md.uniform_sample(rows_i.size, OVER_TIME_SAMPLE, md.seed_for(seed, w))
            sample = rows_i if idx is None else rows_i[idx]
            cur_numeric, cur_n, cur_counts, cur_missing, cur_distinct = {}, {}, {}, {}, {}
            for c, values in numeric.items():
                full = values[rows_i]
                present = np.isfinite(full)
                finite = int(present.sum())
                cur_n[c], cur_missing[c] = finite, full.size - finite
                cur_numeric[c] = SortedColumn.of(values[sample])
                if idx is not None and cur_numeric[c].n_unique <= ds.LOW_CARDINALITY_MAX_UNIQUE:
                    cur_distinct[c] = _few_distinct(full[present])
            for c, (codes, labels) in cats.items():
                sub = codes[rows_i]
                valid = sub >= 0
                counts = np.bincount(sub[valid], minlength=len(labels))
                keep = counts > 0
                cur_counts[c] = pd.Series(counts[keep], index=[lab for lab, k in zip(labels, keep, strict=True) if k])
                cur_missing[c] = 0 if c == OUTCOME_LABEL else int((~valid).sum())
            cur = _Prepared(rows_i.size, cur_numeric, cur_n, cur_counts, cur_missing, idx is not None, cur_distinct)
            n_drifted = n_features = 0
            for column, kind in kinds.items():
                r = _column_result(column, kind, ref, cur, saved.get(column), with_distribution=False)
                rows.append(
                    {"window_start": w.start, "window_end": w.end, "column": column, "role": r.role,
                     "method": r.method, "score": r.score, "threshold": r.threshold, "is_p_value": r.is_p_value,
                     "drifted": r.drifted, "n_current": r.n_current, "too_small": r.n_current < OVER_TIME_MIN_ROWS}
                )  # fmt: skip
                if r.role == "feature" and r.n_current > 0:
                    n_features += 1
                    n_drifted += r.drifted
            share = n_drifted / n_features if n_features else float("nan")
            dataset.append(
                {"window_start": w.start, "window_end": w.end, "n": int(rows_i.size), "n_drifted": n_drifted,
                 "share_drifted": share, "drifted": bool(n_features) and share >= DATASET_DRIFT_SHARE}
            )  # fmt: skip
        if progress:
            progress(1.0, "done")
        columns = ["window_start", "window_end", "column", "role", "method", "score", "threshold", "is_p_value",
                   "drifted", "n_current", "too_small"]  # fmt: skip
        return DriftOverTime(info.id, reference, granularity, filt, pd.DataFrame(rows, columns=columns),
                             pd.DataFrame(dataset))  # fmt: skip

    return _results.get_or_compute(key, compute)


@dataclass(frozen=True)
class Shift:
    """A column's drift score moved once, from below to above its threshold (or the reverse for p-values)."""

    column: str
    day: date  # the first window after the change
    before: float  # median score of the windows before
    after: float  # median score from `day` on
    threshold: float
    is_p_value: bool


def shift_of(over: DriftOverTime, column: str) -> Shift | None:
    """When did the column start drifting? The single change point of its score series (the split that
    leaves the least squared error around the two segments' means), reported only when the windows
    before it mostly do not drift (median on the no-drift side of the threshold) and the windows after
    it do, each side at least SHIFT_MIN_WINDOWS windows long (3 days or 2 weeks). Windows with fewer than
    OVER_TIME_MIN_ROWS rows are left out: a few noisy days cannot make a shift."""
    part = over.frame[(over.frame["column"] == column) & (over.frame["n_current"] >= OVER_TIME_MIN_ROWS)]
    part = part.sort_values("window_start")
    scores = part["score"].to_numpy(dtype=np.float64)
    side = SHIFT_MIN_WINDOWS.get(over.granularity, 3)
    if scores.size < 2 * side or not np.isfinite(scores).all():
        return None
    is_p = bool(part["is_p_value"].iloc[-1])
    threshold = float(part["threshold"].iloc[-1])
    csum, csq = np.cumsum(scores), np.cumsum(scores**2)
    n = scores.size
    k = np.arange(side, n - side + 1)  # the first k windows before the change
    left = csq[k - 1] - csum[k - 1] ** 2 / k
    right = (csq[-1] - csq[k - 1]) - (csum[-1] - csum[k - 1]) ** 2 / (n - k)
    split = int(k[np.argmin(left + right)])
    before, after = float(np.median(scores[:split])), float(np.median(scores[split:]))
    drifts = (lambda v: v < threshold) if is_p else (lambda v: v >= threshold)
    if drifts(before) or not drifts(after):
        return None
    day = part["window_start"].iloc[split]
    return Shift(column, pd.Timestamp(day).date(), before, after, threshold, is_p)


# --- performance -----------------------------------------------------------------------------------


def resamples_for(n_rows: int) -> int:
    """Bootstrap resamples within the row budget: 200 up to 25,000 rows, fewer above, at least 30."""
    if n_rows <= 0:
        return perf.DEFAULT_RESAMPLES
    return int(max(MIN_RESAMPLES, min(perf.DEFAULT_RESAMPLES, BOOTSTRAP_ROW_BUDGET // n_rows)))


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["label"].notna()]


def _binary_inputs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = frame["label"].to_numpy(dtype=np.float64)
    pred = frame["predicted_label"].to_numpy(dtype=np.float64)
    score = frame["score"].to_numpy(dtype=np.float64)
    if y.size and not (np.isin(y, (0.0, 1.0)).all() and np.isin(pred, (0.0, 1.0)).all()):
        raise InvalidInput("Performance metrics need binary labels and predictions (0/1).")
    return y, score, pred


@dataclass(frozen=True)
class CohortLine:
    fields: tuple[str, ...]
    row: perf.CohortRow
    # The same cohort in the reference window (when one was given): its gap, and whether it was flagged.
    reference_gap: float | None = None
    reference_flagged: bool | None = None
    rank: int | None = None  # 1 = furthest below the rest, over every line of the report; None: not ranked

    @property
    def label(self) -> str:
        return ", ".join(f"{f} = {v}" for f, v in zip(self.fields, self.row.cohort, strict=True))

    @property
    def change(self) -> float | None:
        """How much the gap moved since the reference (negative: the cohort fell further behind)."""
        if self.reference_gap is None or not math.isfinite(self.reference_gap):
            return None
        return self.row.gap - self.reference_gap

    @property
    def new_since_reference(self) -> bool:
        """Flagged now, not flagged in the reference window: a problem that started in between."""
        return bool(self.row.flagged and self.reference_flagged is False)


@dataclass(frozen=True)
class CohortReport:
    model_version_id: int
    window: Window
    fields: tuple[str, ...]  # () = every cohort field, one at a time
    rank_by: str
    min_size: int
    n_predictions: int
    n_labelled: int
    n_resamples: int
    overall: perf.MetricSet | None
    lines: tuple[CohortLine, ...]  # ranked (worst first), then the too-small and unrankable ones
    metrics: tuple[str, ...]

    @property
    def flagged(self) -> tuple[CohortLine, ...]:
        return tuple(line for line in self.lines if line.row.flagged)


def cohort_report(
    engine: Engine, model_version_id: int, window: Window, fields: Sequence[str] = (), rank_by: str = "accuracy",
    min_size: int = perf.DEFAULT_MIN_COHORT_SIZE, cohort_filter: CohortFilter | None = None,
    reference: Window | None = None,
) -> CohortReport:  # fmt: skip
    """Metrics with 95% intervals per cohort of one field or two, or (no fields) every field one at a time
    with only the ranking metric, ranked together by how far each cohort falls below the rest. With a
    reference window, each cohort also gets its gap there: a cohort that is flagged now but was not then
    is a new problem (the demo's mobile cohorts after the release), one flagged in both a standing one."""
    if rank_by not in perf.METRICS:
        raise InvalidInput(f"Rank by one of {', '.join(perf.METRICS)}.")
    if len(fields) > 2:
        raise InvalidInput("Slice by one cohort field or two at once.")
    if min_size < 1:
        raise InvalidInput("The minimum cohort size is at least 1.")
    info = get_version(engine, model_version_id)
    sl = _load(engine, info.id, window, cohort_filter)
    filt = _norm_filter(cohort_filter)
    ref_sl = _load(engine, info.id, reference, cohort_filter) if reference is not None else None
    key = ("cohorts", md.engine_key(engine), info.id, window, tuple(fields), rank_by, min_size, filt, sl.token,
           reference, ref_sl.token if ref_sl is not None else None)  # fmt: skip

    def compute() -> CohortReport:
        lab = _labelled(sl.frame)
        y, score, pred = _binary_inputs(lab)
        all_fields = cohort_fields(sl.frame)
        for f in fields:
            if f not in all_fields:
                raise InvalidInput(f"No cohort field {f!r} in this window; fields: {', '.join(all_fields) or 'none'}.")
        metrics = tuple(perf.METRICS) if fields else (rank_by,)
        needs_boot = any(m in perf.BOOTSTRAP_METRICS for m in metrics)
        b = resamples_for(len(lab)) if needs_boot else 0
        lines: list[CohortLine] = []
        overall = None
        slices = [tuple(fields)] if fields else [(f,) for f in all_fields]
        for fs in slices:
            cohorts = pd.DataFrame({f: lab[md.COHORT_PREFIX + f].astype(object).to_numpy() for f in fs})
            table = perf.cohort_table(
                y, score, cohorts, y_pred=pred, rank_by=rank_by, min_size=min_size, metrics=metrics,
                n_resamples=b, seed=md.seed_for(info.id, window, fs) % 2**32,
            )  # fmt: skip
            overall = overall or table.overall
            before = _reference_gaps(ref_sl.frame, fs, rank_by, min_size) if ref_sl is not None else {}
            lines += [
                CohortLine(fs, r, *before.get(r.cohort, (None, None))) if ref_sl is not None else CohortLine(fs, r)
                for r in table.rows
            ]
        if not slices:  # no cohort fields at all: the overall metrics only
            overall = perf.classification_metrics(y, score, pred, metrics=metrics, n_resamples=b)
        ranked = sorted((ln for ln in lines if ln.row.rank is not None), key=lambda ln: ln.row.gap)
        ranked = [replace(ln, rank=i + 1) for i, ln in enumerate(ranked)]
        rest = sorted((ln for ln in lines if ln.row.rank is None), key=lambda ln: -ln.row.n)
        return CohortReport(info.id, window, tuple(fields), rank_by, min_size, sl.n, len(lab), b, overall,
                            tuple(ranked + rest), metrics)  # fmt: skip

    return _results.get_or_compute(key, compute)


def _reference_gaps(
    frame: pd.DataFrame, fields: Sequence[str], rank_by: str, min_size: int,
) -> dict[tuple, tuple[float, bool]]:  # fmt: skip
    """cohort -> (gap, flagged) in another window, ranking metric only (no resampling for proportions)."""
    lab = _labelled(frame)
    if lab.empty or any(md.COHORT_PREFIX + f not in lab.columns for f in fields):
        return {}
    y, score, pred = _binary_inputs(lab)
    cohorts = pd.DataFrame({f: lab[md.COHORT_PREFIX + f].astype(object).to_numpy() for f in fields})
    b = resamples_for(len(lab)) if rank_by in perf.BOOTSTRAP_METRICS else 0
    table = perf.cohort_table(y, score, cohorts, y_pred=pred, rank_by=rank_by, min_size=min_size,
                              metrics=(rank_by,), n_resamples=b)  # fmt: skip
    return {r.cohort: (r.gap, r.flagged) for r in table.rows}


@dataclass(frozen=True)
class PerformanceOverTime:
    model_version_id: int
    granularity: str
    metric: str
    field: str | None
    n_resamples: int
    # window_start, window_end, cohort, value, ci_low, ci_high, n, n_predictions
    frame: pd.DataFrame


def performance_over_time(
    engine: Engine, model_version_id: int, granularity: str = "week", metric: str = "accuracy",
    field: str | None = None, cohort_filter: CohortFilter | None = None,
) -> PerformanceOverTime:  # fmt: skip
    """One metric per rolling window (and per cohort of `field`), with 95% intervals, where outcomes are known."""
    if metric not in perf.METRICS:
        raise InvalidInput(f"Choose a metric among {', '.join(perf.METRICS)}.")
    info = get_version(engine, model_version_id)
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    assert info.first_day is not None and info.last_day is not None
    windows = rolling_windows(info.first_day, info.last_day, granularity)
    whole = Window(info.first_day, info.last_day)
    sl = _load(engine, info.id, whole, cohort_filter)
    filt = _norm_filter(cohort_filter)
    key = ("perf_over_time", md.engine_key(engine), info.id, granularity, metric, field, filt, sl.token)

    def compute() -> PerformanceOverTime:
        frame = sl.frame
        starts = np.array([np.datetime64(w.start) for w in windows])
        day = frame["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
        win = np.searchsorted(starts, day, side="right") - 1
        n_pred = pd.Series(win).value_counts()
        lab_mask = frame["label"].notna().to_numpy()
        lab = frame[lab_mask]
        y, score, pred = _binary_inputs(lab)
        b = resamples_for(len(lab)) if metric in perf.BOOTSTRAP_METRICS else 0
        columns = ["window_start", "window_end", "cohort", "value", "ci_low", "ci_high", "n", "n_predictions"]
        if len(lab) == 0:
            return PerformanceOverTime(info.id, granularity, metric, field, b, pd.DataFrame(columns=columns))
        cohorts = {"window": win[lab_mask]}
        if field is not None:
            if md.COHORT_PREFIX + field not in lab.columns:
                raise InvalidInput(f"No cohort field {field!r} for this version.")
            cohorts[field] = lab[md.COHORT_PREFIX + field].astype(object).to_numpy()
        table = perf.cohort_table(
            y, score, pd.DataFrame(cohorts), y_pred=pred, rank_by=metric, min_size=1, metrics=(metric,),
            n_resamples=b, seed=md.seed_for(info.id, granularity, metric, field) % 2**32,
        )  # fmt: skip
        rows = []
        for r in table.rows:
            w = windows[int(r.cohort[0])]
            m = r.metrics[metric]
            rows.append(
                {"window_start": w.start, "window_end": w.end, "cohort": "all" if field is None else str(r.cohort[1]),
                 "value": m.value, "ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n,
                 "n_predictions": int(n_pred.get(int(r.cohort[0]), 0))}
            )  # fmt: skip
        out = pd.DataFrame(rows, columns=columns).sort_values(["cohort", "window_start"], ignore_index=True)
        return PerformanceOverTime(info.id, granularity, metric, field, b, out)

    return _results.get_or_compute(key, compute)


# --- calibration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationReport:
    model_version_id: int
    window: Window
    field: str | None
    n_labelled: int
    overall: ReliabilityDiagram
    cohorts: CohortCalibration | None
    cohort_sizes: tuple[int, ...] = ()


def calibration_report(
    engine: Engine, model_version_id: int, window: Window, field: str | None = None, n_bins: int = 10,
    strategy: str = "uniform", cohort_filter: CohortFilter | None = None,
) -> CalibrationReport:  # fmt: skip
    """Reliability diagram and ECE over the window's labelled rows, and per cohort of `field`."""
    if not 2 <= n_bins <= 50:
        raise InvalidInput("Use between 2 and 50 bins.")
    info = get_version(engine, model_version_id)
    sl = _load(engine, info.id, window, cohort_filter)
    key = ("calibration", md.engine_key(engine), info.id, window, field, n_bins, strategy,
           _norm_filter(cohort_filter), sl.token)  # fmt: skip

    def compute() -> CalibrationReport:
        lab = _labelled(sl.frame)
        y = lab["label"].to_numpy(dtype=np.float64)
        p = np.clip(lab["score"].to_numpy(dtype=np.float64), 0.0, 1.0)
        overall = reliability_diagram(y, p, n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
        cohorts, sizes = None, ()
        if field is not None and len(lab):
            col = md.COHORT_PREFIX + field
            if col not in lab.columns:
                raise InvalidInput(f"No cohort field {field!r} in this window.")
            values = lab[col].astype(object).to_numpy()
            cohorts = calibration_by_cohort(y, p, pd.Series(values, name=field), n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
            sizes = tuple(dg.n for dg in cohorts.diagrams)
        return CalibrationReport(info.id, window, field, len(lab), overall, cohorts, sizes)

    return _results.get_or_compute(key, compute)


# --- estimated performance (CBPE) ------------------------------------------------------------------


CBPE_METRICS = ("accuracy", "roc_auc", "precision", "recall", "f1")


@dataclass(frozen=True)
class CBPEReport:
    model_version_id: int
    reference: Window
    granularity: str
    calibration: str  # "isotonic" or "none"
    calibration_reason: str
    n_reference_labelled: int
    n_simulations: int
    # window_start, window_end, n, n_labelled, labelled_share, metric, estimate, lower, upper,
    # sampling_error, realized, realized_ci_low, realized_ci_high
    frame: pd.DataFrame

    def metric(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame["metric"] == name].reset_index(drop=True)


def simulations_for(n_rows: int) -> int:
    if n_rows <= 0:
        return cbpe_stats.AUC_SIMULATIONS
    return int(max(20, min(cbpe_stats.AUC_SIMULATIONS, AUC_SIMULATION_BUDGET // n_rows)))


def _calibrator(
    engine: Engine, info: VersionInfo, reference: Window, cohort_filter
) -> tuple[cbpe_stats.ScoreCalibrator, int, str]:
    sl = _load(engine, info.id, reference, cohort_filter, base_only=True)
    filt = _norm_filter(cohort_filter)
    key = ("calibrator", md.engine_key(engine), info.id, reference, filt, sl.token)

    def compute():
        lab = _labelled(sl.frame)
        idx = md.uniform_sample(len(lab), md.SAMPLE_SIZE, md.seed_for("calibrator", info.id, reference, sl.token))
        if idx is not None:
            lab = lab.iloc[idx]
        y = lab["label"].to_numpy(dtype=np.float64)
        p = lab["score"].to_numpy(dtype=np.float64)
        if len(lab) < MIN_CALIBRATION_ROWS or np.unique(y).size < 2:
            reason = (f"the reference window has {len(lab):,} labelled rows (fewer than {MIN_CALIBRATION_ROWS} or one "
                      "class): scores are used as they are")  # fmt: skip
            return cbpe_stats.ScoreCalibrator("none"), len(lab), reason
        cal = cbpe_stats.fit_calibrator(y, p, method="auto")
        reason = cal.check.reason if cal.check is not None else ""
        if cal.check is not None and np.isfinite(cal.check.ece_before):
            reason += f" (held-out ECE {cal.check.ece_before:.3f} before, {cal.check.ece_after:.3f} after)"
        return cal, len(lab), reason

    return _results.get_or_compute(key, compute)


def cbpe_report(
    engine: Engine, model_version_id: int, reference: Window, granularity: str = "week",
    cohort_filter: CohortFilter | None = None,
) -> CBPEReport:  # fmt: skip
    """CBPE per rolling window of the version, beside the realized metric where outcomes are known."""
    info = get_version(engine, model_version_id)
    if not info.has_data:
        raise InvalidInput(f"{info.label} has no predictions yet.")
    assert info.first_day is not None and info.last_day is not None
    windows = rolling_windows(info.first_day, info.last_day, granularity)
    calibrator, n_ref, reason = _calibrator(engine, info, reference, cohort_filter)
    sl = _load(engine, info.id, Window(info.first_day, info.last_day), cohort_filter)
    filt = _norm_filter(cohort_filter)
    key = ("cbpe", md.engine_key(engine), info.id, reference, granularity, filt, sl.token)

    def compute() -> CBPEReport:
        frame = sl.frame
        starts = np.array([np.datetime64(w.start) for w in windows])
        day = frame["ts"].dt.tz_convert(None).to_numpy().astype("datetime64[D]")
        win = np.searchsorted(starts, day, side="right") - 1
        raw = frame["score"].to_numpy(dtype=np.float64)
        pred = frame["predicted_label"].to_numpy() == 1
        sims = simulations_for(len(frame))
        rows = []
        estimates = (
            cbpe_stats.estimate_by_window(win, calibrator.calibrate(raw), pred, raw, n_simulations=sims)
            if len(frame) else ()
        )  # fmt: skip
        realized = _realized_by_window(frame, win)
        for we in estimates:
            i = int(we.window)
            w = windows[i]
            n = int(we.estimate.n)
            n_lab = realized.get(i, {}).get("n", 0)
            for m in CBPE_METRICS:
                est = we.estimate.metric(m)
                real = realized.get(i, {}).get(m)
                rows.append(
                    {"window_start": w.start, "window_end": w.end, "n": n, "n_labelled": n_lab,
                     "labelled_share": n_lab / n if n else float("nan"), "metric": m, "estimate": est.value,
                     "lower": est.lower, "upper": est.upper, "sampling_error": est.sampling_error,
                     "realized": real.value if real else float("nan"),
                     "realized_ci_low": real.ci_low if real else float("nan"),
                     "realized_ci_high": real.ci_high if real else float("nan")}
                )  # fmt: skip
        columns = ["window_start", "window_end", "n", "n_labelled", "labelled_share", "metric", "estimate", "lower",
                   "upper", "sampling_error", "realized", "realized_ci_low", "realized_ci_high"]  # fmt: skip
        return CBPEReport(info.id, reference, granularity, calibrator.method, reason, n_ref, sims,
                          pd.DataFrame(rows, columns=columns))  # fmt: skip

    return _results.get_or_compute(key, compute)


def _realized_by_window(frame: pd.DataFrame, win: np.ndarray) -> dict[int, dict[str, Any]]:
    mask = frame["label"].notna().to_numpy()
    if not mask.any():
        return {}
    lab = frame[mask]
    y, score, pred = _binary_inputs(lab)
    table = perf.cohort_table(y, score, pd.Series(win[mask], name="window"), y_pred=pred, min_size=1,
                              metrics=CBPE_METRICS, n_resamples=0)  # fmt: skip
    out: dict[int, dict[str, Any]] = {}
    for r in table.rows:
        entry: dict[str, Any] = {"n": r.n}
        for m in CBPE_METRICS:
            entry[m] = r.metrics[m]
        out[int(r.cohort[0])] = entry
    return out


def estimate_window(
    engine: Engine, model_version_id: int, reference: Window, window: Window, cohort_filter: CohortFilter | None = None,
    *, auc_band: bool = True,
) -> cbpe_stats.CBPEEstimate:  # fmt: skip
    """CBPE for one window (e.g. the current one, or an alert rule's). auc_band=False skips the ROC AUC
    band's label simulations (most of the cost) when only the other metrics are wanted; the AUC
    estimate itself is still there, its band NaN."""
    info = get_version(engine, model_version_id)
    calibrator, _, _ = _calibrator(engine, info, reference, cohort_filter)
    sl = _load(engine, info.id, window, cohort_filter, base_only=True)
    key = ("cbpe_window", md.engine_key(engine), info.id, reference, window, _norm_filter(cohort_filter), sl.token,
           auc_band)  # fmt: skip

    def compute():
        raw = sl.frame["score"].to_numpy(dtype=np.float64)
        pred = sl.frame["predicted_label"].to_numpy() == 1
        simulations = simulations_for(len(raw)) if auc_band else 0
        return cbpe_stats.estimate_performance(calibrator.calibrate(raw), pred, raw, n_simulations=simulations)

    return _results.get_or_compute(key, compute)


# --- one number, for alert rules -------------------------------------------------------------------


ESTIMATED_PREFIX = "estimated_"
DRIFT_PREFIX = "drift:"
DRIFT_SHARE = "drift_share"


def metric_names(columns: Sequence[str] = ()) -> list[str]:
    """Every number a rule can watch: drift score per column, the dataset drift share, each realized
    metric and each estimated one."""
    return (
        [DRIFT_SHARE]
        + [DRIFT_PREFIX + c for c in columns]
        + list(perf.METRICS)
        + [ESTIMATED_PREFIX + m for m in CBPE_METRICS]
    )


def is_known_metric(metric: str) -> bool:
    if metric.startswith(DRIFT_PREFIX):
        return len(metric) > len(DRIFT_PREFIX)
    if metric.startswith(ESTIMATED_PREFIX):
        return metric.removeprefix(ESTIMATED_PREFIX) in CBPE_METRICS
    return metric == DRIFT_SHARE or metric in perf.METRICS


@dataclass(frozen=True)
class MetricValue:
    metric: str
    value: float
    n: int  # rows the number is computed on
    window: Window
    detail: dict[str, Any] = field(default_factory=dict)


def metric_value(
    engine: Engine, model_version_id: int, metric: str, window: Window, reference: Window | None = None,
    cohort_filter: CohortFilter | None = None,
) -> MetricValue:  # fmt: skip
    """The value of one watched number on one window (drift and estimates need the reference window)."""
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
        )
        m = est.metric(name)
        return MetricValue(
            metric, m.value, est.n, window, {"reference": reference.as_dict(), "lower": m.lower, "upper": m.upper}
        )  # type: ignore[union-attr]
    sl = _load(engine, info.id, window, cohort_filter, base_only=True)
    lab = _labelled(sl.frame)
    y, score, pred = _binary_inputs(lab)
    b = resamples_for(len(lab)) if metric in perf.BOOTSTRAP_METRICS else 0
    ms = perf.classification_metrics(y, score, pred, metrics=(metric,), n_resamples=b)
    m = ms[metric]
    return MetricValue(metric, m.value, len(lab), window, {"ci_low": m.ci_low, "ci_high": m.ci_high,
                                                             "n_predictions": sl.n})  # fmt: skip
