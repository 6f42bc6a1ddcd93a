"""The weekly loop report: the Overview's content for one ISO week plus what changed since the week
before, as one page of HTML (every text escaped) and as a PDF (fpdf2, pure Python).

Point-in-time facts (champion, running experiments) are taken at the week's end; flows (predictions,
feedback, alerts opened, backlog items created and closed, decisions) are counted inside the week
and compared with the week before. Drift and the headline metric are monitoring's current view.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.core.db import read_session
from services.core.errors import InvalidInput
from services.core.roles import Actor
from services.core.schema_backlog import BacklogItem
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Prediction
from services.core.schema_monitoring import Alert
from services.core.timeutil import to_utc, utcnow
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


@dataclass(frozen=True)
class Change:
    what: str
    this_week: Any
    last_week: Any
    note: str = ""


@dataclass(frozen=True)
class WeeklyReport:
    week: str
    start: datetime
    end: datetime
    generated_at: datetime
    generated_by: str
    champion: str
    champion_since: str
    alerts_open: dict[str, int]
    drift: str
    headline: str
    feedback: str
    experiments: list[str]
    approvals: str
    backlog: list[str]
    decisions: list[str]
    changes: list[Change] = field(default_factory=list)


def _count_between(session, column, start: datetime, end: datetime, *where) -> int:
    query = select(func.count()).where(column >= start, column < end, *where)
    return int(session.exec(query).one())


def _flows(engine: Engine, start: datetime, end: datetime) -> dict[str, int]:
    with read_session(engine) as session:
        return {
            "predictions": _count_between(session, Prediction.ts, start, end),
            "feedback": _count_between(session, Feedback.ts, start, end),
            "negative feedback": _count_between(session, Feedback.ts, start, end, Feedback.rating <= 2),
            "alerts opened": _count_between(session, Alert.opened_at, start, end),
            "backlog items created": _count_between(session, BacklogItem.created_at, start, end),
            "backlog items closed": _count_between(session, BacklogItem.closed_at, start, end),
        }


def _fmt_pct(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.1%}"


def weekly_report(engine: Engine, actor: Actor, week: str) -> WeeklyReport:
    """Everything the report shows for `week` (read only)."""
    start, end = parse_week(week)
    prev_start = start - timedelta(days=7)
    champs = overview.champions(engine, at=end - timedelta(microseconds=1))
    prev_champs = overview.champions(engine, at=start - timedelta(microseconds=1))
    champion = champs[0].label if champs else "none"
    since = f"since {champs[0].since:%Y-%m-%d} ({champs[0].age_days:.0f} days at week end)" if champs else ""
    alerts = overview.alert_counts(engine)
    status = overview.monitoring_status(engine)
    d = status.drift
    drift = "no monitoring data"
    if d is not None:
        drift = (f"{d.n_drifted} of {d.n_features} features drift on {d.version_label} ({d.current.label} vs "
                 f"{d.reference.label}): {', '.join(d.drifted_columns) or 'none'}")  # fmt: skip
    h = status.headline
    week_real = prev_real = None
    if h is not None and not h.weeks.empty:
        wk = h.weeks.copy()
        wk["start"] = wk["window_start"].map(lambda v: datetime(v.year, v.month, v.day, tzinfo=UTC))
        this_row, prev_row = wk[wk["start"] == start], wk[wk["start"] == prev_start]
        week_real = float(this_row["realized"].iloc[0]) if len(this_row) else None
        prev_real = float(prev_row["realized"].iloc[0]) if len(prev_row) else None
        headline = (f"realized {h.metric} {_fmt_pct(h.last_realized)} (last week with most outcomes known), "
                    f"CBPE estimate {_fmt_pct(h.estimate_recent)} for {h.estimate_week}")  # fmt: skip
    else:
        headline = "no monitoring data"
    fb = overview.feedback_status(engine)
    feedback_line = f"{fb.untriaged:,} untriaged, {fb.overdue:,} overdue (SLA {fb.sla_days} days)"
    experiments = [
        f"{e.name}: running {e.days_running:.0f} days, {e.exposures:,} exposures" if e.days_running is not None
        else f"{e.name}: running" for e in overview.running_experiments(engine, at=end)
    ]  # fmt: skip
    ap = overview.approval_status(engine, actor)
    approvals_line = f"{ap.pending_total} pending" + (f", {len(ap.awaiting_me)} awaiting {actor.label}"
                                                      if ap.awaiting_me else "")  # fmt: skip
    backlog_lines = [
        f"#{i.id} {i.title} [{i.kind.replace('_', ' ')}, {i.status.replace('_', ' ')}, "
        f"score {i.score:.3g}]" if i.score is not None else f"#{i.id} {i.title} [{i.status.replace('_', ' ')}]"
        for i in overview.top_backlog(engine)
    ]  # fmt: skip
    decisions = [f"{x.ts:%Y-%m-%d %H:%M} {x.text} ({x.actor})"
                 for x in overview.decisions(engine, limit=20, since=start, until=end)]  # fmt: skip
    now, before = _flows(engine, start, end), _flows(engine, prev_start, start)
    changes = [Change(k, now[k], before[k]) for k in now]
    prev_label = prev_champs[0].label if prev_champs else "none"
    changes.append(Change("champion", champion, prev_label, "changed" if champion != prev_label else "unchanged"))
    if h is not None:
        changes.append(Change(f"realized {h.metric}", _fmt_pct(week_real), _fmt_pct(prev_real),
                              "outcomes still arriving" if week_real is None else ""))  # fmt: skip
    return WeeklyReport(
        week, start, end, utcnow(), actor.label, champion, since, dict(alerts.open_by_severity), drift, headline,
        feedback_line, experiments, approvals_line, backlog_lines, decisions, changes,
    )  # fmt: skip


# --- HTML --------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _list(items: list[str], empty: str) -> str:
    if not items:
        return f"<p class='muted'>{_e(empty)}</p>"
    return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def to_html(r: WeeklyReport) -> str:
    """One self-contained page; every value is escaped (titles and names come from users)."""
    alerts = ", ".join(f"{n} {s}" for s, n in sorted(r.alerts_open.items())) or "none open"
    changes = "".join(
        f"<tr><td>{_e(c.what)}</td><td>{_e(c.this_week)}</td><td>{_e(c.last_week)}</td><td>{_e(c.note)}</td></tr>"
        for c in r.changes
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Loopdeck weekly loop report {_e(r.week)}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;color:#222;font-size:14px}}
h1{{font-size:1.4rem;margin-bottom:0}} h2{{font-size:1.05rem;margin:1rem 0 .3rem}}
.muted{{color:#666}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}}
.grid{{display:grid;grid-template-columns:1fr 1fr;gap:0 2rem}}
</style></head><body>
<h1>Loopdeck weekly loop report: {_e(r.week)}</h1>
<p class="muted">{_e(f"{r.start:%Y-%m-%d} to {(r.end - timedelta(days=1)):%Y-%m-%d} (UTC)")} · generated
{_e(f"{r.generated_at:%Y-%m-%d %H:%M} UTC")} by {_e(r.generated_by)}</p>
<div class="grid">
<div><h2>Champion</h2><p>{_e(r.champion)} {_e(r.champion_since)}</p></div>
<div><h2>Open alerts</h2><p>{_e(alerts)}</p></div>
<div><h2>Drift</h2><p>{_e(r.drift)}</p></div>
<div><h2>Headline metric</h2><p>{_e(r.headline)}</p></div>
<div><h2>Feedback</h2><p>{_e(r.feedback)}</p></div>
<div><h2>Approvals</h2><p>{_e(r.approvals)}</p></div>
<div><h2>Running experiments</h2>{_list(r.experiments, "none")}</div>
<div><h2>Top of the backlog</h2>{_list(r.backlog, "nothing open")}</div>
</div>
<h2>What changed since last week</h2>
<table><thead><tr><th></th><th>{_e(r.week)}</th><th>week before</th><th></th></tr></thead>
<tbody>{changes}</tbody></table>
<h2>Decisions this week</h2>{_list(r.decisions, "no decisions recorded this week")}
</body></html>
"""


