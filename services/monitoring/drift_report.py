"""The drift report to share: the Monitoring screen's current drift view (version, reference and current
windows, cohort filter) as one self-contained HTML file that opens offline, like Evidently's report.

It reads the same `drift_window.drift_report` the Drift tab shows (same rules, same overrides, same
cache; from day summaries when they cover the windows), so the file's numbers are the screen's numbers,
and it says the same about them: which are exact and, for sampled numeric columns, each one's bound.
Figures: each column's drift score against its threshold, and reference-vs-current distributions of the
drifted columns first (at most MAX_DISTRIBUTIONS, so the file stays a few MB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go
from sqlalchemy.engine import Engine

from services.core import report_html as rh
from services.core.roles import Actor
from services.core.timeutil import utcnow
from services.monitoring.drift_summary import SUMMARIES
from services.monitoring.drift_window import DriftReport, DriftRow, drift_report
from services.monitoring.views import CohortFilter, Window, filter_label, get_version

MAX_DISTRIBUTIONS = 12
DRIFTED, STABLE, UNTESTED = "#d62728", "#1f77b4", "#999999"


@dataclass(frozen=True)
class DriftReportFile:
    file_name: str
    html: str
    report: DriftReport
    generated_at: datetime


def _num(value: float | None, digits: int = 4) -> str:
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}g}"


def _verdict(row: DriftRow) -> str:
    if not row.tested:
        return row.problem or row.status
    return "drifted" if row.drifted else "no drift"


def scores_figure(report: DriftReport) -> go.Figure:
    """Each tested column's score divided by its threshold (p-value tests: threshold / p, so that for
    every test a bar beyond 1 means drift), drifted columns in red."""
    rows = [r for r in report.rows if r.tested and r.threshold > 0]
    ratios, colors, hover = [], [], []
    for r in rows:
        if r.is_p_value:
            ratio = r.threshold / max(r.score, 1e-12)
        else:
            ratio = r.score / r.threshold
        ratios.append(min(ratio, 100.0))
        colors.append(DRIFTED if r.drifted else STABLE)
        hover.append(f"{r.method_label}: {_num(r.score)} (threshold {_num(r.threshold)})")
    fig = go.Figure(go.Bar(x=ratios, y=[rh.e(r.column) for r in rows], orientation="h", marker_color=colors,
                           hovertext=hover, hoverinfo="text+y"))  # fmt: skip
    fig.add_vline(x=1.0, line_dash="dash", line_color="#444")
    fig.update_layout(
        title="Drift by column (beyond 1 = drift; p-value tests shown as threshold / p)", height=120 + 24 * len(rows),
        xaxis_title="score relative to the threshold (log)", xaxis_type="log", margin={"l": 10, "r": 10, "t": 50},
        yaxis={"autorange": "reversed"},
    )  # fmt: skip
    return fig


def distribution_figure(row: DriftRow) -> go.Figure:
    dist = row.distribution
    fig = go.Figure()
    labels = [rh.e(v) for v in dist.labels]  # category values are data: shown as text by plotly
    fig.add_bar(x=labels, y=list(dist.reference), name=f"reference (n={dist.n_reference:,})",
                marker_color="#9e9e9e")  # fmt: skip
    fig.add_bar(x=labels, y=list(dist.current), name=f"current (n={dist.n_current:,})",
                marker_color=DRIFTED if row.drifted else STABLE)  # fmt: skip
    fig.update_layout(title=rh.e(f"{row.column}: {_verdict(row)} ({row.method_label} {_num(row.score)})"),
                      barmode="group", height=300, yaxis_title="share of rows", yaxis_tickformat=".0%",
                      margin={"l": 10, "r": 10, "t": 50}, legend={"orientation": "h"})  # fmt: skip
    return fig


def row_exactness(row: DriftRow) -> str:
    """Whether a row's score is the full data's, and if not how far from it it can be."""
    if row.exact:
        return "exact (counts)" if row.kind == "categorical" else "exact (every value)"
    if row.bound is not None:
        return f"within ±{row.bound:.3f} (sample)"
    return "approximate (the sample's p-value)" if row.is_p_value else "approximate (sample, no bound)"


def source_line(report: DriftReport) -> str:
    """Where the numbers come from and which are exact, for the page and the file."""
    if report.source == SUMMARIES:
        head = "Read from day summaries" + (f" ({report.source_note})" if report.source_note else "")
    else:
        head = "Read from rows (day blocks)" + (f": {report.source_note}" if report.source_note else "")
    if report.exact:
        return f"{head}. Every number is exact: counts for categorical columns and labels, every value of numeric ones."
    sampled = [r for r in report.rows if not r.exact]
    bounds = [r.bound for r in sampled if r.bound is not None]
    text = (
        f"{head}. Exact: row counts, categorical columns, predicted and outcome labels (counts of every row). "
        f"Approximate: {len(sampled)} numeric column(s) read a uniform sample of each window"
    )
    if bounds:
        text += (
            f"; each normed Wasserstein distance is within its stated ± of the full-data distance in 99% of draws "
            f"(up to ±{max(bounds):.3f} here), so a verdict can differ from the full data's only that close to "
            "the threshold"
        )
    if len(bounds) < len(sampled):
        text += "; p-values and other distances on a sample are the sample's (no bound computed)"
    return text + "."


def _table(report: DriftReport) -> str:
    rows = [
        (r.column, r.role, r.kind, r.method_label, _num(r.score), _num(r.threshold), _verdict(r), row_exactness(r),
         f"{r.n_reference:,} / {r.n_current:,}", r.detail or r.reason)
        for r in sorted(report.rows, key=lambda r: (not r.drifted, r.role != "feature", r.column))
    ]  # fmt: skip
    header = ("column", "role", "kind", "test", "score", "threshold", "verdict", "exact or bound", "values (ref / cur)",
              "why")  # fmt: skip
    return rh.table(header, rows, "no columns")


def build(
    engine: Engine, actor: Actor, model_version_id: int, reference: Window, current: Window,
    cohort_filter: CohortFilter | None = None,
) -> DriftReportFile:  # fmt: skip
    """The drift report of one view as one HTML string (read only; any signed-in user may download it)."""
    info = get_version(engine, model_version_id)
    report = drift_report(engine, info.id, reference, current, cohort_filter)
    now = utcnow()
    figs = rh.Figures()
    problems = [r for r in report.features if not r.tested]
    denominator = report.n_tested if problems else report.n_features
    summary = (
        f"{report.n_drifted} of {denominator} features drifted ({report.share_drifted:.0%}): "
        f"{'dataset drift' if report.drifted else 'no dataset drift'} (dataset drift when at least "
        f"{report.drift_share:.0%} of the features drift)."
    )
    outputs = "; ".join(f"{r.column}: {_verdict(r)} ({r.method_label} {_num(r.score)})" for r in report.outputs)
    shown = sorted(report.rows, key=lambda r: (not r.drifted, r.role != "feature", r.column))[:MAX_DISTRIBUTIONS]
    dists = "".join(figs.html(distribution_figure(r), f"dist-{i}") for i, r in enumerate(shown))
    body = (
        f"<h2>Summary</h2><p>{rh.e(summary)}</p>"
        + (f"<p>{rh.e('Prediction and outcome: ' + outputs)}</p>" if outputs else "")
        + (f"<p class='muted'>{rh.e('Not counted: ' + '; '.join(f'{r.column} ({r.problem})' for r in problems))}</p>"
           if problems else "")
        + figs.html(scores_figure(report), "drift-scores")
        + f"<h2>Columns</h2>{_table(report)}"
        + f"<h2>Reference vs current</h2><p class='muted'>{rh.e(_shown_note(len(shown), len(report.rows)))}</p>"
        + dists
    )  # fmt: skip
    title = f"Loopdeck drift report: {info.label}"
    lines = [
        f"Model {info.model_name}, version {info.version} ({info.status})",
        f"Reference window {reference.label} ({report.n_reference:,} rows); current window {current.label} "
        f"({report.n_current:,} rows); cohorts: {filter_label(cohort_filter)}",
        "Tests: Evidently's default rules per column, with the overrides saved for this model; "
        "dataset drift by the share of drifted features.",
        source_line(report),
        rh.stamp(now, actor.label),
    ]
    page = rh.page(title, lines, body, figs)
    return DriftReportFile(file_name(info.model_name, info.version, current), page, report, now)


def _shown_note(shown: int, total: int) -> str:
    if shown >= total:
        return "Every column, drifted first."
    return f"The first {shown} of {total} columns, drifted first (the table above has every column)."


def file_name(model_name: str, version: int, current: Window) -> str:
    """A download name safe on every system (the model's name is the user's)."""
    name = f"drift-{model_name}-v{version}-{current.start:%Y%m%d}-{current.end:%Y%m%d}.html"
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
