"""Overview reads and the weekly report (SQLite and Postgres): champion and its age at a moment, alerts by
severity, feedback inflow, running experiments, approvals for me, top backlog, the decisions timeline;
the report's HTML escapes user text, the PDF is one page, and the CLI writes both."""

from datetime import UTC, datetime, timedelta

import pytest

from services.backlog import items as backlog
from services.cli.main import main
from services.core import settings
from services.core.db import write_session
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role
from services.core.schema_experiments import Experiment, Exposure
from services.core.schema_monitoring import Alert, AlertRule
from services.governance import approvals, executor
from services.models import registry, rollout
from services.monitoring import frames
from services.overview import report, report_render
from services.overview import summary as overview
from tests.services import factories

ADMIN = Actor("root@example.com", Role.admin)
ANALYST = Actor("ana@example.com", Role.analyst)
APPROVER = Actor("apo@example.com", Role.approver)


def test_champion_and_its_age_at_a_moment(engine):
    v1 = factories.model_version(engine, version=1)
    v2 = factories.model_version(engine, version=2)
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    registry.record_deployment(engine, ADMIN, v1, "full", 1.0, started_at=t0)
    registry.record_deployment(engine, ADMIN, v2, "full", 1.0, started_at=t0 + timedelta(days=10))
    now = overview.champions(engine, at=t0 + timedelta(days=15))
    assert [(c.label, round(c.age_days)) for c in now] == [("churn v2", 5)]
    before = overview.champions(engine, at=t0 + timedelta(days=5))
    assert [c.label for c in before] == ["churn v1"]
    assert overview.champions(engine, at=t0 - timedelta(days=1)) == []
    kinds = [d.kind for d in overview.decisions(engine)]
    assert kinds[:2] == ["promotion", "promotion"]  # the factory's versions are not registered through the registry


def test_each_decision_is_shown_once_with_its_true_kind(engine, tmp_path, monkeypatch):
    """An executed request writes the approval.execute event and the deployments it made; the timeline
    tells it once: a rollback is a rollback, not also a "promotion" by its deploy event."""
    monkeypatch.setenv(rollout.ROUTING_DIR_ENV, str(tmp_path / "routing"))
    v1, v2, v3 = (factories.model_version(engine, version=n) for n in (1, 2, 3))
    registry.record_deployment(engine, ADMIN, v1, "full", 1.0, started_at=datetime(2026, 9, 1, tzinfo=UTC))
    settings.set_value(engine, ADMIN, "approvals.required", {k: 1 for k in approvals.KINDS})

    def run(kind, subject, **kw):
        if kind == "rollback":
            row = rollout.request_rollback(engine, ANALYST, "churn", "v2 hurts mobile", **kw)
        else:
            row = approvals.request_change(engine, ANALYST, kind, subject, "go", kw or None)
        approvals.decide(engine, APPROVER, row.id, "approve")
        executor.execute(engine, APPROVER, row.id)
        return row.id

    promote = run("promote", v2)
    canary = run("canary", v3, traffic_share=0.1)
    end_canary = run("rollback", None, end_deployment_id=registry.aliases(engine, "churn").challengers[0][1].id)
    rollback = run("rollback", None)
    with write_session(engine) as session:
        session.add(Experiment(key="exp-1", name="Offer", status="running", variants=[{"key": "a"}, {"key": "b"}]))
    stop = run("stop-experiment", "exp-1")
    got = [(d.kind, d.request_id, d.actor, d.text) for d in overview.decisions(engine)]
    assert got.pop(0) == ("experiment", stop, APPROVER.label, f"Experiment exp-1 stopped (request #{stop})")
    assert got == [
        ("rollback", rollback, APPROVER.label,
         f"Rolled back: churn v1 deployed full at 100% (request #{rollback})"),
        ("rollback", end_canary, APPROVER.label,
         f"Rolled back: churn v3 canary deployment ended (request #{end_canary})"),
        ("canary", canary, APPROVER.label, f"Canary started: churn v3 deployed canary at 10% (request #{canary})"),
        ("promotion", promote, APPROVER.label, f"Promoted: churn v2 deployed full at 100% (request #{promote})"),
        ("promotion", None, ADMIN.label, "churn v1 deployed full at 100%"),  # no request: the admin's own
    ]  # fmt: skip
    assert registry.aliases(engine, "churn").champion.id == v1
    # the limit counts decisions, not audit events; a page boundary never splits one
    monkeypatch.setattr(overview, "DECISIONS_BATCH", 1)
    assert [d.request_id for d in overview.decisions(engine, limit=1)] == [stop]
    assert [d.request_id for d in overview.decisions(engine, limit=3)] == [stop, rollback, end_canary]
    assert [(d.request_id, d.text) for d in overview.decisions(engine, limit=5)][1:] == [x[1::2] for x in got[:4]]


