"""Which drift test runs on which column (Evidently's default rule), and drift over a whole dataset.

Default rule, per column, on the values left after dropping missing ones (Evidently's
`_get_default_stattest`, Apache-2.0, read and rederived):

    reference <= 1000 rows
        numeric with > 5 distinct values over reference and current together   -> KS, drift when p < 0.05
        categorical, or numeric with <= 5 distinct values                        -> chi-square, p < 0.05
            ... with <= 2 distinct values                                        -> two-proportion z-test, p < 0.05
    reference > 1000 rows
        numeric with > 5 distinct values                                         -> Wasserstein (normed), >= 0.1
        categorical, or numeric with <= 5 distinct values                        -> Jensen-Shannon, >= 0.1

Dataset drift when the share of drifted columns is >= 0.5. Any column can override the test and
its threshold (`ColumnOverride`).

One deliberate difference from Evidently: the small-sample categorical chi-square is the test of
homogeneity on the 2 x K table of reference and current counts. Evidently tests current counts
against reference shares as if those shares were exact (a goodness-of-fit test), which ignores the
reference's own sampling noise: on windows with no drift at all it flags far more than 5% of columns
(about half when the current window is twice the reference). The homogeneity test flags 5%, as a
test at 0.05 should. `tests/stats/test_drift_select.py` measures both.

Columns no test can read (`ColumnDrift.status`), shown as problems and left out of the dataset share
(counted neither as drifted nor as not drifted):
- "not_testable": a categorical or text column whose values are mostly distinct (ids, timestamps,
  free text): at least MOSTLY_DISTINCT_MIN_VALUES distinct values and more distinct values than
  MOSTLY_DISTINCT_SHARE of the rows of both windows. Every category then has a count of 0 or 1, so
  the 2 x K chi-square can never reject (500 timestamps against 500 other ones: p = 0.485) and
  Jensen-Shannon on disjoint values always reads the maximum distance. Such a column reads
  "not testable: mostly distinct values (looks like an id)". A test the user picks explicitly
  (an override) still runs.
- "data_quality": a column with no values at all in one window (entirely missing from the current
  window, or from the reference): no test can say "no drift" about values that are not there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from services.stats import drift as d
from services.stats import drift_columns
from services.stats.drift import DriftResult, Method
from services.stats.drift_columns import CategoryCounts, SortedColumn

ColumnKind = Literal["numeric", "categorical"]

SMALL_REFERENCE_MAX_ROWS = 1000
LOW_CARDINALITY_MAX_UNIQUE = 5
BINARY_MAX_UNIQUE = 2
DATASET_DRIFT_SHARE = 0.5
MOSTLY_DISTINCT_SHARE = 0.5
MOSTLY_DISTINCT_MIN_VALUES = 50
NOT_TESTABLE_ID = "not testable: mostly distinct values (looks like an id)"
NOT_TESTABLE_NOTE = (
    "Not testable: most values of this column are distinct (an id, a timestamp, free text), so each value is "
    "seen about once and no distribution test can show drift (a chi-square on 500 timestamps against 500 other "
    "ones gives p = 0.485). Left out of the dataset drift share; pick a test for it explicitly to run one anyway."
)

ColumnStatus = Literal["tested", "not_testable", "data_quality"]


@dataclass(frozen=True)
class TestChoice:
    method: str
    threshold: float
    reason: str
    overridden: bool = False

    __test__ = False  # not a pytest class, despite the name


@dataclass(frozen=True)
class ColumnOverride:
    """A user's saved choice for one column; None keeps the default for that part."""

    method: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    kind: ColumnKind
    n_unique: int  # distinct values over both windows; for numeric columns, a lower bound once above 5
    choice: TestChoice
    result: DriftResult
    # Every applicable test, when asked for (the deciding one is `result`).
    all_results: tuple[DriftResult, ...] = ()
    status: ColumnStatus = "tested"
    problem: str = ""  # why the column was not tested (status other than "tested")

    @property
    def drifted(self) -> bool:
        return self.status == "tested" and self.result.drifted

    @property
    def tested(self) -> bool:
        return self.status == "tested"


@dataclass(frozen=True)
class DatasetDrift:
    """`share_drifted` = n_drifted / n_tested: untestable columns and data-quality problems count neither
    as drifted nor as not drifted (`problems` lists them)."""

    columns: tuple[ColumnDrift, ...]
    n_columns: int
    n_drifted: int
    share_drifted: float
    drift_share: float
    drifted: bool
    n_reference: int
    n_current: int
    n_tested: int = 0

    @property
    def problems(self) -> tuple[ColumnDrift, ...]:
        return tuple(c for c in self.columns if not c.tested)

    def column(self, name: str) -> ColumnDrift:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)


