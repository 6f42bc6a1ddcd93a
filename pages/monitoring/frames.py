"""The Monitoring tables and messages, pure (tested without a browser): a service report in, a
DataFrame or a sentence out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd

from services.monitoring import alerts, drift_report, drift_summary, drift_time, drift_window, estimated, performance
from services.monitoring.frames import ROW_PATH_MAX_ROWS
from services.monitoring.summary_metrics import SOURCE as SUMMARY_SOURCE
from services.stats import performance as perf

METRIC_LABELS = {
    "accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1", "roc_auc": "ROC AUC",
    "log_loss": "log loss", "brier": "Brier score", "positive_rate": "positive rate",
}  # fmt: skip
GRANULARITY_LABELS = {"day": "Daily", "week": "Weekly"}


def source_note(source: str, bounds: Mapping[str, float] | None = None, from_blocks: Sequence[date] = ()) -> str:
    """Where a view's numbers come from and how close to the row-level values they are (never silent about
    an approximation): exact metrics named, bounded ones with their bound, and the days summarised from
    their blocks because no current summary was stored."""
    if source != SUMMARY_SOURCE:
        return ("Computed from the window's rows: the day summaries do not hold this view (a cohort filter with "
                "another cohort field, or bins that do not divide 1,000). Rows are read on demand only, at most "
                f"{ROW_PATH_MAX_ROWS:,} a window.")  # fmt: skip
    bounds = bounds or {}
    exact = [METRIC_LABELS.get(m, m) for m, b in bounds.items() if b == 0.0]
    approx = [f"{METRIC_LABELS.get(m, m)} within ±{b:.1g}" for m, b in bounds.items() if b and math.isfinite(b)]
    loose = [METRIC_LABELS.get(m, m) for m, b in bounds.items() if not math.isfinite(b)]
    parts = ([f"{', '.join(exact)} exact"] if exact else []) + (
        [f"{', '.join(approx)} of the row-level value"] if approx else []) + (
        [f"{', '.join(loose)} approximate (scores outside [0, 1]: no bound)"] if loose else [])  # fmt: skip
    return "From the day summaries" + (": " + "; ".join(parts) if parts else "") + "." + _blocks_note(from_blocks)


def _blocks_note(from_blocks: Sequence[date]) -> str:
    if not from_blocks:
        return ""
    return (f" {len(from_blocks)} day(s) without a current stored summary (first {min(from_blocks):%Y-%m-%d}) were "
            "summarised from their day blocks.")  # fmt: skip


def cbpe_source_note(report: estimated.CBPEReport, metric: str) -> str:
    """source_note for the Estimated tab: the estimate's bound (the calibrator's breakpoints inside fine
    bins) and the realized value's."""
    if report.source != SUMMARY_SOURCE:
        return source_note(report.source)
    est = report.bounds.get(metric, 0.0)
    real = report.realized_bounds.get(metric, 0.0)
    label = METRIC_LABELS.get(metric, metric)
    est_text = "exact" if est == 0.0 else (f"within ±{est:.1g}" if math.isfinite(est) else "approximate (no bound)")
    real_text = "exact" if real == 0.0 else (f"within ±{real:.1g}" if math.isfinite(real) else "approximate")
    return (f"From the day summaries: estimated {label} {est_text} of the row-level CBPE with the same calibrator, "
            f"realized {label} {real_text}; the calibrator is fitted on the reference window's uniform sample of "
            "labelled rows, and the bands are approximate (bin means instead of rows)."
            + _blocks_note(report.from_blocks))  # fmt: skip


