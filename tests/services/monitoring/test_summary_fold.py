"""Day summaries folded in as rows arrive (services/monitoring/summary_fold.py), SQLite and Postgres: after
imports in chunks, late outcomes, a re-sent outcome, an erasure and a retention purge, every day's summary
equals the summary folded from scratch from the final table rows (counts exactly, the sample identical),
and the raw store holds each row once; a crash between the fold and the watermark counts nothing twice;
an erased request id is refused when imported again (file and API)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from services.core.db import write_session
from services.core.errors import PermissionDenied
from services.core.schema_accounts import AuditEvent
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_monitoring import MonitoringDaySummary
from services.ingest import erasure, live
from services.ingest.problems import ImportRejected
from services.ingest.service import import_frame
from services.monitoring import day_summary as dsum
from services.monitoring import raw_store, retention, summary_admin, summary_fold, summary_merge, summary_store
from services.monitoring.refresh import refresh_monitoring
from tests.conftest import actor_of
from tests.services import factories

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 4


def _predictions(first: int, n: int, day: int, extra: bool = False) -> pd.DataFrame:
    i = np.arange(first, first + n)
    frame = pd.DataFrame({
        "request_id": [f"r{k}" for k in i], "model_name": "churn", "model_version": 1,
        "ts": [(START + timedelta(days=day, minutes=int(k) * 7 % 1400)).isoformat() for k in i],
        "score": (i * 37 % 100) / 100, "predicted_label": (i * 37 % 100 >= 50).astype(int),
        "feature_x": i % 13 * 1.5, "feature_plan": np.where(i % 3 == 0, "pro", "free"),
        "cohort_platform": np.where(i % 2 == 0, "ios", "web"),
    })  # fmt: skip
    frame.loc[i % 11 == 0, "feature_x"] = np.nan  # some missing values
    if extra:  # a cohort field and a feature the version has not met yet
        frame["cohort_tier"] = np.where(i % 4 == 0, "gold", "basic")
        frame["feature_age"] = i % 50
    return frame


def _outcomes(request_ids: list[str], flip: bool = False) -> pd.DataFrame:
    label = [(int(r[1:]) % 3 == 0) ^ flip for r in request_ids]
    return pd.DataFrame({"request_id": request_ids, "ts": (START + timedelta(days=9)).isoformat(),
                         "actual_label": np.asarray(label, dtype=int)})  # fmt: skip


def _table(engine, mv: int) -> pd.DataFrame:
    """The version's rows straight from the tables (no summary code involved)."""
    p = Prediction.__table__.c
    query = sa.select(p.request_id, p.ts, p.score, p.predicted_label, p.features, p.cohorts,
                      Outcome.__table__.c.actual_label).outerjoin(
        Outcome, Outcome.request_id == p.request_id).where(p.model_version_id == mv)  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    records = [{"request_id": r["request_id"], "ts": r["ts"], "score": r["score"],
                "predicted_label": r["predicted_label"],
                "label": np.nan if r["actual_label"] is None else float(r["actual_label"]),
                **(r["features"] or {}), **(r["cohorts"] or {})} for r in rows]  # fmt: skip
    frame = pd.DataFrame(records)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _stored(engine, mv: int) -> dict[date, dsum.DaySummary]:
    days = summary_store.load_days(engine, mv, date(2000, 1, 1), date(2100, 1, 1), serving=False)
    return {d.day: d for d in days}


def _categories(s: dsum.DaySummary) -> set:
    c = s.categories[["stratum", "feature", "category", "count"]]
    return {(s.strata[int(i)], f, v, int(n)) for i, f, v, n in c.itertuples(index=False) if n > 0}


def _sample(s: dsum.DaySummary) -> pd.DataFrame:
    out = s.sample.sort_values("request_id").reset_index(drop=True)
    for f in s.schema.cohorts:
        out[f] = out[f].astype(object).where(out[f].notna(), None)
    return out[dsum.sample_columns(s.schema)]


