"""Monitoring's vocabulary: model versions and their windows, column names, method notes, metric names.

Monitoring asks: is the model still right, for whom, and since when? The answers live in sibling modules,
each reading the columnar day blocks of services/monitoring/blocks.py (never the JSON columns at page time)
through the in-process caches of services/monitoring/frames.py:
- drift_window: drift of each column between a reference and a current window (Evidently's rules);
- drift_time: one column's drift over rolling windows, and where it shifted;
- performance: realized performance per cohort and over time, and calibration;
- estimated: CBPE-estimated performance where outcomes are not known yet;
- overrides: the saved per-column drift test and threshold;
- metrics: one number per metric and window, for alert rules.

Windows: a reference and a current window (UTC days, inclusive), or rolling daily / weekly windows over a
model version's data. Computed results are cached in-process, keyed by the database, the version, the
windows, the cohort filter, the saved overrides and the generations of the blocks they read, so a new
import invalidates exactly what it changed and revisiting is instant.

Drift (per column: each feature, the prediction score and predicted label, the outcome label):
Evidently's default rule via services/stats/drift_select (reference <= 1000 rows: KS / chi-square /
z-test at p < 0.05; above: normed Wasserstein / Jensen-Shannon at >= 0.1), dataset drift when the
share of drifted features is >= 0.5, and a saved per-column override of test and threshold. Numeric
tests read a uniform sample of at most blocks.SAMPLE_SIZE non-missing values per column and window,
the test being chosen from the whole window's counts; categorical tests read the exact counts of the
whole window (see blocks for what sampling does to verdicts).

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

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core.db import read_session
from services.core.errors import InvalidInput, NotFound
from services.core.schema_models import ModelVersion
from services.monitoring import blocks as md
from services.stats import drift as d
from services.stats import drift_select as ds
from services.stats import performance as perf

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
    "of tests chosen by a user (KS, Anderson-Darling) on a sampled window are those of the sample. When day "
    "summaries cover the windows (the usual case), counts come from them (exact) and numeric tests read the windows' "
    f"uniform priority samples (at most {md.SAMPLE_SIZE:,} rows of the window or of the chosen cohort; each day "
    "keeps 8,192); 'exact or bound' says for each column how far its score can be from the full data's."
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


def norm_filter(cohort_filter: CohortFilter | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not cohort_filter:
        return ()
    out = []
    for field_name, values in sorted(cohort_filter.items()):
        vals = (values,) if isinstance(values, str) else tuple(values)
        if vals:
            out.append((str(field_name), tuple(sorted(str(v) for v in vals))))
    return tuple(out)


def filter_label(cohort_filter: CohortFilter | None) -> str:
    parts = [f"{f} = {' or '.join(v)}" for f, v in norm_filter(cohort_filter)]
    return ", ".join(parts) if parts else "all rows"


# --- estimated performance (CBPE) ------------------------------------------------------------------


CBPE_METRICS = ("accuracy", "roc_auc", "precision", "recall", "f1")


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