def num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 3) -> str:
    """A change or gap with its sign, or a dash (never "None" or "nan" in a table)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:+.{digits}f}"


def interval(lo: float | None, hi: float | None, digits: int = 3) -> str:
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def escape_md(text: str) -> str:
    """User text inside markdown: escape what markdown would read."""
    for ch in "\\`*_{}[]<>()#+-.!|$~":
        text = text.replace(ch, "\\" + ch)
    return text


DRIFT_MARK = "▲ drifted"  # the first column of a drifted row (the row is tinted too: drift_styler)
DRIFT_TINT = "background-color: rgba(214, 39, 40, 0.12)"


def times(value: float) -> str:
    """A ratio to a threshold, e.g. "3.2x", "1.2e+04x" (or a dash)."""
    if not math.isfinite(value):
        return "—" if math.isnan(value) else "∞"
    return f"{value:.2f}x" if value < 100 else f"{value:.2g}x"


def drift_frame(report: drift_window.DriftReport) -> pd.DataFrame:
    """One row per column, the furthest past its threshold first (drifted ones on top, marked): the test,
    its score against the threshold, the verdict, and what it read."""
    rows = []
    for r in report.by_excess:
        if not r.tested:
            verdict = "not testable (id-like)" if r.status == "not_testable" else "data-quality problem"
        elif r.n_reference == 0 or r.n_current == 0:
            verdict = "no data"
        else:
            verdict = "drifted" if r.drifted else "no drift"
        sampled = r.tested_reference < r.n_reference or r.tested_current < r.n_current
        rows.append(
            {
                # What decides first (the verdict, how far past the threshold), the test's details after.
                "drift": DRIFT_MARK if verdict == "drifted" else "",
                "column": r.column,
                "verdict": verdict,
                "past threshold": times(r.past_threshold),
                "score": r.score,
                "threshold": r.threshold,
                "decides when": "p < threshold" if r.is_p_value else "distance >= threshold",
                "test": r.method_label,
                "statistic": r.statistic,
                "role": r.role,
                "reference n": r.n_reference,
                "current n": r.n_current,
                "tested": f"{r.tested_reference:,} / {r.tested_current:,}" + (" (sample)" if sampled else ""),
                "exact or bound": drift_report.row_exactness(r) if r.tested else "—",
                "test chosen": "set by a user" if r.overridden else "default rule",
                "why": r.problem or r.reason,
            }
        )
    return pd.DataFrame(rows)


def drift_styler(frame: pd.DataFrame):
    """The drift table with its drifted rows tinted (a pandas Styler; st.dataframe draws it)."""
    marked = frame["drift"] == DRIFT_MARK if "drift" in frame else pd.Series(False, index=frame.index)
    return frame.style.apply(lambda row: [DRIFT_TINT if marked[row.name] else ""] * len(row), axis=1)


def column_widths(frame: pd.DataFrame, px_per_char: float = 7.5, padding: int = 32, cap: int = 1000) -> dict[str, int]:
    """Pixels per column so that no header and no cell is cut off (up to `cap`): the longest text in the
    column, header included (numbers as Streamlit shows them, about 10 characters)."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        longest = col.map(lambda v: len(str(v)) if isinstance(v, str) else 10).max() if len(col) else 0
        out[str(name)] = int(min(cap, max(len(str(name)) + 3, longest or 0) * px_per_char + padding))
    return out


def drift_headline(report: drift_window.DriftReport) -> str:
    verdict = "dataset drift" if report.drifted else "no dataset drift"
    problems = [r for r in report.features if not r.tested]
    tested = " tested" if problems else ""
    text = (
        f"{report.n_drifted} of {report.n_tested if problems else report.n_features}{tested} features drifted "
        f"({report.share_drifted:.0%}): {verdict} (dataset drift when at least {report.drift_share:.0%} of the "
        "features drift)."
    )
    if problems:
        text += " Not counted: " + "; ".join(f"{r.column} ({r.problem})" for r in problems) + "."
    return text


def over_time_source_line(over: drift_time.DriftOverTime) -> str:
    """Where drift over time comes from and how exact it is (the largest bound of a sampled window)."""
    if over.source == drift_summary.SUMMARIES:
        head = "Read from day summaries" + (f" ({over.source_note})" if over.source_note else "")
    else:
        head = "Read from rows (day blocks)" + (f": {over.source_note}" if over.source_note else "")
    frame = over.frame
    approx = frame[~frame["exact"].astype(bool)] if len(frame) else frame
    if approx.empty:
        return f"{head}; every number is exact."
    bounds = approx["bound"].to_numpy(dtype=float)
    finite = bounds[np.isfinite(bounds)]
    text = f"{head}; counts are exact, numeric scores in {len(approx):,} window-column cells read samples"
    if finite.size:
        text += f", each within its bound of the full data's (99% of draws; at most ±{finite.max():.3f})"
    return text + "."


def shifts(over: drift_time.DriftOverTime, columns: Sequence[str]) -> list[drift_time.Shift]:
    """Columns whose drift score moved across the threshold once, earliest first."""
    found = [s for s in (drift_time.shift_of(over, c) for c in columns) if s is not None]
    return sorted(found, key=lambda s: (s.day, s.column))


def shift_message(shift: drift_time.Shift) -> str:
    return (
        f"**{escape_md(shift.column)}** from {shift.day:%Y-%m-%d} (median score {shift.before:.3g} before, "
        f"{shift.after:.3g} after; threshold {shift.threshold:g})"
    )


