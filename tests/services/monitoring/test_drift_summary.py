"""The Drift tab on day summaries (services/monitoring/drift_summary.py): the same verdicts as the row
path (exactly when the window samples hold every row, else except within each row's stated bound), no
row read when summaries cover the windows, and the row path, said so, when they do not (a day without a
current summary, two cohort fields at once). SQLite and Postgres.
"""

from __future__ import annotations

import math
from datetime import date

import pytest
import sqlalchemy as sa

from services.core.roles import Actor, Role
from services.monitoring import blocks as md
from services.monitoring import (
    drift_report,
    drift_summary,
    drift_time,
    drift_window,
    frames,
    summary_cache,
    summary_prefetch,
    summary_store,
)
from services.monitoring.summary_merge import merge_window
from services.stats import drift as d
from services.stats import priority_sample as ps
from tests.services.monitoring.summary_fixtures import fold_blocks
from tests.services.monitoring.test_monitoring import W, _sampling_story, synthetic

BEFORE, AFTER = W(date(2026, 3, 2), date(2026, 3, 7)), W(date(2026, 3, 8), date(2026, 3, 11))
VIEWER = Actor("viewer@test.io", Role.viewer)


@pytest.fixture(autouse=True)
def _fresh_caches():
    frames.clear_caches()
    yield
    frames.clear_caches()


def _no_row_reads(monkeypatch) -> None:
    def refuse(*_a, **_k):
        raise AssertionError("the summary path read rows")

    monkeypatch.setattr(md, "read_frame", refuse)


def _same(a: drift_window.DriftRow, b: drift_window.DriftRow) -> None:
    assert (a.method, a.drifted, a.n_reference, a.n_current, a.status) == (
        b.method, b.drifted, b.n_reference, b.n_current, b.status), a.column  # fmt: skip
    assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12, nan_ok=True), a.column


def test_complete_samples_give_the_row_paths_numbers_without_reading_rows(engine, monkeypatch):
    mv = synthetic(engine)
    filters = (None, {"platform": "ios"}, {"platform": ["ios", "web"]})
    rows = [drift_window.drift_report(engine, mv, BEFORE, AFTER, f, rows=True) for f in filters]
    assert rows[0].source == drift_summary.ROWS and rows[0].source_note == ""
    fold_blocks(engine, mv)
    frames.clear_caches()
    _no_row_reads(monkeypatch)
    for f, old in zip(filters, rows, strict=True):
        new = drift_window.drift_report(engine, mv, BEFORE, AFTER, f)
        assert new.source == drift_summary.SUMMARIES and new.source_note == "" and new.exact
        assert new.from_blocks == ()
        assert [r.column for r in new.rows] == [r.column for r in old.rows]
        assert (new.n_reference, new.n_current, new.n_drifted) == (old.n_reference, old.n_current, old.n_drifted)
        for a, b in zip(new.rows, old.rows, strict=True):
            _same(a, b)
            assert a.exact and a.bound == 0.0
            if a.kind == "categorical":
                assert a.distribution == b.distribution  # exact counts: the same shares
    ios = drift_window.drift_report(engine, mv, BEFORE, AFTER, {"platform": "ios"})
    assert [r.column for r in ios.features if r.drifted] == ["x"] and ios.column("x").method == d.Method.KS
    # Drift over time: every window's row equals the row path's.
    monkeypatch.undo()
    frames.clear_caches()
    over = drift_time.drift_over_time(engine, mv, BEFORE, "day")
    assert over.source == drift_summary.SUMMARIES


