"""Bad input never hangs: the width of every import is bounded with a clear message (issue 13.4)."""

from __future__ import annotations

import time

import pandas as pd

from services.ingest.kinds import MAX_COHORT_FIELDS, MAX_COHORT_VALUES, MAX_COLUMNS, MAX_FEATURES
from tests.services.ingest.test_ingest import EXPERIMENT, csv_bytes, only_problem, prediction_rows, rejected, seed


def _exposures(n: int, **extra_columns) -> pd.DataFrame:
    frame = pd.DataFrame({
        "experiment_key": [EXPERIMENT] * n,
        "unit_id": [f"u-{i}" for i in range(n)],
        "variant": ["control", "treatment"] * (n // 2) + ["control"] * (n % 2),
        "ts": ["2024-05-01T08:00:00Z"] * n,
    })  # fmt: skip
    return frame.assign(**extra_columns)


def test_ten_thousand_cohort_columns_are_refused_at_once(engine):
    seed(engine)
    # The file written as text: pandas built and wrote the 10,000-column frame column by column (~1.2 CPU-s,
    # more than the import); these are the bytes to_csv wrote for it (5 exposures, every cohort cell "x").
    header, *rows = csv_bytes(_exposures(5)).decode().splitlines()
    cohorts = [",".join(f"cohort_c{i}" for i in range(10_000))] + [",".join(["x"] * 10_000)] * len(rows)
    wide = "".join(f"{line},{cells}\n" for line, cells in zip([header, *rows], cohorts, strict=True)).encode()
    started = time.perf_counter()
    problem = only_problem(rejected(engine, "exposures", wide, "wide.csv"))
    assert time.perf_counter() - started < 30  # about 1 s; before the bound, the import ran for 15-34 minutes
    assert problem.message == f"the file has 10,004 columns; an import may have at most {MAX_COLUMNS:,}"


def test_too_many_cohort_fields_or_features_say_how_many_are_allowed(engine):
    seed(engine)
    fields = _exposures(4, **{f"cohort_f{i}": ["a"] * 4 for i in range(MAX_COHORT_FIELDS + 1)})
    problem = only_problem(rejected(engine, "exposures", csv_bytes(fields)))
    assert f"{MAX_COHORT_FIELDS + 1} cohort_ columns; at most {MAX_COHORT_FIELDS}" in problem.message
    extra = pd.DataFrame({f"feature_x{i}": [1.0] * 3 for i in range(MAX_FEATURES)})
    rows = pd.concat([pd.DataFrame(prediction_rows(3)), extra], axis=1)
    problem = only_problem(rejected(engine, "predictions", csv_bytes(rows)))
    assert f"{MAX_FEATURES + 2:,} feature_ columns; at most {MAX_FEATURES:,}" in problem.message


def test_a_cohort_field_with_an_id_per_row_is_no_cohort(engine):
    seed(engine)
    n = MAX_COHORT_VALUES + 1
    frame = _exposures(n, cohort_user=[f"user-{i}" for i in range(n)], cohort_platform=["ios"] * n)
    problem = only_problem(rejected(engine, "exposures", csv_bytes(frame)))
    assert problem.column == "cohort_user"
    assert f"'user' has {n:,} distinct values in this file; at most {MAX_COHORT_VALUES:,}" in problem.message