def assert_same(stored: dsum.DaySummary, scratch: dsum.DaySummary) -> None:
    assert stored.n_rows == scratch.n_rows and stored.schema.cohorts == scratch.schema.cohorts
    where = stored.index()
    for j, key in enumerate(scratch.strata):
        i = where[key]
        assert np.array_equal(stored.counts[i], scratch.counts[j]), (stored.day, key)
        assert np.allclose(stored.sums[i], scratch.sums[j]) and np.array_equal(stored.present[i], scratch.present[j])
    for key in set(stored.strata) - set(scratch.strata):  # a value whose rows all left: nothing counted
        assert stored.counts[where[key]].sum() == 0
    assert _categories(stored) == _categories(scratch)
    pd.testing.assert_frame_equal(_sample(stored), _sample(scratch), check_dtype=False, check_categorical=False)


def assert_current(engine, mv: int, skip_before: date | None = None) -> None:
    """Every day's summary equals a fold from scratch of the table's rows; the raw store holds each row once."""
    table = _table(engine, mv)
    stored = _stored(engine, mv)
    days = table["ts"].dt.date
    for day in sorted(set(days)):
        if skip_before and day < skip_before:
            continue
        schema = stored[day].schema
        part = table[(days == day).to_numpy()].reindex(columns=[*table.columns, *[
            c for c in (*schema.numeric, *schema.categorical, *schema.cohorts) if c not in table.columns]])  # fmt: skip
        assert_same(stored[day], dsum.fold_day(part.reset_index(drop=True), day, schema))
    check = summary_admin.check_version(engine, mv)
    assert check.ok, check.summary()
    raw = raw_store.read_window(raw_store.root_for(engine), "churn", 1, skip_before or date(2000, 1, 1),
                                date(2100, 1, 1))  # fmt: skip
    kept = table if skip_before is None else table[(days >= skip_before).to_numpy()]
    assert sorted(raw["request_id"]) == sorted(kept["request_id"])


def test_chunks_late_outcomes_erasure_and_retention_equal_a_fold_from_scratch(engine, admin):
    mv = factories.model_version(engine, "churn")
    import_frame(engine, admin, "predictions", _predictions(0, 40, 0), "chunk-1")
    import_frame(engine, admin, "outcomes", _outcomes([f"r{k}" for k in range(0, 10)]), "outcomes-1")
    refresh_monitoring(engine)  # day 0, ten of its rows labelled at once
    assert summary_fold.watermark(engine) == (40, 10)
    import_frame(engine, admin, "predictions", _predictions(40, 30, 1), "chunk-2")
    import_frame(engine, admin, "predictions", _predictions(70, 30, 1), "chunk-3")  # a second chunk of day 1
    import_frame(engine, admin, "outcomes", _outcomes([f"r{k}" for k in range(10, 60)]), "outcomes-2")  # late + new
    result = refresh_monitoring(engine)
    assert (result.summaries.predictions, result.summaries.outcomes) == (60, 30)  # 30 late: day 0's rows
    assert_current(engine, mv)
    # A re-sent outcome with the other label is a known row: nothing changes anywhere.
    resent = import_frame(engine, admin, "outcomes", _outcomes(["r3", "r45"], flip=True), "outcomes-again")
    assert (resent.new, resent.known) == (0, 2)
    # New days with a new cohort field and feature: every stored day takes the wider schema.
    import_frame(engine, admin, "predictions", _predictions(100, 30, 2, extra=True), "chunk-4")
    import_frame(engine, admin, "predictions", _predictions(130, 30, 3, extra=True), "chunk-5")
    import_frame(engine, admin, "outcomes", _outcomes([f"r{k}" for k in range(60, 140)]), "outcomes-3")
    refresh_monitoring(engine)
    stored = _stored(engine, mv)
    assert {s.schema.cohorts for s in stored.values()} == {("platform", "tier")}
    window = summary_merge.merge_window(stored.values())  # days of one version merge whatever came when
    assert window.n() == 160 and window.n(("tier", "gold")) == 15
    assert_current(engine, mv)
    # Erasure: a labelled row, and an unlabelled one whose outcome arrives after the erasure of another.
    erasure.erase_request(engine, admin, "r5", "DSR-1")
    import_frame(engine, admin, "outcomes", _outcomes(["r150"]), "outcomes-4")  # waits: not folded yet
    erasure.erase_request(engine, admin, "r150", "DSR-2")  # its outcome was never folded: it leaves as unlabelled
    erasure.erase_request(engine, admin, "r151", "DSR-3")
    import_frame(engine, admin, "predictions", _predictions(160, 5, 3, extra=True), "chunk-6")  # not folded yet
    erasure.erase_request(engine, admin, "r162", "DSR-4")  # never folded: the summaries are left alone
    refresh_monitoring(engine)
    assert_current(engine, mv)
    # Retention: days before the cutoff lose their rows, keep their summaries, and take nothing new.
    before = _stored(engine, mv)
    retention.set_retention(engine, admin, "churn", 2)
    purged = retention.purge(engine, admin, "churn")
    assert purged.cutoff == (START + timedelta(days=1)).date()
    import_frame(engine, admin, "predictions", _predictions(500, 5, 0), "late-for-a-purged-day")
    refresh_monitoring(engine)
    after = _stored(engine, mv)
    assert_same(after[START.date()], before[START.date()])
    assert_current(engine, mv, skip_before=purged.cutoff)


