"""The weekly loop report agrees with the Overview (SQLite and Postgres): for a week the Overview's trend
shows, the report's header, its table and its figure carry the Overview's numbers for that week; every
monitoring window it quotes lies inside the week asked for; the HTML is one offline file with the
figures (headline by week with its band, drifted features, regressed cohorts, decisions of the week)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.core.roles import Actor, Role
from services.core.timeutil import utcnow
from services.models import registry
from services.monitoring import frames
from services.overview import report, report_render
from services.overview import summary as overview
from tests.services import factories
from tests.services.monitoring.test_monitoring import synthetic
from tests.services.reports.test_drift_report import assert_self_contained

VIEWER = Actor("vic@example.com", Role.viewer)
ADMIN = Actor("root@example.com", Role.admin)


@pytest.fixture
def monitored(engine):
    """28 days from Monday 2026-03-02 (four whole ISO weeks), outcomes for the first 17 days; x and the
    ios cohort go wrong from day 14 (2026-03-16, the first day of W12), after the 14-day reference."""
    mv = synthetic(engine, days=28, shift_day=14, labelled_days=17)
    frames.clear_caches()
    return mv


def test_the_report_quotes_the_overviews_numbers_for_the_week(engine, monitored):
    status = overview.monitoring_status(engine)
    ov = status.headline.weeks
    assert list(ov["window_start"].map(str)) == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    for week, start in (("2026-W11", "2026-03-09"), ("2026-W12", "2026-03-16"), ("2026-W13", "2026-03-23")):
        built = report.weekly_report(engine, VIEWER, week)
        row = ov[ov["window_start"].map(str) == start].iloc[0]
        this = built.this_week
        assert str(built.window.start) == start and built.window.days == 7
        for c in ("n", "labelled_share", "realized", "estimate", "lower", "upper"):
            assert this[c] == pytest.approx(row[c], nan_ok=True), (week, c)
        # the header line and the table's "realized" row say the same number, the week's own
        page = report_render.to_html(built)
        assert f"realized accuracy {report.pct(row['realized'])}" in built.headline
        change = next(c for c in built.changes if c.what == "realized accuracy")
        assert change.this_week == report.pct(row["realized"])
        assert f"<td>{report.pct(row['realized'])}</td>" in page
    # W11 is the Overview's "last realized" week (W12 is only 1/7 labelled): same number in the report
    w11 = report.weekly_report(engine, VIEWER, "2026-W11")
    assert w11.this_week["realized"] == pytest.approx(status.headline.last_realized)
    w12 = report.weekly_report(engine, VIEWER, "2026-W12")
    assert "outcomes still arriving" in w12.headline
    assert next(c for c in w12.changes if c.what == "realized accuracy").last_week == report.pct(
        status.headline.last_realized
    )


def test_every_window_lies_inside_the_week_asked_for(engine, monitored):
    built = report.weekly_report(engine, VIEWER, "2026-W12")
    start, end = built.start.date(), (built.end - timedelta(days=1)).date()
    assert (built.window.start, built.window.end) == (start, end)
    assert built.drift.current == built.window  # drift of the week, not monitoring's last 28 days
    assert built.weeks["window_end"].max() == end  # the history stops at the asked week
    assert built.drift.column("x").drifted and not built.drift.column("z").drifted
    assert "features drift on churn v1" in built.drift_text and ": x" in built.drift_text
    assert [c.label for c in built.cohorts] == ["platform = ios"] and built.cohorts[0].new
    before = report.weekly_report(engine, VIEWER, "2026-W11")  # the week before the shift
    assert not before.drift.column("x").drifted and before.cohorts == []
    # a week before the data: nothing quoted from other weeks
    empty = report.weekly_report(engine, VIEWER, "2026-W05")
    assert empty.window is None and empty.this_week is None and empty.drift is None
    assert "no predictions" in empty.headline and empty.weeks.empty


def test_html_is_one_offline_file_with_the_figures(engine, monitored):
    built = report.weekly_report(engine, VIEWER, "2026-W12")
    page = report_render.to_html(built)
    assert_self_contained(page)
    for div in ("headline", "drift", "cohorts"):
        assert f'id="{div}"' in page, div
    fig = report_render.headline_figure(built)
    names = [t.name for t in fig.data]
    assert "estimate band (95%)" in names and "realized accuracy" in names and "CBPE estimate" in names
    realized = next(t for t in fig.data if t.name == "realized accuracy")
    assert list(realized.y) == pytest.approx(list(built.weeks["realized"].astype(float)), nan_ok=True)
    cohorts = report_render.cohorts_figure(built)
    assert cohorts.data[0].x[0] == pytest.approx(built.cohorts[0].gap)
    assert report_render.to_pdf(built).startswith(b"%PDF")


def test_decisions_of_the_week_only(engine, monitored):
    """Decisions are audit events: one made now is in this week's report and its figure, not in W12's."""
    v2 = factories.model_version(engine, "churn", 2)
    registry.record_deployment(engine, ADMIN, v2, "canary", 0.1)
    assert report.weekly_report(engine, VIEWER, "2026-W12").decisions == []
    built = report.weekly_report(engine, VIEWER, report.week_of(utcnow()))
    assert [d.text for d in built.decisions] == ["churn v2 deployed canary at 10%"]
    assert all(built.start <= d.ts < built.end for d in built.decisions)
    fig = report_render.decisions_figure(built)
    assert list(fig.data[0].y) == ["canary"] and "churn v2 deployed canary at 10%" in fig.data[0].hovertext[0]
    assert "churn v2 deployed canary at 10%" in report_render.to_html(built)