def cohort_frame(report: performance.CohortReport) -> pd.DataFrame:
    """The ranked cohorts (new regressions vs the reference first, then long-standing gaps: see
    services/monitoring/cohort_rank.py): value with interval, gap to the rest with interval, the flags,
    and why each is where it is."""
    m = report.rank_by
    rows = []
    for line in report.lines:
        r = line.row
        mc = r.metrics[m]
        if r.too_small:
            status = f"too small (< {report.min_size})"
        elif r.flagged:
            status = "flagged"
        elif r.rank is None:
            status = "not rankable"
        else:
            status = ""
        rows.append(
            {
                "rank": str(line.rank) if line.rank is not None else "—",
                "cohort": line.label,
                "why this rank": line.reason or "—",
                "n": r.n,
                METRIC_LABELS[m]: mc.value,
                "95% CI": interval(mc.ci_low, mc.ci_high),
                "vs reference": signed(line.vs_reference.change if line.vs_reference is not None else None),
                "change 95% CI": interval(line.vs_reference.ci_low, line.vs_reference.ci_high)
                if line.vs_reference is not None else "—",
                "gap to the rest": r.gap,
                "gap 95% CI": interval(r.gap_ci_low, r.gap_ci_high),
                "gap in the reference": signed(line.reference_gap),
                "status": status or "—",
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def cohort_points(report: performance.CohortReport) -> pd.DataFrame:
    """Input of figures.cohort_metric_figure."""
    m = report.rank_by
    return pd.DataFrame(
        [
            {"label": line.label, "value": line.row.metrics[m].value, "ci_low": line.row.metrics[m].ci_low,
             "ci_high": line.row.metrics[m].ci_high, "n": line.row.n, "flagged": line.row.flagged,
             "too_small": line.row.too_small}
            for line in report.lines
        ]
    )  # fmt: skip


def metrics_frame(report: performance.CohortReport) -> pd.DataFrame:
    """Every metric with its interval, per cohort (one or two fields) and over all rows."""
    rows = []
    entries = ([("all rows", report.overall)] if report.overall is not None else []) + [
        (line.label, line.row.metrics) for line in report.lines
    ]
    for label, ms in entries:
        row: dict[str, object] = {"cohort": label, "n": ms.n}
        for mc in ms.metrics:
            row[METRIC_LABELS[mc.metric]] = f"{num(mc.value)} {interval(mc.ci_low, mc.ci_high)}"
        rows.append(row)
    return pd.DataFrame(rows)


def flagged_messages(report: performance.CohortReport) -> list[str]:
    m = report.rank_by
    out = []
    for line in report.flagged:
        r = line.row
        worse = "above" if m in perf.LOWER_IS_BETTER else "below"
        text = (
            f"{line.label}: {METRIC_LABELS[m]} {num(r.metrics[m].value)} on {r.n:,} rows, "
            f"{abs(r.gap):.3f} {worse} the rest {interval(r.gap_ci_low, r.gap_ci_high)}"
        )
        notes = (["new since the reference window"] if line.new_since_reference else []) + (
            [line.reason] if line.reason else []
        )
        if notes:
            text += f" ({'; '.join(notes)})"
        out.append(text)
    return out


BAND_LABELS = {
    estimated.BELOW: "⚠ below the band",
    estimated.ABOVE: "⚠ above the band",
    estimated.INSIDE: "inside the band",
    estimated.UNKNOWN: "not yet known",
}


def cbpe_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """services.monitoring.estimated.CBPEReport.metric(...) -> the table under the chart: every window, a
    flag where the realized value fell outside the estimate's band, and text (never "None") where no
    outcome has arrived yet."""
    if rows.empty:
        return pd.DataFrame()
    known = rows["n_labelled"].to_numpy() > 0
    return pd.DataFrame(
        {
            "window": [f"{s:%Y-%m-%d}" for s in pd.to_datetime(rows["window_start"])],
            "realized vs estimate": [BAND_LABELS[c] for c in rows["band_check"]],
            "predictions": rows["n"],
            "labelled": rows["n_labelled"],
            "labelled share": rows["labelled_share"].fillna(0.0),
            "estimated": [num(v) for v in rows["estimate"]],
            "band (+-3 SE)": [interval(lo, hi) for lo, hi in zip(rows["lower"], rows["upper"], strict=True)],
            "realized": [num(v) if k else "not yet known" for v, k in zip(rows["realized"], known, strict=True)],
            "realized 95% CI": [
                interval(lo, hi) for lo, hi in zip(rows["realized_ci_low"], rows["realized_ci_high"], strict=True)
            ],
        }
    )


def estimate_delta(current: float | None, reference: float | None) -> str | None:
    """The current window's estimate minus the reference window's, signed ("-0.062"), so that the metric's
    arrow points down for a drop; None (no delta, no arrow) when either is unknown."""
    if current is None or reference is None or not (math.isfinite(current) and math.isfinite(reference)):
        return None
    return f"{current - reference:+.3f}"


def alerts_frame(views: Sequence[alerts.AlertView]) -> pd.DataFrame:
    rows = []
    for v in views:
        a, e = v.alert, v.alert.evidence or {}
        rows.append(
            {
                "id": a.id,
                "state": a.state,
                "severity": v.rule.severity,
                "rule": v.rule.name,
                "model": f"{e.get('model', v.rule.model_name)} v{e.get('model_version', '?')}",
                "metric": v.rule.metric,
                "value": a.value,
                "condition": f"{v.comparison} {e.get('threshold', v.rule.threshold):g}",
                "cohort": alerts.cohort_label(e.get("cohort")),
                "window": v.window.label if v.window else "",
                "opened": a.opened_at,
                "backlog item": a.backlog_item_id,
            }
        )
    return pd.DataFrame(rows)


def rules_frame(rules: Sequence) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"id": r.id, "name": r.name, "model": r.model_name, "metric": r.metric,
             "condition": f"{r.comparison} {r.threshold:g}", "window": r.window,
             "cohort": alerts.cohort_label(r.cohort),
             "severity": r.severity, "enabled": r.enabled, "created by": r.created_by}
            for r in rules
        ]
    )  # fmt: skip