def default_test(kind: ColumnKind, n_reference: int, n_unique: int) -> TestChoice:
    """Evidently's rule. `n_unique` counts distinct non-missing values over reference and current together."""
    if kind not in ("numeric", "categorical"):
        raise ValueError(f"kind must be 'numeric' or 'categorical', got {kind!r}")
    small = n_reference <= SMALL_REFERENCE_MAX_ROWS
    size = f"reference {n_reference:,} rows {'<=' if small else '>'} {SMALL_REFERENCE_MAX_ROWS:,}"
    continuous = kind == "numeric" and n_unique > LOW_CARDINALITY_MAX_UNIQUE
    if small:
        if continuous:
            return TestChoice(Method.KS, d.P_VALUE_THRESHOLD, f"{size}; numeric with {n_unique} > 5 distinct values")
        what = "categorical" if kind == "categorical" else f"numeric with {n_unique} <= 5 distinct values"
        if n_unique <= BINARY_MAX_UNIQUE:
            return TestChoice(Method.Z, d.P_VALUE_THRESHOLD, f"{size}; {what}, <= 2 values")
        return TestChoice(Method.CHI_SQUARE, d.P_VALUE_THRESHOLD, f"{size}; {what}")
    if continuous:
        return TestChoice(
            Method.WASSERSTEIN, d.DISTANCE_THRESHOLD, f"{size}; numeric with {n_unique} > 5 distinct values"
        )
    what = "categorical" if kind == "categorical" else f"numeric with {n_unique} <= 5 distinct values"
    return TestChoice(Method.JENSEN_SHANNON, d.DISTANCE_THRESHOLD, f"{size}; {what}")


def applicable_methods(kind: ColumnKind, n_unique: int) -> tuple[str, ...]:
    """Tests a user may pick for a column (the override menu)."""
    if kind == "numeric":
        # chi-square on a numeric column: its distinct values when few, Sturges bins otherwise.
        methods = [
            Method.KS,
            Method.WASSERSTEIN,
            Method.ANDERSON,
            Method.PSI,
            Method.JENSEN_SHANNON,
            Method.HELLINGER,
            Method.CHI_SQUARE,
        ]
    else:
        methods = [Method.CHI_SQUARE, Method.PSI, Method.JENSEN_SHANNON, Method.HELLINGER]
    if n_unique <= BINARY_MAX_UNIQUE:
        methods.insert(0 if kind == "categorical" else len(methods), Method.Z)
    return tuple(str(m) for m in methods)


def choose_test(
    kind: ColumnKind, n_reference: int, n_unique: int, override: ColumnOverride | None = None
) -> TestChoice:
    base = default_test(kind, n_reference, n_unique)
    if override is None or (override.method is None and override.threshold is None):
        return base
    method = override.method or base.method
    if method not in applicable_methods(kind, n_unique):
        raise ValueError(f"test {method!r} does not apply to a {kind} column with {n_unique} distinct values")
    if override.threshold is not None:
        threshold = float(override.threshold)
    elif override.method is not None:
        threshold = d.default_threshold(method)
    else:
        threshold = base.threshold
    return TestChoice(Method(method), threshold, "set by the user", overridden=True)


def infer_kind(values: pd.Series | np.ndarray) -> ColumnKind:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    return "numeric" if pd.api.types.is_numeric_dtype(dtype) else "categorical"


# ---------------------------------------------------------------------------------------------
# Running a test on prepared data


@dataclass(frozen=True, eq=False)
class PreparedColumn:
    """One column of both windows, prepared once: sorted arrays (numeric) or counts (categorical)."""

    kind: ColumnKind
    reference: SortedColumn | None = None
    current: SortedColumn | None = None
    counts: CategoryCounts | None = None

    @property
    def n_reference(self) -> int:
        return self.reference.n if self.reference is not None else self.counts.n_reference  # type: ignore[union-attr]

    @property
    def n_current(self) -> int:
        return self.current.n if self.current is not None else self.counts.n_current  # type: ignore[union-attr]

    def n_unique(self) -> int:
        if self.kind == "numeric":
            return drift_columns.union_unique_count(self.reference, self.current, at_most=LOW_CARDINALITY_MAX_UNIQUE)  # type: ignore[arg-type]
        return self.counts.k  # type: ignore[union-attr]


def prepare_column(reference, current, kind: ColumnKind) -> PreparedColumn:
    if kind == "numeric":
        return PreparedColumn(kind, SortedColumn.of(reference), SortedColumn.of(current))
    return PreparedColumn(kind, counts=drift_columns.category_counts(reference, current))


def run_test(column: PreparedColumn, method: str, threshold: float) -> DriftResult:
    if column.kind == "categorical":
        counts = column.counts
        table = {
            Method.CHI_SQUARE: d.chi_square_test,
            Method.Z: d.z_test,
            Method.PSI: d.psi,
            Method.JENSEN_SHANNON: d.jensen_shannon,
            Method.HELLINGER: d.hellinger,
        }
        if method not in table:
            raise ValueError(f"test {method!r} does not apply to a categorical column")
        return table[Method(method)](counts, threshold)
    ref, cur = column.reference, column.current
    numeric = {
        Method.KS: d.ks_test,
        Method.WASSERSTEIN: d.wasserstein_normed,
        Method.ANDERSON: d.anderson_darling_test,
        Method.PSI: d.psi_numeric,
        Method.JENSEN_SHANNON: d.jensen_shannon_numeric,
        Method.HELLINGER: d.hellinger_numeric,
    }
    if method in numeric:
        return numeric[Method(method)](ref, cur, threshold)
    if method == Method.Z:
        return d.z_test(drift_columns.value_counts_numeric(ref, cur), threshold)  # type: ignore[arg-type]
    if method == Method.CHI_SQUARE:
        # Distinct values when there are few (<= 20 in the reference), Sturges bins otherwise.
        return d.chi_square_test(drift_columns.binned_counts(ref, cur), threshold)  # type: ignore[arg-type]
    raise ValueError(f"unknown drift test {method!r}")


