"""Day summaries against the full data they summarise (the demo story from data/scale_gen.py, 200,000
predictions over 90 days): folding in chunks equals folding at once; window metrics equal the row-level
ones (counts exact, ROC AUC within its bound < 1e-3, calibration exact, CBPE exact); late outcomes and
erasure update a day in place to what a fold of the final rows gives; drift verdicts equal the
full-data verdicts except where the full-data distance lies within the stated bound of the threshold."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from data import scale_gen as sg
from services.monitoring import day_summary as dsum
from services.monitoring import summary_merge as sm
from services.monitoring.day_summary_codec import from_bytes, to_bytes
from services.stats import cbpe
from services.stats import drift_select as dsel
from services.stats.calibration import reliability_diagram

SCHEMA = dsum.SummarySchema(sg.NUMERIC_FEATURES, sg.CATEGORICAL_FEATURES, sg.COHORT_FIELDS, sample_k=600)
SPEC = sg.ScaleSpec(200_000, days=90)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.concat([frame for _, frame in sg.iter_days(SPEC)], ignore_index=True)


@pytest.fixture(scope="module")
def days(data) -> dict[date, dsum.DaySummary]:
    return dsum.fold_chunk(data, SCHEMA)


def _rows(data: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    d = data["ts"].dt.date
    return data[(d >= SPEC.day_date(first)) & (d <= SPEC.day_date(last))]


def _window(days, first: int, last: int) -> sm.WindowSummary:
    return sm.merge_window([days[SPEC.day_date(i)] for i in range(first, last + 1)])


def _assert_same(a: dsum.DaySummary, b: dsum.DaySummary) -> None:
    ia, ib = a.index(), b.index()
    assert set(ia) == set(ib)
    order = [ib[k] for k in a.strata]
    np.testing.assert_array_equal(a.counts, b.counts[order])
    np.testing.assert_allclose(a.sums, b.sums[order], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(a.present, b.present[order])
    key = ["feature", "category"]

    def cats(s: dsum.DaySummary) -> pd.DataFrame:
        c = s.categories.assign(stratum=[s.strata[i] for i in s.categories["stratum"]])
        return c.sort_values(["stratum", *key]).reset_index(drop=True)[["stratum", *key, "count"]]

    pd.testing.assert_frame_equal(cats(a), cats(b), check_dtype=False)
    assert a.n_rows == b.n_rows


def test_folding_in_chunks_equals_folding_at_once(data, days):
    one_day = _rows(data, 30, 30)
    whole = days[SPEC.day_date(30)]
    chunks = (one_day.iloc[:300], one_day.iloc[300:500], one_day.iloc[500:])
    parts = [dsum.fold_chunk(chunk, SCHEMA)[SPEC.day_date(30)] for chunk in chunks]
    merged = dsum.merge_days(dsum.merge_days(parts[0], parts[1]), parts[2])
    _assert_same(merged, whole)
    assert merged.threshold == whole.threshold
    assert set(merged.sample["request_id"]) == set(whole.sample["request_id"])
    assert len(whole.sample) == SCHEMA.sample_k < len(one_day)  # the day is sampled, not kept whole


def test_window_metrics_equal_the_row_level_ones(data, days):
    window = _window(days, 20, 40)
    rows = _rows(data, 20, 40)
    lab = rows[rows["label"].notna()]
    m = sm.performance(window)
    assert m.n == len(lab) and window.n_rows == len(rows)
    assert m.accuracy.value == pytest.approx(accuracy_score(lab["label"], lab["predicted_label"]), abs=1e-15)
    assert abs(m.roc_auc.value - roc_auc_score(lab["label"], lab["score"])) <= m.roc_auc.bound < 1e-3
    for value, metrics in sm.cohort_performance(window, "platform"):
        part = lab[lab["platform"] == value]
        assert metrics.n == len(part)
        assert metrics.accuracy.value == pytest.approx(accuracy_score(part["label"], part["predicted_label"]))
        assert abs(metrics.roc_auc.value - roc_auc_score(part["label"], part["score"])) <= metrics.roc_auc.bound
    diagram = sm.reliability(window, n_bins=10)
    want = reliability_diagram(lab["label"], lab["score"], n_bins=10)
    assert diagram.ece == pytest.approx(want.ece, abs=1e-12)
    est = sm.estimated(window, cbpe.ScoreCalibrator("none"), n_simulations=0)
    full = cbpe.estimate_performance(rows["score"], rows["predicted_label"] == 1, rows["score"], n_simulations=0)
    assert est.estimate.accuracy.value == pytest.approx(full.accuracy.value, abs=1e-12)
    assert est.estimate.f1.value == pytest.approx(full.f1.value, abs=1e-12)


def test_late_outcomes_update_a_day_in_place(data):
    day = _rows(data, 50, 50).copy()
    late = day["label"].notna().to_numpy() & (np.arange(len(day)) % 3 == 0)
    before = day.assign(label=np.where(late, np.nan, day["label"]))
    summary = dsum.fold_chunk(before, SCHEMA)[SPEC.day_date(50)]
    arrived = day[late].assign(previous_label=np.nan)
    assert dsum.apply_outcomes(summary, arrived) == late.sum()
    _assert_same(summary, dsum.fold_chunk(day, SCHEMA)[SPEC.day_date(50)])
    labels = day.set_index("request_id")["label"]
    got = summary.sample.set_index("request_id")["label"]
    pd.testing.assert_series_equal(got, labels.loc[got.index], check_names=False)


def test_erasure_removes_requests_from_counts_and_sample(data):
    day = _rows(data, 10, 10)
    summary = dsum.fold_chunk(day, SCHEMA)[SPEC.day_date(10)]
    gone = summary.sample.head(5)["request_id"].tolist() + day["request_id"].iloc[:3].tolist()
    threshold = summary.threshold
    erased = day[day["request_id"].isin(gone)]
    assert dsum.erase(summary, erased) == len(erased)
    rest = dsum.fold_chunk(day[~day["request_id"].isin(gone)], SCHEMA)[SPEC.day_date(10)]
    _assert_same(summary, rest)
    assert not set(gone) & set(summary.sample["request_id"])
    assert summary.threshold == threshold  # the window rule still holds: the day's threshold is kept


def test_codec_round_trip(days):
    s = days[SPEC.day_date(70)]
    back = from_bytes(to_bytes(s))
    _assert_same(back, s)
    assert back.threshold == s.threshold and back.schema == s.schema and back.day == s.day
    as_text = dict.fromkeys(SCHEMA.cohorts, str)
    pd.testing.assert_frame_equal(back.sample.astype(as_text), s.sample.astype(as_text), check_dtype=False)
    served = from_bytes(to_bytes(s), serving=True)  # what a view reads: no request ids, cohorts as categories
    assert "request_id" not in served.sample.columns
    assert all(isinstance(served.sample[f].dtype, pd.CategoricalDtype) for f in SCHEMA.cohorts)
    assert len(to_bytes(s)) < 2 * 2**20


def test_drift_verdicts_equal_full_data_except_within_the_bound(data, days):
    reference, current = _window(days, 0, 13), _window(days, 62, 89)
    ref_rows, cur_rows = _rows(data, 0, 13), _rows(data, 62, 89)
    results = sm.drift(reference, current)
    assert {r.column for r in results} == set(sg.NUMERIC_FEATURES) | set(sg.CATEGORICAL_FEATURES)
    flagged = set()
    for r in results:
        kind = "categorical" if r.kind == "categorical" else "numeric"
        full = dsel.column_drift(r.column, ref_rows[r.column], cur_rows[r.column], kind=kind)
        assert r.drift.choice.method == full.choice.method
        if r.exact:
            assert r.drift.result.score == pytest.approx(full.result.score, abs=1e-12)
            assert r.drifted == full.drifted
            continue
        assert 0 < r.bound < 0.1
        assert abs(r.drift.result.score - full.result.score) <= r.bound, r.column
        if abs(full.result.score - full.result.threshold) > r.bound:
            assert r.drifted == full.drifted, r.column
        if r.drifted:
            flagged.add(r.column)
    assert {"sessions_per_week", "app_latency_ms"} <= flagged  # the story's drift is found
