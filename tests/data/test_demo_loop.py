"""The demo shows a loop that is alive (SQLite and Postgres, the demo of tests/data/conftest.py): an alert
rule on the mobile cohort has an open alert, part of the feedback was triaged by the demo accounts through
the triage service, backlog items cite their evidence, every decision and audit event carries its story
date in order (the chain verifies), feedback texts agree with their cohort, ages and the SLA are measured
on the data clock, and CUPED reduces the variance of both experiments' retention read-outs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data import demo_loop as loop
from data import scenario as sc
from services.backlog import items as backlog
from services.core import audit, clock
from services.core.schema_backlog import BacklogItem
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Prediction
from services.experiments import readout_service
from services.feedback import triage
from services.monitoring import alerts
from services.overview import summary as overview

STORY_START = pd.Timestamp(sc.day_start(-3))  # the accounts are made three days before the first prediction
STORY_NOW = pd.Timestamp(loop.STORY_NOW)
RELEASE = pd.Timestamp(sc.day_start(sc.RELEASE_DAY))


def _read(engine, query) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def _utc(value) -> pd.Timestamp:
    return pd.Timestamp(value).tz_localize(UTC) if pd.Timestamp(value).tzinfo is None else pd.Timestamp(value)


def test_the_mobile_rule_has_an_open_alert_from_the_regression(demo):
    assert overview.alert_counts(demo.engine).open_total >= 1
    rule_id = demo.summary.facts["alert_rule_id"]
    opened = [v for v in alerts.list_alerts(demo.engine, state="open") if v.rule.id == rule_id]
    assert opened, "the mobile rule opened no alert"
    champion = demo.summary.model_version_ids[2]
    for view in opened:
        e = view.alert.evidence
        assert e["cohort"] == {"platform": list(sc.MOBILE)} and e["metric"] == "accuracy"
        assert view.alert.value < loop.ALERT_RULE["threshold"] and e["rows"] >= alerts.MIN_ROWS
        # the window holds the regression, and the alert opened when its labels had arrived
        assert pd.Timestamp(e["window"]["end"]) >= RELEASE.tz_localize(None)
        assert RELEASE + pd.Timedelta(days=7) <= _utc(view.alert.opened_at) <= STORY_NOW
    assert champion in {v.alert.model_version_id for v in opened}
    # ... and before the release the rule held: no alert's window ends before it
    assert all(pd.Timestamp(v.alert.evidence["window"]["end"]) >= RELEASE.tz_localize(None)
               for v in alerts.list_alerts(demo.engine))  # fmt: skip


def test_part_of_the_feedback_is_triaged_by_the_demo_accounts(demo):
    f = Feedback.__table__
    items = _read(demo.engine, sa.select(f.c.feedback_id, f.c.ts, f.c.status, f.c.category, f.c.updated_by,
                                         f.c.updated_at, f.c.corrected_label))  # fmt: skip
    triaged = items[items["status"] != "new"]
    assert 0.5 * len(items) < len(triaged) < len(items)  # part, not all
    assert set(triaged["status"]) >= {"labelled", "escalated", "dismissed", "in_review"}
    assert triaged["category"].notna().all() and items.loc[items["status"] == "new", "category"].isna().all()
    assert set(triaged["updated_by"]) == {loop.ANALYST, loop.APPROVER}
    assert (triaged.loc[triaged["status"] == "labelled", "corrected_label"].notna()).all()
    # through the triage service: one audit event per item changed, by the account, at the session's time
    events = audit.list_events(demo.engine, audit.AuditFilter(action="feedback.update"), limit=10_000)
    assert len(events) == len(triaged) == demo.summary.counts["triaged"]
    assert set(events["actor"]) == {loop.ANALYST, loop.APPROVER}
    ts, updated = pd.to_datetime(triaged["ts"], utc=True), pd.to_datetime(triaged["updated_at"], utc=True)
    assert (updated > ts).all() and (updated < pd.Timestamp(sc.NOW)).all()
    # the flood after the release outruns the team: a larger share of the later feedback is still new
    after = pd.to_datetime(items["ts"], utc=True) >= RELEASE
    assert (items.loc[after, "status"] == "new").mean() > 2 * (items.loc[~after, "status"] == "new").mean()


def test_backlog_items_cite_their_evidence(demo):
    items = backlog.ranked(demo.engine)
    assert len(items) >= 3 and all(i.created_at is not None for i in items)
    refs = {i.id: {(e.ref_type, e.ref_id) for e in backlog.get_item(demo.engine, i.id).evidence} for i in items}
    kinds = {i.id: {t for t, _ in r} for i, r in zip(items, refs.values(), strict=True)}
    from_alert = next(i for i in items if i.source_type == "alert")
    assert kinds[from_alert.id] == {"alert", "theme", "drift"}
    alert = alerts.get_alert(demo.engine, int(from_alert.source_id)).alert
    assert alert.backlog_item_id == from_alert.id and alert.state == "open"
    assert (("drift", f"{sc.MODEL_NAME}:sessions_per_week")) in refs[from_alert.id]
    # the theme cited is the one whose items are the mobile complaints
    theme_id = next(int(r) for t, r in refs[from_alert.id] if t == "theme")
    f = Feedback.__table__
    cited = _read(demo.engine, sa.select(f.c.feedback_id).where(f.c.theme_id == theme_id))
    truth = demo.scenario.feedback.set_index("feedback_id")["theme"]
    assert (cited["feedback_id"].map(truth) == "mobile_app").mean() > 0.8
    assert any(i.kind == "data_quality" and "drift" in kinds[i.id] for i in items)
    assert all(kinds[i.id] for i in items) and all(i.reach for i in items)
    for item in items:
        assert _utc(item.created_at) == pd.Timestamp(loop.BACKLOG_AT)


def test_decisions_and_audit_events_carry_their_story_dates_in_order(demo):
    report = audit.verify(demo.engine)
    assert report.intact, report.problem
    events = audit.list_events(demo.engine, limit=100_000).sort_values("id")
    ts = pd.to_datetime(events["ts"], utc=True)
    assert ts.is_monotonic_increasing  # written in story order
    assert ts.min() == STORY_START + pd.Timedelta(hours=9) and ts.max() == STORY_NOW
    decisions = overview.decisions(demo.engine, limit=20)
    assert decisions and all(STORY_START <= _utc(d.ts) <= STORY_NOW for d in decisions)
    when = {d.text: _utc(d.ts) for d in decisions}
    assert when["churn v2 deployed full at 90%"] == pd.Timestamp(sc.day_start(sc.FULL_DAY))
    assert when["churn v2 deployed canary at 10%"] == pd.Timestamp(sc.day_start(sc.CANARY_DAY))
    concluded = next(d for d in decisions if d.kind == "experiment")
    assert _utc(concluded.ts) == pd.Timestamp(demo.scenario.experiments[0].end_at)
    b = BacklogItem.__table__
    created = _read(demo.engine, sa.select(b.c.created_at))["created_at"]
    assert (pd.to_datetime(created, utc=True) <= STORY_NOW).all()


def test_feedback_texts_name_the_platform_of_their_prediction(demo):
    f, p = Feedback.__table__, Prediction.__table__
    linked = _read(demo.engine, sa.select(f.c.text, p.c.cohorts).join(p, p.c.request_id == f.c.request_id))
    platform = linked["cohorts"].map(lambda c: c["platform"])
    ios, android = linked[platform == "ios"]["text"], linked[platform == "android"]["text"]
    assert len(ios) > 20 and len(android) > 20
    assert not ios.str.contains("Android").any()
    assert not android.str.contains("iOS|iPhone").any()
    assert not linked[platform == "web"]["text"].str.contains("iOS|iPhone|Android").any()
    # ... and they still name their own platform
    assert ios.str.contains("iOS|iPhone").any() and android.str.contains("Android").any()


def test_ages_and_the_sla_are_measured_on_the_data_clock(demo):
    assert clock.pinned(demo.engine) == loop.STORY_NOW == clock.data_now(demo.engine)
    counts = triage.queue_counts(demo.engine)
    f = Feedback.__table__
    items = _read(demo.engine, sa.select(f.c.ts, f.c.status))
    new = pd.to_datetime(items.loc[items["status"] == "new", "ts"], utc=True)
    cutoff = STORY_NOW - pd.Timedelta(days=counts.sla_days)
    assert counts.untriaged == len(new) and counts.overdue == int((new < cutoff).sum())
    assert 0 < counts.overdue < counts.untriaged  # the last days' items are new but not overdue yet
    # on the wall clock (weeks after the story) every new item would be overdue
    assert triage.queue_counts(demo.engine, now=datetime.now(UTC)).overdue == counts.untriaged
    page = triage.queue_rows(demo.engine, triage.QueueFilter(statuses=("new",)), sort="newest", limit=5)
    newest = pd.to_datetime(page["ts"], utc=True)
    np.testing.assert_allclose(page["age_days"], ((STORY_NOW - newest).dt.total_seconds() / 86400).round(1))
    assert not page["overdue"].iloc[0]
    (champion,) = overview.champions(demo.engine)
    full_since = STORY_NOW - pd.Timestamp(sc.day_start(sc.FULL_DAY))
    assert champion.age_days == pytest.approx(full_since / timedelta(days=1))
    (running,) = overview.running_experiments(demo.engine)
    assert running.days_running == pytest.approx(full_since / timedelta(days=1))


@pytest.mark.parametrize("key", ["retention-offer-v1", "churn-model-v2-ab"])
def test_cuped_reduces_the_variance_of_retention(demo, key):
    readout = readout_service.read_experiment(demo.engine, key)
    row = readout.overall[readout.overall["metric"] == "retained_30d"].iloc[0]
    assert readout.metrics.set_index("metric").loc["retained_30d", "cuped"]
    assert row["variance_reduction"] > 0.1, row["variance_reduction"]
    assert np.isfinite(row["cuped_estimate"]) and row["theta"] > 0
