"""The weekly loop report: the loop's week, for one ISO week, as data (here), as one self-contained HTML
page with figures (services/overview/report_render.py) and as a one-page PDF.

Every window it quotes lies inside the week asked for: the headline metric, drift and cohorts are read
on that ISO week (clipped to the monitored version's data) through the same functions as the Overview
(services/monitoring/summary.week_row), so the report's number for a week is the Overview's number for
that week; flows (predictions, feedback, alerts opened, backlog items, requests, decisions) are counted
inside the week and compared with the week before; point-in-time facts (champion, open alerts, running
experiments) are taken at the week's end. Only the top of the backlog is "now" (and says so).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.core.db import read_session
from services.core.errors import InvalidInput, LoopdeckError
from services.core.roles import Actor
from services.core.schema_backlog import BacklogItem
from services.core.schema_feedback import Feedback
from services.core.schema_governance import ApprovalRequest
from services.core.schema_ingest import Prediction
from services.core.schema_monitoring import Alert, AlertRule
from services.core.timeutil import to_utc, utcnow
from services.monitoring import drift_window, performance
from services.monitoring import summary as monitoring
from services.monitoring import views as mon
from services.overview import summary as overview

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(week: str) -> tuple[datetime, datetime]:
    """'2026-W43' -> [Monday 00:00 UTC, next Monday 00:00 UTC)."""
    m = WEEK_RE.match((week or "").strip())
    if not m:
        raise InvalidInput(f"A week is written like 2026-W43 (ISO year and week), not {week!r}.")
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise InvalidInput(f"{week} is not a week of that year.") from None
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


def week_of(ts: datetime) -> str:
    year, week, _ = to_utc(ts).isocalendar()
    return f"{year}-W{week:02d}"


def recent_weeks(engine: Engine, n: int = 8) -> list[str]:
    """The last `n` ISO weeks up to the latest prediction (or today), newest first."""
    with read_session(engine) as session:
        last = session.exec(select(func.max(Prediction.ts))).one()
    anchor = to_utc(last) if last is not None else utcnow()
    return [week_of(anchor - timedelta(weeks=i)) for i in range(n)]


HISTORY_WEEKS = 8  # the headline-by-week figure: the asked week and up to 7 before it


@dataclass(frozen=True)
class Change:
    what: str
    this_week: Any
    last_week: Any
    note: str = ""


@dataclass(frozen=True)
class CohortChange:
    """A cohort that fell behind the rest in the week (its gap's interval below zero)."""

    label: str
    n: int
    gap: float  # the metric in the cohort minus the rest, this week
    reference_gap: float | None  # the same in the reference window, if measured
    new: bool  # not flagged in the reference window


@dataclass(frozen=True)
class WeeklyReport:
    week: str
    start: datetime
    end: datetime
    generated_at: datetime
    generated_by: str
    champion: str
    champion_since: str
    alerts_open: dict[str, int]  # open at the week's end, by severity
    version_label: str | None  # the monitored version the metric, drift and cohorts are read on
    window: mon.Window | None  # the week, clipped to that version's data
    reference: mon.Window | None
    metric: str
    weeks: pd.DataFrame  # monitoring.WEEK_COLUMNS for the asked week and the weeks before it
    drift: drift_window.DriftReport | None
    drift_text: str
    headline: str
    cohorts: list[CohortChange]
    cohorts_text: str
    feedback: str
    experiments: list[str]
    approvals: str
    backlog: list[str]  # now (the backlog has no history of its ranking)
    decisions: list[overview.Decision]
    changes: list[Change] = field(default_factory=list)

    @property
    def this_week(self) -> dict[str, Any] | None:
        """The asked week's headline row (None: the version has no data in it)."""
        if self.window is None or self.weeks.empty:
            return None
        row = self.weeks[self.weeks["window_start"] == self.window.start]
        return row.iloc[0].to_dict() if len(row) else None

    @property
    def drift_label(self) -> str:
        return "Drift" if self.window is None else f"Drift ({self.window.label} against {self.reference.label})"


def _count_between(session, column, start: datetime, end: datetime, *where) -> int:
    query = select(func.count()).where(column >= start, column < end, *where)
    return int(session.exec(query).one())


def _flows(engine: Engine, start: datetime, end: datetime) -> dict[str, int]:
    with read_session(engine) as session:
        return {
            "predictions (all versions)": _count_between(session, Prediction.ts, start, end),
            "feedback": _count_between(session, Feedback.ts, start, end),
            "negative feedback": _count_between(session, Feedback.ts, start, end, Feedback.rating <= 2),
            "alerts opened": _count_between(session, Alert.opened_at, start, end),
            "backlog items created": _count_between(session, BacklogItem.created_at, start, end),
            "backlog items closed": _count_between(session, BacklogItem.closed_at, start, end),
            "change requests made": _count_between(session, ApprovalRequest.requested_at, start, end),
            "change requests executed": _count_between(session, ApprovalRequest.executed_at, start, end),
        }


def alerts_open_at(engine: Engine, at: datetime) -> dict[str, int]:
    """Alerts opened before `at` and not resolved by then, by their rule's severity."""
    with read_session(engine) as session:
        rows = session.exec(
            select(AlertRule.severity, func.count()).select_from(Alert).join(AlertRule, AlertRule.id == Alert.rule_id)
            .where(Alert.opened_at < at, sa.or_(Alert.resolved_at.is_(None), Alert.resolved_at >= at))
            .group_by(AlertRule.severity)
        ).all()  # fmt: skip
    return {str(s): int(n) for s, n in rows}


def pct(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1%}"


def _version(engine: Engine, at: datetime) -> mon.VersionInfo | None:
    """The version the metric is read on: the champion at the week's end when monitoring has its data,
    else monitoring's main version (the Overview's)."""
    versions = [v for v in mon.list_versions(engine) if v.has_data]
    by_id = {v.id: v for v in versions}
    for champ in overview.champions(engine, at=at):
        if champ.model_version_id in by_id:
            return by_id[champ.model_version_id]
    return mon.default_version(versions)


def _clip(info: mon.VersionInfo, start: date, end: date) -> mon.Window | None:
    assert info.first_day is not None and info.last_day is not None
    lo, hi = max(start, info.first_day), min(end, info.last_day)
    return mon.Window(lo, hi) if lo <= hi else None


def headline_weeks(engine: Engine, info: mon.VersionInfo, monday: date, reference: mon.Window,
                   metric: str = "accuracy") -> pd.DataFrame:  # fmt: skip
    """The headline metric for the ISO week starting `monday` and the HISTORY_WEEKS - 1 weeks before it,
    each clipped to the version's data (weeks without data left out), oldest first."""
    rows = []
    for k in range(HISTORY_WEEKS - 1, -1, -1):
        start = monday - timedelta(weeks=k)
        window = _clip(info, start, start + timedelta(days=6))
        if window is not None:
            rows.append(monitoring.week_row(engine, info, window, reference, metric))
    return pd.DataFrame(rows, columns=monitoring.WEEK_COLUMNS)


def headline_text(metric: str, row: dict[str, Any] | None, window: mon.Window | None) -> str:
    if row is None or window is None:
        return "no predictions of the monitored version in this week"
    share = row["labelled_share"]
    realized = (f"realized {metric} {pct(row['realized'])} on the {pct(share)} of its {row['n']:,} predictions "
                f"with an outcome")  # fmt: skip
    if not share >= monitoring.MIN_LABELLED_SHARE:  # NaN (no predictions) too
        realized += " (outcomes still arriving: not yet a realized week)"
    band = f" [{pct(row['lower'])}, {pct(row['upper'])}]" if pct(row["lower"]) != "n/a" else ""
    return f"{window.label}: {realized}; CBPE estimate {pct(row['estimate'])}{band}"


def _regressed(engine: Engine, info: mon.VersionInfo, window: mon.Window, reference: mon.Window,
               metric: str) -> list[CohortChange]:  # fmt: skip
    rep = performance.cohort_report(engine, info.id, window, rank_by=metric, reference=reference)
    out = [CohortChange(ln.label, ln.row.n, ln.row.gap, ln.reference_gap, ln.new_since_reference)
           for ln in rep.flagged]  # fmt: skip
    return sorted(out, key=lambda c: c.gap)


def _monitoring_parts(engine: Engine, start: datetime, end: datetime, metric: str) -> dict[str, Any]:
    """Headline by week, drift of the week and the cohorts that fell behind in it (each part says why
    it is missing instead of failing the report)."""
    parts: dict[str, Any] = {"version_label": None, "window": None, "reference": None, "drift": None,
                             "weeks": pd.DataFrame(columns=monitoring.WEEK_COLUMNS), "cohorts": [],
                             "drift_text": "no monitoring data", "cohorts_text": "no monitoring data"}  # fmt: skip
    try:
        info = _version(engine, end - timedelta(microseconds=1))
        if info is None:
            return parts
        reference, _ = mon.default_windows(info)
        window = _clip(info, start.date(), (end - timedelta(days=1)).date())
        parts.update(version_label=info.label, reference=reference, window=window)
        parts["weeks"] = headline_weeks(engine, info, start.date(), reference, metric)
        if window is None:
            parts["drift_text"] = parts["cohorts_text"] = f"{info.label} has no predictions in this week"
            return parts
        d = drift_window.drift_report(engine, info.id, reference, window)
        drifted = [r.column for r in d.features if r.tested and r.drifted]
        parts["drift"] = d
        parts["drift_text"] = (f"{d.n_drifted} of {d.n_tested or d.n_features} features drift on {info.label}: "
                               f"{', '.join(drifted) or 'none'}")  # fmt: skip
        cohorts = _regressed(engine, info, window, reference, metric)
        parts["cohorts"] = cohorts
        parts["cohorts_text"] = (f"{len(cohorts)} cohort(s) fell behind the rest on {metric}" if cohorts
                                 else f"no cohort fell significantly behind the rest on {metric}")  # fmt: skip
    except LoopdeckError as exc:
        if parts["drift"] is None:
            parts["drift_text"] = f"not computed: {exc}"
        parts["cohorts_text"] = f"not computed: {exc}"
    return parts


def weekly_report(engine: Engine, actor: Actor, week: str, metric: str = "accuracy") -> WeeklyReport:
    """Everything the report shows for `week` (read only)."""
    start, end = parse_week(week)
    prev_start = start - timedelta(days=7)
    champs = overview.champions(engine, at=end - timedelta(microseconds=1))
    prev_champs = overview.champions(engine, at=start - timedelta(microseconds=1))
    champion = champs[0].label if champs else "none"
    since = f"since {champs[0].since:%Y-%m-%d} ({champs[0].age_days:.0f} days at week end)" if champs else ""
    m = _monitoring_parts(engine, start, end, metric)
    weeks: pd.DataFrame = m["weeks"]
    records, window = weeks.to_dict("records"), m["window"]
    this_row = records[-1] if records and window is not None and records[-1]["window_start"] == window.start else None
    prev_row = None
    if len(records) > (1 if this_row else 0):
        candidate = records[-2] if this_row else records[-1]
        prev_row = candidate if candidate["window_start"] >= prev_start.date() else None
    now, before = _flows(engine, start, end), _flows(engine, prev_start, start)
    feedback_line = (f"{now['feedback']:,} items received, {now['negative feedback']:,} negative (rating 2 or "
                     f"less); {before['feedback']:,} the week before")  # fmt: skip
    experiments = [
        f"{e.name}: running {e.days_running:.0f} days at week end, {e.exposures:,} exposures"
        if e.days_running is not None else f"{e.name}: running" for e in overview.running_experiments(engine, at=end)
        if e.started is None or e.started < end
    ]  # fmt: skip
    approvals_line = (f"{now['change requests made']} change request(s) made, {now['change requests executed']} "
                      "executed this week")  # fmt: skip
    backlog_lines = [
        f"#{i.id} {i.title} [{i.kind.replace('_', ' ')}, {i.status.replace('_', ' ')}, "
        f"score {i.score:.3g}]" if i.score is not None else f"#{i.id} {i.title} [{i.status.replace('_', ' ')}]"
        for i in overview.top_backlog(engine)
    ]  # fmt: skip
    decisions = overview.decisions(engine, limit=20, since=start, until=end)
    changes = [Change(k, now[k], before[k]) for k in now]
    prev_label = prev_champs[0].label if prev_champs else "none"
    changes.append(Change("champion", champion, prev_label, "changed" if champion != prev_label else "unchanged"))
    if m["version_label"] is not None:
        real = this_row["realized"] if this_row else None
        short = this_row is not None and not this_row["labelled_share"] >= monitoring.MIN_LABELLED_SHARE
        changes.append(Change(f"realized {metric}", pct(real), pct(prev_row["realized"] if prev_row else None),
                              "outcomes still arriving" if short or real is None else ""))  # fmt: skip
    return WeeklyReport(
        week, start, end, utcnow(), actor.label, champion, since, alerts_open_at(engine, end), m["version_label"],
        window, m["reference"], metric, weeks, m["drift"], m["drift_text"], headline_text(metric, this_row, window),
        m["cohorts"], m["cohorts_text"], feedback_line, experiments, approvals_line, backlog_lines, decisions, changes,
    )  # fmt: skip