def test_an_erased_request_id_is_refused_when_imported_again(engine, admin):
    factories.model_version(engine, "churn")
    import_frame(engine, admin, "predictions", _predictions(0, 5, 0), "chunk-1")
    refresh_monitoring(engine)
    erasure.erase_request(engine, admin, "r2", "DSR-9")
    again = _predictions(0, 5, 0).iloc[[2, 4]]  # r2 (erased) and r4 (known)
    refused = r"again.csv:1:request_id: this request_id was erased at a data subject.s request"
    with pytest.raises(ImportRejected, match=refused) as err:
        import_frame(engine, admin, "predictions", again, "again.csv")
    assert "r2" not in str(err.value)  # the id itself is not repeated back
    with pytest.raises(ImportRejected, match="erased"):
        live.ingest(engine, admin, "predictions", again, "api")
    with pytest.raises(ImportRejected, match="erased"):
        import_frame(engine, admin, "outcomes", _outcomes(["r2"]), "outcome-of-erased.csv")
    fresh = import_frame(engine, admin, "predictions", _predictions(5, 2, 0), "new.csv")  # others still import
    assert fresh.new == 2


@pytest.mark.parametrize("phase", ["predictions", "outcomes"])
def test_a_crash_between_the_fold_and_the_watermark_counts_nothing_twice(engine, admin, monkeypatch, phase):
    mv = factories.model_version(engine, "churn")
    import_frame(engine, admin, "predictions", _predictions(0, 30, 0), "chunk-1")
    if phase == "outcomes":
        refresh_monitoring(engine)
        import_frame(engine, admin, "outcomes", _outcomes([f"r{k}" for k in range(0, 20)]), "late")
    import_frame(engine, admin, "predictions", _predictions(30, 30, 1), "chunk-2")
    real = summary_fold._move

    def crash(session, p, o):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(summary_fold, "_move", crash)
    before = summary_fold.watermark(engine)
    with pytest.raises(RuntimeError):
        summary_fold.refresh(engine)
    assert summary_fold.watermark(engine) == before
    monkeypatch.setattr(summary_fold, "_move", real)
    refresh_monitoring(engine)
    assert_current(engine, mv)


def test_rebuild_repairs_a_version_admins_only_and_audited(engine, admin):
    mv = factories.model_version(engine, "churn")
    import_frame(engine, admin, "predictions", _predictions(0, 40, 0), "chunk-1")
    import_frame(engine, admin, "predictions", _predictions(40, 20, 2), "chunk-2")
    import_frame(engine, admin, "outcomes", _outcomes([f"r{k}" for k in range(0, 30)]), "outcomes")
    refresh_monitoring(engine)
    with write_session(engine) as session:  # damage: a day's summary lost
        session.execute(sa.delete(MonitoringDaySummary).where(MonitoringDaySummary.day == START.date()))
    damaged = summary_admin.check_version(engine, mv)
    assert not damaged.ok and "difference" in damaged.summary()
    with pytest.raises(PermissionDenied):
        summary_admin.rebuild_summaries(engine, actor_of("analyst"), "churn", 1)
    result = summary_admin.rebuild_summaries(engine, admin, "churn", 1)
    assert result.rebuilt and result.predictions == 60
    assert_current(engine, mv)
    with engine.connect() as conn:
        event = conn.execute(sa.select(AuditEvent).where(AuditEvent.action == "monitoring.summaries_rebuild")).one()
    assert event.actor == admin.label and json.loads(event.payload)["predictions"] == 60