def test_alerts_by_severity(engine):
    mv = factories.model_version(engine)
    with write_session(engine) as session:
        rules = [AlertRule(name=f"r{i}", model_name="churn", metric="accuracy", threshold=0.8, severity=s)
                 for i, s in enumerate(["critical", "warning"])]  # fmt: skip
        session.add_all(rules)
        session.flush()
        for i, (rule, state) in enumerate([(rules[0], "open"), (rules[1], "open"), (rules[1], "open"),
                                           (rules[1], "acknowledged"), (rules[0], "resolved")]):  # fmt: skip
            session.add(Alert(rule_id=rule.id, model_version_id=mv, state=state,
                              window_start=datetime(2026, 10, 1 + i, tzinfo=UTC)))  # fmt: skip
    counts = overview.alert_counts(engine)
    assert counts.open_by_severity == {"critical": 1, "warning": 2}
    assert counts.open_total == 3 and counts.acknowledged == 1


def test_feedback_experiments_approvals_and_backlog(engine):
    factories.feedback(engine, 5, age_days=0)
    factories.feedback(engine, 3, age_days=8, source="mail")
    fb = overview.feedback_status(engine)
    assert fb.total == 8 and fb.untriaged == 8
    assert fb.weekly["items"].sum() == 8
    with write_session(engine) as session:
        exp = Experiment(key="e1", name="Offer", status="running", planned_sample_size=10,
                         variants=[{"key": "a"}, {"key": "b"}], start_at=datetime(2026, 10, 1, tzinfo=UTC))  # fmt: skip
        session.add(exp)
        session.flush()
        session.add_all([Exposure(experiment_id=exp.id, unit_id=f"u{i}", variant="a", ts=exp.start_at)
                         for i in range(5)])  # fmt: skip
    running = overview.running_experiments(engine, at=datetime(2026, 10, 11, tzinfo=UTC))
    assert [(e.key, e.exposures, e.planned_total, round(e.days_running)) for e in running] == [("e1", 5, 20, 10)]
    assert running[0].progress == pytest.approx(0.25)
    mv = factories.model_version(engine)
    approvals.request_change(engine, ANALYST, "canary", mv, "looks better")
    assert len(overview.approval_status(engine, APPROVER).awaiting_me) == 1
    assert overview.approval_status(engine, ANALYST).awaiting_me == []  # below approver: none "for me"
    assert overview.approval_status(engine, ANALYST).pending_total == 1
    backlog.create_item(engine, ANALYST, kind="tech_debt", title="b", reach=1, impact=1, confidence=1, effort=1)
    top = backlog.create_item(engine, ANALYST, kind="tech_debt", title="a", reach=5, impact=1, confidence=1, effort=1)
    assert [i.id for i in overview.top_backlog(engine)][0] == top.id
    snap = overview.snapshot(engine, APPROVER)
    assert snap.monitoring.drift is None and snap.monitoring.headline is None  # no blocks built here


def test_weekly_report_escapes_user_text_and_counts_the_week(engine):
    item = backlog.create_item(engine, ANALYST, kind="tech_debt", title="<script>alert(1)</script> & fix",
                               reach=1, impact=1, confidence=1, effort=1)  # fmt: skip
    week = report.week_of(item.created_at)
    built = report.weekly_report(engine, ANALYST, week)
    page = report_render.to_html(built)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; fix" in page
    changes = {c.what: (c.this_week, c.last_week) for c in built.changes}
    assert changes["backlog items created"] == (1, 0)
    pdf = report_render.to_pdf(built)
    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1  # one page
    with pytest.raises(InvalidInput):
        report.parse_week("2026-43")
    with pytest.raises(InvalidInput):
        report.parse_week("2026-W54")
    start, end = report.parse_week("2026-W43")
    assert (start, end - start) == (datetime(2026, 10, 19, tzinfo=UTC), timedelta(days=7))