def test_drift_over_time_on_summaries_equals_the_row_path(engine, monkeypatch):
    mv = synthetic(engine, days=8, per_day=360, shift_day=5)
    reference = W(date(2026, 3, 2), date(2026, 3, 5))
    old = {g: drift_time.drift_over_time(engine, mv, reference, g, {"platform": "ios"}, rows=True)
           for g in ("day", "week")}  # fmt: skip
    fold_blocks(engine, mv)
    frames.clear_caches()
    _no_row_reads(monkeypatch)
    new_by = {}
    for g, before in old.items():
        new = drift_time.drift_over_time(engine, mv, reference, g, {"platform": "ios"})
        assert new.source == drift_summary.SUMMARIES and before.source == drift_summary.ROWS
        cols = ["window_start", "column", "method", "drifted", "n_current", "too_small"]
        assert new.frame[cols].equals(before.frame[cols])
        assert new.frame["score"].to_numpy() == pytest.approx(before.frame["score"].to_numpy(), nan_ok=True)
        assert new.dataset.equals(before.dataset) and new.frame["exact"].all()
        new_by[g] = new
    shift = drift_time.shift_of(new_by["day"], "x")
    assert shift is not None and shift == drift_time.shift_of(old["day"], "x")


def test_sampled_summaries_agree_with_the_full_data_except_within_the_bound(sqlite_engine, monkeypatch):
    """Days keep 100 of their 600 rows, so each window's sample holds about a sixth of its rows: numeric
    scores are approximate, each within its stated bound of the full-data (row path, unsampled) score,
    verdicts equal except where the full-data distance is within the bound of the threshold; counts stay
    exact. The one documented exception: a numeric column whose sixth distinct value sits in 2 rows can
    be seen with 5 values, and then gets the low-cardinality test."""
    engine = sqlite_engine
    mv = _sampling_story(engine)
    full = drift_window.drift_report(engine, mv, BEFORE, AFTER, rows=True)
    fold_blocks(engine, mv, sample_k=100)
    frames.clear_caches()
    _no_row_reads(monkeypatch)
    approx = drift_window.drift_report(engine, mv, BEFORE, AFTER)
    assert approx.source == drift_summary.SUMMARIES and not approx.exact
    assert (approx.n_reference, approx.n_current) == (full.n_reference, full.n_current) == (3600, 2400)
    bounded = 0
    for a in approx.rows:
        f = full.column(a.column)
        assert (a.n_reference, a.n_current) == (f.n_reference, f.n_current), a.column
        if a.kind == "categorical":
            assert a == f  # exact counts, the same row to the last digit
            continue
        assert not a.exact and a.tested_reference < a.n_reference and a.tested_current < a.n_current
        if a.method != f.method:
            assert a.column == "rare_six" and (a.n_unique, f.n_unique) == (5, 6)
            continue
        if a.method == d.Method.WASSERSTEIN:
            bounded += 1
            expected = 3 / math.sqrt(a.tested_reference) + 3 / math.sqrt(a.tested_current)
            assert a.bound == pytest.approx(expected) and 0 < a.bound < 0.5
            assert abs(a.score - f.score) <= a.bound, a.column
            if abs(f.score - 0.1) > a.bound:
                assert a.drifted == f.drifted, a.column
        else:
            assert a.bound is None  # a distance or p-value of the sample: approximate, no bound
    assert bounded >= 3
    assert approx.column("shifted").drifted and not approx.column("steady").drifted
    assert not approx.column("visits").drifted
    # Computed again from nothing: the same sample (priorities are hashes of the request ids).
    frames.clear_caches()
    again = drift_window.drift_report(engine, mv, BEFORE, AFTER)
    assert again is not approx and again.rows == approx.rows