def mostly_distinct(counts: CategoryCounts) -> bool:
    """Ids, timestamps, free text: many distinct values, most of them seen once (see the module docstring)."""
    n = counts.n_reference + counts.n_current
    return counts.k >= MOSTLY_DISTINCT_MIN_VALUES and counts.k > MOSTLY_DISTINCT_SHARE * n


def untestable(col: PreparedColumn, choice: TestChoice) -> tuple[ColumnStatus, str]:
    """("tested", "") or the reason no test reads this column (a data-quality problem or an id-like column)."""
    n_r, n_c = col.n_reference, col.n_current
    if (n_r == 0) != (n_c == 0):
        window = "current" if n_c == 0 else "reference"
        return "data_quality", f"data-quality problem: no values in the {window} window (column entirely missing)"
    if col.kind == "categorical" and not choice.overridden and mostly_distinct(col.counts):  # type: ignore[arg-type]
        return "not_testable", NOT_TESTABLE_ID
    return "tested", ""


def _not_tested(col: PreparedColumn, choice: TestChoice, problem: str) -> DriftResult:
    nan = float("nan")
    is_p = choice.method in d.P_VALUE_METHODS
    return DriftResult(
        str(choice.method), nan, nan if is_p else None, None if is_p else nan, choice.threshold, False,
        col.n_reference, col.n_current, problem,
    )  # fmt: skip


def column_drift(
    name: str,
    reference: pd.Series | np.ndarray | PreparedColumn,
    current: pd.Series | np.ndarray | None = None,
    kind: ColumnKind | None = None,
    override: ColumnOverride | None = None,
    all_tests: bool = False,
    n_reference: int | None = None,
    n_unique: int | None = None,
) -> ColumnDrift:
    """Drift of one column: the default (or overridden) test, and optionally every applicable test.

    When the prepared column holds samples, `n_reference` (the whole reference window's non-missing
    values) and `n_unique` (distinct values over both whole windows) give the default rule what the
    whole windows hold, so a sampled window gets the test its whole window would get; by default
    both are counted on the prepared column."""
    if isinstance(reference, PreparedColumn):
        col = reference
    else:
        kind = kind or infer_kind(reference)
        col = prepare_column(reference, current, kind)
    n_unique = col.n_unique() if n_unique is None else n_unique
    choice = choose_test(col.kind, col.n_reference if n_reference is None else n_reference, n_unique, override)
    status, problem = untestable(col, choice)
    if status != "tested":
        return ColumnDrift(name, col.kind, n_unique, choice, _not_tested(col, choice, problem), (), status, problem)
    result = run_test(col, choice.method, choice.threshold)
    others: tuple[DriftResult, ...] = ()
    if all_tests:
        # For numeric columns n_unique may stop counting above 5: enough to decide the binary tests.
        menu = applicable_methods(col.kind, n_unique)
        others = tuple(result if m == choice.method else run_test(col, m, d.default_threshold(m)) for m in menu)
    return ColumnDrift(name, col.kind, n_unique, choice, result, others)


def dataset_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Mapping[str, ColumnKind] | Sequence[str] | None = None,
    overrides: Mapping[str, ColumnOverride] | None = None,
    drift_share: float = DATASET_DRIFT_SHARE,
    all_tests: bool = False,
) -> DatasetDrift:
    """Per-column drift over the given columns (all shared columns by default, kinds inferred from dtypes)
    and the dataset verdict: drifted when the share of drifted columns is >= `drift_share`."""
    if columns is None:
        names = [c for c in reference.columns if c in current.columns]
        kinds = {c: infer_kind(reference[c]) for c in names}
    elif isinstance(columns, Mapping):
        kinds = dict(columns)
    else:
        kinds = {c: infer_kind(reference[c]) for c in columns}
    overrides = overrides or {}
    results = tuple(
        column_drift(
            name,
            prepare_column(reference[name], current[name], kind),
            override=overrides.get(name),
            all_tests=all_tests,
        )
        for name, kind in kinds.items()
    )
    n_tested = sum(c.tested for c in results)
    n_drifted = sum(c.drifted for c in results)
    share = n_drifted / n_tested if n_tested else 0.0
    return DatasetDrift(
        columns=results,
        n_columns=len(results),
        n_drifted=n_drifted,
        share_drifted=share,
        drift_share=drift_share,
        drifted=bool(n_tested) and share >= drift_share,
        n_reference=len(reference),
        n_current=len(current),
        n_tested=n_tested,
    )