def test_cli_writes_html_and_pdf(engine, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    assert main(["report", "--week", "2026-W43", "--out", str(tmp_path / "r.pdf")]) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    assert main(["report", "--week", "2026-W43", "--out", str(tmp_path / "r.html")]) == 0
    assert "Loopdeck weekly loop report: 2026-W43" in (tmp_path / "r.html").read_text()
    assert "written to" in capsys.readouterr().out
    assert main(["report", "--week", "last week", "--out", str(tmp_path / "x.html")]) == 2


def test_monitoring_status_is_saved_for_other_processes_and_recomputed_when_a_block_changes(engine, monkeypatch):
    """A new process (or another replica) reads the champion's drift and weekly headline back in one query,
    without decoding a block; a rebuilt block (new data) changes the inputs' digest and recomputes it."""
    import pandas as pd
    import sqlalchemy as sa

    from services.monitoring import blocks as md
    from tests.services.monitoring.test_monitoring import synthetic

    synthetic(engine, days=21, labelled_days=14)
    frames.clear_caches()
    computed = overview.monitoring_status(engine)
    assert computed.problem is None and computed.drift is not None and computed.headline is not None
    assert computed.drift.n_drifted >= 1 and computed.headline.weeks["realized"].notna().any()

    reads = []
    real_read_blocks = md.read_blocks
    monkeypatch.setattr(md, "read_blocks", lambda *a, **k: reads.append(1) or real_read_blocks(*a, **k))
    frames.clear_caches()  # as in a fresh process
    again = overview.monitoring_status(engine)
    assert reads == []
    assert again.drift == computed.drift
    pd.testing.assert_frame_equal(again.headline.weeks, computed.headline.weeks)
    for name in ("last_realized", "previous_realized", "estimate_recent", "estimate_week", "labelled_share_recent"):
        assert getattr(again.headline, name) == pytest.approx(getattr(computed.headline, name), nan_ok=True)

    with engine.begin() as conn:  # a block rebuilt by new data
        conn.execute(sa.text("UPDATE monitoring_block SET generation = generation + 1 "
                             "WHERE id = (SELECT max(id) FROM monitoring_block)"))  # fmt: skip
    frames.clear_caches()
    overview.monitoring_status(engine)
    assert reads, "a changed block must be read again"


def test_loop_counts_read_the_monitoring_blocks_and_only_the_rows_since_the_last_refresh(engine):
    """The Overview's prediction and outcome counts equal the tables' at every step (no refresh yet, refreshed,
    new rows waiting), and never count a whole table (count(*) read every row: O(rows) per Overview)."""
    import re

    import pandas as pd
    import sqlalchemy as sa

    from services import ingest
    from tests.services.monitoring.test_monitoring import START, synthetic

    def table_counts() -> tuple[int, int]:
        with engine.connect() as conn:
            return tuple(
                conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in ("prediction", "outcome")
            )

    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(" ".join(statement.split()))

    synthetic(engine, days=3, per_day=50, labelled_days=2)  # refreshes the blocks
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        counts = overview.loop_counts(engine)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert (counts.predictions, counts.outcomes) == table_counts() == (150, 100)
    whole = re.compile(r"count\(\*\).*FROM (prediction|outcome)(?! WHERE)", re.IGNORECASE)
    counted = [s for s in statements if re.search(r"FROM (prediction|outcome)", s, re.IGNORECASE)]
    assert counted and not [s for s in counted if whole.search(s)], counted

    # Rows imported since the refresh: counted from the id range above the blocks' watermark.
    more = pd.DataFrame({"request_id": ["late-1", "late-2"], "model_name": "churn", "model_version": 1,
                         "ts": (START + timedelta(days=1)).isoformat(), "score": [0.2, 0.7],
                         "predicted_label": [0, 1]})  # fmt: skip
    ingest.import_frame(engine, ANALYST, "predictions", more, "late")
    outcome = pd.DataFrame({"request_id": ["late-1"], "ts": (START + timedelta(days=2)).isoformat(),
                            "actual_label": [0]})  # fmt: skip
    ingest.import_frame(engine, ANALYST, "outcomes", outcome, "late")
    counts = overview.loop_counts(engine)
    assert (counts.predictions, counts.outcomes) == table_counts() == (152, 101)
