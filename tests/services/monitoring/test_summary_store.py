"""Day summaries in the database (SQLite, and Postgres when configured): folding two imports into the
same day equals folding them at once, late outcomes and erasure change a day in place (its generation
moves), and a window read back gives the same metrics as the full data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from data import scale_gen as sg
from services.monitoring import day_summary as dsum
from services.monitoring import summary_merge as sm
from services.monitoring import summary_store as store
from tests.services import factories

SCHEMA = dsum.SummarySchema(sg.NUMERIC_FEATURES, sg.CATEGORICAL_FEATURES, sg.COHORT_FIELDS, sample_k=300)
SPEC = sg.ScaleSpec(6_000, days=3)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = pd.concat([f for _, f in sg.iter_days(SPEC)], ignore_index=True)
    frame["label"] = np.where(np.arange(len(frame)) % 4 == 0, np.nan, (frame["score"] > 0.4).astype(float))
    return frame


def test_two_imports_fold_into_the_same_days(engine, rows):
    mv = factories.model_version(engine)
    half = len(rows) // 2
    store.fold_rows(engine, mv, rows.iloc[:half], SCHEMA)
    store.fold_rows(engine, mv, rows.iloc[half:], SCHEMA)
    index = store.day_index(engine, mv)
    assert [e.day for e in index] == [SPEC.day_date(d) for d in range(3)]
    assert sum(e.n_rows for e in index) == len(rows)
    assert [e.generation for e in index] == [1, 2, 1]  # the day both imports touched changed twice
    window = sm.merge_window(store.load_days(engine, mv, SPEC.day_date(0), SPEC.day_date(2)))
    lab = rows[rows["label"].notna()]
    m = sm.performance(window)
    assert m.n == len(lab)
    assert m.accuracy.value == pytest.approx(accuracy_score(lab["label"], lab["predicted_label"]), abs=1e-15)
    assert "request_id" not in window.sample.columns  # views never read the ids


def test_late_outcomes_and_erasure_update_days_in_place(engine, rows):
    mv = factories.model_version(engine)
    store.fold_rows(engine, mv, rows, SCHEMA)
    before = {e.day: e.generation for e in store.day_index(engine, mv)}
    late = rows[rows["label"].isna()].head(50).assign(previous_label=np.nan, label=1.0)
    assert store.apply_outcomes(engine, mv, late) == 50
    erased = rows[rows["label"].notna()].head(7)
    assert store.erase(engine, mv, erased) == 7
    after = store.day_index(engine, mv)
    assert any(e.generation > before[e.day] for e in after)
    assert sum(e.n_rows for e in after) == len(rows) - 7
    final = rows[~rows["request_id"].isin(erased["request_id"])].copy()
    final.loc[final["request_id"].isin(late["request_id"]), "label"] = 1.0
    window = sm.merge_window(store.load_days(engine, mv, SPEC.day_date(0), SPEC.day_date(2)))
    want = sm.merge_window(dsum.fold_chunk(final, SCHEMA).values())
    np.testing.assert_array_equal(window.counts, want.counts[[want.strata.index(k) for k in window.strata]])
    kept = store.load_days(engine, mv, SPEC.day_date(0), SPEC.day_date(2), serving=False)
    assert not set(erased["request_id"]) & set(pd.concat([d.sample for d in kept])["request_id"])