# --- PDF ---------------------------------------------------------------------------------------------

_PDF_REPLACE = {"\u2014": "-", "\u2013": "-", "\u2192": "->", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                "\u201d": '"', "\u2026": "...", "\u00b7": "-"}  # fmt: skip


def _latin1(text: Any) -> str:
    """The PDF's core fonts are Latin-1: typographic characters mapped, anything else shown as '?'."""
    s = str(text)
    for a, b in _PDF_REPLACE.items():
        s = s.replace(a, b)
    return s.encode("latin-1", "replace").decode("latin-1")


def to_pdf(r: WeeklyReport) -> bytes:
    """The same content on one A4 page (fpdf2, core fonts; text is drawn as text, never interpreted)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_margins(14, 12, 14)
    pdf.add_page()
    pdf.set_title(_latin1(f"Loopdeck weekly loop report {r.week}"))
    pdf.set_creator("Loopdeck")
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str) -> None:
        pdf.ln(1.5)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(width, 5.5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8.5)

    def line(text: str) -> None:
        pdf.multi_cell(width, 4.2, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(width, 8, _latin1(f"Loopdeck weekly loop report: {r.week}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    line(f"{r.start:%Y-%m-%d} to {(r.end - timedelta(days=1)):%Y-%m-%d} (UTC) - generated "
         f"{r.generated_at:%Y-%m-%d %H:%M} UTC by {r.generated_by}")  # fmt: skip
    alerts = ", ".join(f"{n} {s}" for s, n in sorted(r.alerts_open.items())) or "none open"
    for title, text in (
        ("Champion", f"{r.champion} {r.champion_since}"), ("Open alerts", alerts), ("Drift", r.drift),
        ("Headline metric", r.headline), ("Feedback", r.feedback), ("Approvals", r.approvals),
    ):  # fmt: skip
        heading(title)
        line(text)
    heading("Running experiments")
    for text in r.experiments or ["none"]:
        line(f"- {text}")
    heading("Top of the backlog")
    for text in r.backlog or ["nothing open"]:
        line(f"- {text}")
    heading("What changed since last week")
    cols = (width * 0.34, width * 0.2, width * 0.2, width * 0.26)
    pdf.set_font("Helvetica", "B", 8.5)
    for w, text in zip(cols, ("", r.week, "week before", ""), strict=True):
        pdf.cell(w, 4.6, _latin1(text), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 8.5)
    for c in r.changes:
        for w, text in zip(cols, (c.what, c.this_week, c.last_week, c.note), strict=True):
            pdf.cell(w, 4.6, _latin1(text)[:60], border=1)
        pdf.ln()
    heading("Decisions this week")
    for text in r.decisions or ["no decisions recorded this week"]:
        line(f"- {text}")
    return bytes(pdf.output())