def test_days_without_a_stored_summary_are_summarised_from_their_blocks_and_named(engine):
    """No day is left out: a day without a stored summary is summarised from its block (once per block
    generation, in this process) and the report names it; a filter on two cohort fields reads rows."""
    mv = synthetic(engine)
    fold_blocks(engine, mv, skip_days=(date(2026, 3, 9),))
    report = drift_window.drift_report(engine, mv, BEFORE, AFTER)
    assert report.source == drift_summary.SUMMARIES and report.from_blocks == (date(2026, 3, 9),)
    assert report.source_note == (
        "current window 1 day(s) had no current stored summary (first 2026-03-09) and were summarised from their day "
        "blocks in this process; a refresh stores them"
    )
    assert report.n_current == 1200  # every row, none silently left out
    full = drift_window.drift_report(engine, mv, BEFORE, AFTER, rows=True)
    for a, b in zip(report.rows, full.rows, strict=True):
        _same(a, b)  # samples hold every row here: the same numbers either way
    assert drift_window.drift_report(engine, mv, BEFORE, BEFORE).from_blocks == ()
    two = drift_window.drift_report(engine, mv, BEFORE, AFTER, {"platform": "ios", "region": "EU"})
    assert two.source == drift_summary.ROWS and "two cohort fields at once (platform and region)" in two.source_note
    assert drift_report.source_line(two).startswith("Read from rows (day blocks): a filter on two cohort fields")
    over = drift_time.drift_over_time(engine, mv, BEFORE, "day")
    assert over.source == drift_summary.SUMMARIES and over.from_blocks == (date(2026, 3, 9),)


def test_the_html_report_says_which_numbers_are_exact(sqlite_engine):
    engine = sqlite_engine
    mv = _sampling_story(engine)
    fold_blocks(engine, mv, sample_k=100)
    page = drift_report.build(engine, VIEWER, mv, BEFORE, AFTER).html
    assert "Read from day summaries" in page and "within ±" in page
    assert "exact (counts)" in page
    frames.clear_caches()
    two = drift_report.build(engine, VIEWER, mv, BEFORE, AFTER, {"platform": "ios", "region": "EU"}).html
    assert "two cohort fields at once" in two


def test_the_window_sample_of_a_cohort_is_its_own(sqlite_engine):
    """A one-field filter samples that cohort's rows (up to the cap), not the cohort's share of a sample of
    every row: exactly the ios rows whose priority is at most the window's lowest day threshold."""
    engine = sqlite_engine
    mv = _sampling_story(engine)
    fold_blocks(engine, mv, sample_k=300)
    tau = min(s.threshold for s in summary_store.load_days(engine, mv, AFTER.start, AFTER.end))
    blocks = [b for b in md.block_index(engine, mv) if AFTER.contains(b.day)]
    frame = md.read_frame(engine, blocks)
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT id, request_id FROM prediction")).all())
    ios = frame[frame["c:platform"] == "ios"]
    expected = int((ps.priorities(ios["id"].map(ids)) <= tau).sum())
    assert 0.4 * len(ios) < expected < 0.6 * len(ios)  # about half: 300 of 600 rows a day
    days, from_blocks = summary_cache.days(engine, mv, AFTER).load({"platform": "ios"}, sample=True)
    assert from_blocks == ()
    for cap, n in ((200, 200), (10_000, expected)):
        prepared = drift_window.summary_prepared(merge_window(days, cap=cap))
        assert prepared.numeric["steady"].n == n and prepared.numeric_n["steady"] == len(ios) and prepared.sampled
    report = drift_window.drift_report(engine, mv, BEFORE, AFTER, {"platform": "ios"})
    assert report.column("steady").tested_current == expected and report.n_current == len(ios)


def test_prefetch_decodes_the_days_so_a_window_change_reads_no_blob(engine, monkeypatch):
    mv = synthetic(engine, days=6, per_day=100)
    fold_blocks(engine, mv)
    thread = summary_prefetch.prefetch(engine, mv)
    assert thread is not None
    thread.join(timeout=60)

    def refuse(*_a, **_k):
        raise AssertionError("a stored summary was read again")

    monkeypatch.setattr(summary_cache, "_stored", refuse)
    _no_row_reads(monkeypatch)
    first, rest = W(date(2026, 3, 2), date(2026, 3, 3)), W(date(2026, 3, 4), date(2026, 3, 7))
    report = drift_window.drift_report(engine, mv, first, rest)
    assert report.source == drift_summary.SUMMARIES and report.n_current == 400
