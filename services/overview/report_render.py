"""The weekly loop report rendered: one self-contained HTML page with its figures (plotly.js inline, opens
offline; every text escaped) and a one-page PDF of the same content (fpdf2, text only).

Figures: the headline metric by week with its CBPE estimate band (the asked week marked), the week's
drift by feature, the cohorts that fell behind the rest in the week (their gap now and in the reference
window), and the week's decisions on a timeline.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from services.core import report_html as rh
from services.monitoring import drift_report
from services.monitoring import summary as monitoring
from services.overview.report import WeeklyReport, pct

KIND_COLORS = {"promotion": "#2ca02c", "rollback": "#d62728", "retrain": "#1f77b4", "canary": "#17becf",
               "experiment": "#9467bd", "backlog": "#8c564b"}  # fmt: skip


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def headline_figure(r: WeeklyReport) -> go.Figure:
    """Realized metric by week (filled markers: at least half labelled; hollow: outcomes still arriving),
    the CBPE estimate with its band, and the asked week shaded."""
    w = r.weeks
    fig = go.Figure()
    if w.empty:
        fig.update_layout(title=f"{r.metric} by week: no data")
        return fig
    x = pd.to_datetime(w["window_start"])
    lower, upper = w["lower"].astype(float), w["upper"].astype(float)
    if lower.notna().any():
        fig.add_scatter(x=x, y=upper, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        fig.add_scatter(x=x, y=lower, mode="lines", line={"width": 0}, fill="tonexty",
                        fillcolor="rgba(255,127,14,0.2)", name="estimate band (95%)", hoverinfo="skip")  # fmt: skip
    fig.add_scatter(x=x, y=w["estimate"].astype(float), mode="lines+markers", name="CBPE estimate",
                    line={"color": "#ff7f0e", "dash": "dot"})  # fmt: skip
    known = w["labelled_share"].astype(float) >= monitoring.MIN_LABELLED_SHARE
    fig.add_scatter(
        x=x, y=w["realized"].astype(float), mode="lines+markers", name=f"realized {r.metric}",
        line={"color": "#1f77b4"}, marker={"size": 9, "symbol": ["circle" if k else "circle-open" for k in known]},
        customdata=w["labelled_share"].astype(float), hovertemplate="%{y:.1%} (%{customdata:.0%} labelled)",
    )  # fmt: skip
    if r.window is not None:
        fig.add_vrect(x0=pd.Timestamp(r.window.start) - pd.Timedelta(days=2),
                      x1=pd.Timestamp(r.window.start) + pd.Timedelta(days=2), fillcolor="rgba(0,0,0,0.08)",
                      line_width=0)  # fmt: skip
    fig.update_layout(title=f"{r.metric} by week (week starting; {r.week} shaded)", yaxis_tickformat=".0%",
                      height=340, margin={"l": 10, "r": 10, "t": 50}, legend={"orientation": "h"})  # fmt: skip
    return fig


def cohorts_figure(r: WeeklyReport) -> go.Figure:
    labels = [rh.e(c.label) for c in r.cohorts]
    fig = go.Figure()
    fig.add_bar(y=labels, x=[c.gap for c in r.cohorts], orientation="h", name=f"{r.week}", marker_color="#d62728")
    fig.add_bar(y=labels, x=[c.reference_gap if _finite(c.reference_gap) else None for c in r.cohorts],
                orientation="h", name="reference window", marker_color="#9e9e9e")  # fmt: skip
    fig.update_layout(title=f"Cohorts behind the rest: {r.metric} of the cohort minus the rest", barmode="group",
                      xaxis_tickformat="+.0%", height=160 + 50 * len(labels), yaxis={"autorange": "reversed"},
                      margin={"l": 10, "r": 10, "t": 50}, legend={"orientation": "h"})  # fmt: skip
    return fig


def decisions_figure(r: WeeklyReport) -> go.Figure:
    fig = go.Figure()
    for kind in sorted({d.kind for d in r.decisions}):
        ds = [d for d in r.decisions if d.kind == kind]
        fig.add_scatter(x=[d.ts for d in ds], y=[kind] * len(ds), mode="markers", name=kind,
                        marker={"size": 12, "color": KIND_COLORS.get(kind, "#7f7f7f")},
                        hovertext=[rh.e(f"{d.text} ({d.actor})") for d in ds], hoverinfo="text+x")  # fmt: skip
    fig.update_layout(title="Decisions of the week", height=120 + 40 * max(1, len(fig.data)), showlegend=False,
                      xaxis={"range": [r.start, r.end]}, margin={"l": 10, "r": 10, "t": 50})  # fmt: skip
    return fig


def decision_lines(r: WeeklyReport) -> list[str]:
    return [f"{d.ts:%Y-%m-%d %H:%M} {d.text} ({d.actor})" for d in r.decisions]


def _alerts(r: WeeklyReport) -> str:
    return ", ".join(f"{n} {s}" for s, n in sorted(r.alerts_open.items())) or "none open"


def _weeks_table(w: pd.DataFrame) -> str:
    rows = [(f"{x.window_start:%Y-%m-%d} to {x.window_end:%Y-%m-%d}", f"{int(x.n):,}", pct(x.labelled_share),
             pct(x.realized), pct(x.estimate), f"[{pct(x.lower)}, {pct(x.upper)}]" if _finite(x.lower) else "")
            for x in w.itertuples(index=False)]  # fmt: skip
    return rh.table(("week", "predictions", "labelled", "realized", "estimate", "estimate band"), rows, "no data")


def to_html(r: WeeklyReport) -> str:
    """One self-contained page; every value is escaped (titles and names come from users)."""
    figs = rh.Figures()
    changes = [(c.what, c.this_week, c.last_week, c.note) for c in r.changes]
    cohorts = [(c.label, f"{c.n:,}", f"{c.gap:+.1%}", f"{c.reference_gap:+.1%}" if _finite(c.reference_gap) else "",
                "new since the reference" if c.new else "") for c in r.cohorts]  # fmt: skip
    version = f"Monitored version: {r.version_label}" if r.version_label else "No monitored version"
    body = f"""<div class="grid">
<div><h2>Champion at week end</h2><p>{rh.e(r.champion)} {rh.e(r.champion_since)}</p></div>
<div><h2>Alerts open at week end</h2><p>{rh.e(_alerts(r))}</p></div>
<div><h2>Headline metric</h2><p>{rh.e(r.headline)}</p></div>
<div><h2>{rh.e(r.drift_label)}</h2><p>{rh.e(r.drift_text)}</p></div>
<div><h2>Feedback</h2><p>{rh.e(r.feedback)}</p></div>
<div><h2>Change requests</h2><p>{rh.e(r.approvals)}</p></div>
<div><h2>Running experiments at week end</h2>{rh.items(r.experiments, "none")}</div>
<div><h2>Top of the backlog (now)</h2>{rh.items(r.backlog, "nothing open")}</div>
</div>
<h2>Headline metric by week</h2>{figs.html(headline_figure(r), "headline")}{_weeks_table(r.weeks)}
<h2>Drifted features</h2>{figs.html(drift_report.scores_figure(r.drift), "drift") if r.drift else ""}
<p>{rh.e(r.drift_text)}</p>
<h2>Cohorts that regressed</h2><p>{rh.e(r.cohorts_text)}</p>
{figs.html(cohorts_figure(r), "cohorts") if r.cohorts else ""}
{rh.table(("cohort", "labelled rows", "gap this week", "gap in the reference", ""), cohorts, "none")}
<h2>Decisions of the week</h2>{figs.html(decisions_figure(r), "decisions") if r.decisions else ""}
{rh.items(decision_lines(r), "no decisions recorded this week")}
<h2>What changed since last week</h2>
{rh.table(("", r.week, "week before", ""), changes)}"""
    lines = [
        f"{r.start:%Y-%m-%d} to {(r.end - timedelta(days=1)):%Y-%m-%d} (UTC). {version}"
        + (f"; reference window {r.reference.label}" if r.reference else ""),
        rh.stamp(r.generated_at, r.generated_by),
    ]
    return rh.page(f"Loopdeck weekly loop report: {r.week}", lines, body, figs)


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
    """The same content, text only, on one A4 page (fpdf2, core fonts; text is drawn, never interpreted)."""
    from fpdf import FPDF  # here, not at import: the UI server preloads this module; fpdf's import ~0.6 CPU-s

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=10)
    pdf.set_margins(14, 10, 14)
    pdf.add_page()
    pdf.set_title(_latin1(f"Loopdeck weekly loop report {r.week}"))
    pdf.set_creator("Loopdeck")
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str) -> None:
        pdf.ln(1)
        pdf.set_font("Helvetica", "B", 9.5)
        pdf.cell(width, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)

    def line(text: str) -> None:
        pdf.multi_cell(width, 3.8, _latin1(text), new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(width, 8, _latin1(f"Loopdeck weekly loop report: {r.week}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    version = r.version_label or "no monitored version"
    line(f"{r.start:%Y-%m-%d} to {(r.end - timedelta(days=1)):%Y-%m-%d} (UTC) - {version} - generated "
         f"{r.generated_at:%Y-%m-%d %H:%M} UTC by {r.generated_by}")  # fmt: skip
    for title, text in (
        ("Champion at week end", f"{r.champion} {r.champion_since}"), ("Alerts open at week end", _alerts(r)),
        ("Headline metric", r.headline), (r.drift_label, r.drift_text), ("Cohorts that regressed", r.cohorts_text),
        ("Feedback", r.feedback), ("Change requests", r.approvals),
    ):  # fmt: skip
        heading(title)
        line(text)
    for c in r.cohorts[:5]:
        line(f"- {c.label}: {c.gap:+.1%} vs the rest" + (" (new since the reference)" if c.new else ""))
    for title, texts, empty in (("Running experiments at week end", r.experiments, "none"),
                                ("Top of the backlog (now)", r.backlog, "nothing open")):  # fmt: skip
        heading(title)
        for text in texts or [empty]:
            line(f"- {text}")
    heading("What changed since last week")
    cols = (width * 0.34, width * 0.2, width * 0.2, width * 0.26)
    pdf.set_font("Helvetica", "B", 8)
    for w, text in zip(cols, ("", r.week, "week before", ""), strict=True):
        pdf.cell(w, 4.2, _latin1(text), border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for c in r.changes:
        for w, text in zip(cols, (c.what, c.this_week, c.last_week, c.note), strict=True):
            pdf.cell(w, 4.2, _latin1(text)[:60], border=1)
        pdf.ln()
    heading("Decisions this week")
    for text in decision_lines(r)[:8] or ["no decisions recorded this week"]:
        line(f"- {text}")
    return bytes(pdf.output())
