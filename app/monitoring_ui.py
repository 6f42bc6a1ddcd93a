"""The Monitoring page: windows and cohort filter on top, then lazy tabs (only the open tab computes).

    Drift | Drift over time | Performance | Calibration | Estimated performance | Alerts

Every number comes from services.monitoring.views / services.monitoring.alerts (cached there per data version); this
module only picks inputs, formats results (the *_frame helpers are pure and tested without Streamlit)
and draws the figures of app/figures_monitoring. Viewers read everything; analysts and up also change
drift tests, create alert rules, evaluate them, acknowledge, resolve and file alerts to the backlog
(the services refuse anyone else anyway).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_monitoring as figs
from app import widgets
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.models import registry
from services.monitoring import alerts, block_build, drift_time, drift_window, estimated, frames, overrides, performance
from services.monitoring import blocks as md
from services.monitoring import views as mon
from services.overview import summary as overview
from services.stats import drift as d
from services.stats import performance as perf

TABS = ("Drift", "Drift over time", "Performance", "Calibration", "Estimated performance", "Alerts")
TAB_KEY = "mon_tab"
VERSION_KEY = "mon_version"
REF_KEY = "mon_ref"
CUR_KEY = "mon_cur"
CUSTOM = "custom"
ALL_ROWS = ""
METRIC_LABELS = {
    "accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1", "roc_auc": "ROC AUC",
    "log_loss": "log loss", "brier": "Brier score", "positive_rate": "positive rate",
}  # fmt: skip
GRANULARITY_LABELS = {"day": "Daily", "week": "Weekly"}


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def _interval(lo: float | None, hi: float | None, digits: int = 3) -> str:
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


# --- pure formatting (tested without a browser) --------------------------------------------------


def drift_frame(report: drift_window.DriftReport) -> pd.DataFrame:
    """One row per column: the test, its score against the threshold, the verdict, and what it read."""
    rows = []
    for r in report.rows:
        if r.n_reference == 0 or r.n_current == 0:
            verdict = "no data"
        else:
            verdict = "drifted" if r.drifted else "no drift"
        sampled = r.tested_reference < r.n_reference or r.tested_current < r.n_current
        rows.append(
            {
                "column": r.column,
                "role": r.role,
                "test": r.method_label,
                "statistic": r.statistic,
                "score": r.score,
                "threshold": r.threshold,
                "decides when": "p < threshold" if r.is_p_value else "distance >= threshold",
                "verdict": verdict,
                "reference n": r.n_reference,
                "current n": r.n_current,
                "tested": f"{r.tested_reference:,} / {r.tested_current:,}" + (" (sample)" if sampled else ""),
                "test chosen": "set by a user" if r.overridden else "default rule",
                "why": r.reason,
            }
        )
    return pd.DataFrame(rows)


def drift_headline(report: drift_window.DriftReport) -> str:
    verdict = "dataset drift" if report.drifted else "no dataset drift"
    return (
        f"{report.n_drifted} of {report.n_features} features drifted ({report.share_drifted:.0%}): {verdict} "
        f"(dataset drift when at least {report.drift_share:.0%} of the features drift)."
    )


def shifts(over: drift_time.DriftOverTime, columns: Sequence[str]) -> list[drift_time.Shift]:
    """Columns whose drift score moved across the threshold once, earliest first."""
    found = [s for s in (drift_time.shift_of(over, c) for c in columns) if s is not None]
    return sorted(found, key=lambda s: (s.day, s.column))


def shift_message(shift: drift_time.Shift) -> str:
    return (
        f"**{_md(shift.column)}** from {shift.day:%Y-%m-%d} (median score {shift.before:.3g} before, "
        f"{shift.after:.3g} after; threshold {shift.threshold:g})"
    )


def cohort_frame(report: performance.CohortReport) -> pd.DataFrame:
    """The ranked cohorts: value with interval, gap to the rest with interval, and the flags."""
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
        since = ""
        if line.reference_gap is not None:
            since = (
                "new since the reference"
                if line.new_since_reference
                else ("flagged in the reference too" if r.flagged and line.reference_flagged else "")
            )
        rows.append(
            {
                "cohort": line.label,
                "n": r.n,
                METRIC_LABELS[m]: mc.value,
                "95% CI": _interval(mc.ci_low, mc.ci_high),
                "gap to the rest": r.gap,
                "gap 95% CI": _interval(r.gap_ci_low, r.gap_ci_high),
                "status": status,
                "rank": line.rank,
                "gap in the reference": line.reference_gap,
                "since the reference": since,
            }
        )
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
            row[METRIC_LABELS[mc.metric]] = f"{_num(mc.value)} {_interval(mc.ci_low, mc.ci_high)}"
        rows.append(row)
    return pd.DataFrame(rows)


def flagged_messages(report: performance.CohortReport) -> list[str]:
    m = report.rank_by
    out = []
    for line in report.flagged:
        r = line.row
        worse = "above" if m in perf.LOWER_IS_BETTER else "below"
        text = (
            f"{line.label}: {METRIC_LABELS[m]} {_num(r.metrics[m].value)} on {r.n:,} rows, "
            f"{abs(r.gap):.3f} {worse} the rest {_interval(r.gap_ci_low, r.gap_ci_high)}"
        )
        if line.new_since_reference:
            text += " (new since the reference window)"
        out.append(text)
    return out


def cbpe_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """services.monitoring.views.CBPEReport.metric(...) -> the table under the chart."""
    if rows.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "window": [f"{s:%Y-%m-%d}" for s in pd.to_datetime(rows["window_start"])],
            "predictions": rows["n"],
            "labelled": rows["n_labelled"],
            "labelled share": rows["labelled_share"],
            "estimated": rows["estimate"],
            "band (+-3 SE)": [_interval(lo, hi) for lo, hi in zip(rows["lower"], rows["upper"], strict=True)],
            "realized": rows["realized"],
            "realized 95% CI": [
                _interval(lo, hi) for lo, hi in zip(rows["realized_ci_low"], rows["realized_ci_high"], strict=True)
            ],
        }
    )


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


# --- the selection on top --------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    info: mon.VersionInfo
    reference: mon.Window
    current: mon.Window
    cohort_filter: dict[str, list[str]]
    features: dict[str, str]
    fields: list[str]
    field_values: dict[str, list[str]]


def _default(key: str, value) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _prepare_data(engine: Engine) -> None:
    """Fold new predictions and outcomes into the day blocks, with progress (first time: all of them)."""
    status = block_build.sync_status(engine)
    if not status.needs_refresh:
        return
    label = (
        "Preparing the monitoring data: every prediction is read once, later imports only add their days ..."
        if status.first_build
        else "Adding new predictions and outcomes to the monitoring data ..."
    )
    with st.status(label, expanded=True) as box:
        bar = st.progress(0.0, text="starting")
        result = overview.refresh_monitoring(engine, lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m))
        box.update(label=result.summary(), state="complete", expanded=False)


def _window_picker(info: mon.VersionInfo, label: str, key: str, presets: dict[str, str], default: str,
                   column, reference: mon.Window | None = None) -> mon.Window:  # fmt: skip
    _default(key, default)
    options = [*presets, CUSTOM]
    if st.session_state[key] not in options:
        st.session_state[key] = default
    choice = column.selectbox(label, options, format_func=lambda o: presets.get(o, "Custom range"), key=key)
    assert info.first_day is not None and info.last_day is not None
    if choice != CUSTOM:
        try:
            return mon.preset_window(info, choice, reference)
        except LoopdeckError as exc:
            column.warning(str(exc))
            return mon.preset_window(info, default, reference)
    range_key = f"{key}_range_{info.id}"
    fallback = mon.preset_window(info, default, reference)
    stored = st.session_state.get(range_key)
    if not stored or any(x < info.first_day or x > info.last_day for x in stored):
        st.session_state[range_key] = (fallback.start, fallback.end)
    picked = column.date_input(
        f"{label}: days (UTC)", min_value=info.first_day, max_value=info.last_day, key=range_key, format="YYYY-MM-DD"
    )
    picked = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    start = picked[0] if picked else fallback.start
    end = picked[1] if len(picked) > 1 else start
    return mon.Window(start, end)


def _selection(engine: Engine, versions: list[mon.VersionInfo]) -> Selection:
    by_id = {v.id: v for v in versions}
    default = mon.default_version(versions) or versions[0]
    _default(VERSION_KEY, default.id)
    if st.session_state[VERSION_KEY] not in by_id:
        st.session_state[VERSION_KEY] = default.id
    top = st.columns([2, 2, 2, 3])
    vid = top[0].selectbox(
        "Model version", list(by_id), format_func=lambda i: f"{by_id[i].label}, {by_id[i].n_rows:,} predictions",
        key=VERSION_KEY,
    )  # fmt: skip
    info = by_id[vid]
    reference = _window_picker(info, "Reference window", REF_KEY, mon.REFERENCE_PRESETS, "first14", top[1])
    current = _window_picker(info, "Current window", CUR_KEY, mon.CURRENT_PRESETS, "last28", top[2], reference)
    features, fields, values = frames.version_columns(engine, info)
    field_key = f"mon_filter_field_{vid}"
    _default(field_key, ALL_ROWS)
    if st.session_state[field_key] not in [ALL_ROWS, *fields]:
        st.session_state[field_key] = ALL_ROWS
    with top[3]:
        inner = st.columns(2)
        field = inner[0].selectbox(
            "Only rows where", [ALL_ROWS, *fields], format_func=lambda f: f or "(all rows)", key=field_key,
            help="Restrict every tab to one cohort, e.g. platform = ios or android.",
        )  # fmt: skip
        cohort_filter: dict[str, list[str]] = {}
        if field:
            chosen = inner[1].multiselect(f"{field} is", values.get(field, []), key=f"mon_filter_values_{vid}_{field}")
            if chosen:
                cohort_filter = {field: list(chosen)}
    overlap = current.start <= reference.end and reference.start <= current.end
    st.caption(
        f"{info.label}: data from {info.first_day:%Y-%m-%d} to {info.last_day:%Y-%m-%d}, {info.n_rows:,} predictions, "
        f"{info.n_labelled:,} with outcomes (last outcome for {info.last_labelled_day or '—'}). "
        f"Reference {reference.label}, current {current.label}, {mon.filter_label(cohort_filter)}. Days are UTC."
        + (" The two windows overlap." if overlap else "")
    )
    return Selection(info, reference, current, cohort_filter, features, fields, values)


# --- tabs ----------------------------------------------------------------------------------------


def _drift_tab(engine: Engine, actor: Actor, sel: Selection) -> None:
    report = drift_window.drift_report(engine, sel.info.id, sel.reference, sel.current, sel.cohort_filter)
    c = st.columns(4)
    c[0].metric("Features drifted", f"{report.n_drifted} of {report.n_features}", f"{report.share_drifted:.0%}",
                delta_color="off", help=f"Dataset drift at a share of at least {report.drift_share:.0%}.")  # fmt: skip
    c[1].metric("Dataset drift", "yes" if report.drifted else "no")
    for col, name, title in ((c[2], mon.PREDICTION_SCORE, "Prediction (score) drift"),
                             (c[3], mon.OUTCOME_LABEL, "Outcome drift")):  # fmt: skip
        try:
            r = report.column(name)
        except KeyError:
            continue
        col.metric(title, "drifted" if r.drifted else "no drift", f"{r.method_label} {_num(r.score)}",
                   delta_color="off", help=r.note)  # fmt: skip
    st.write(drift_headline(report))
    st.dataframe(
        drift_frame(report), hide_index=True, width="stretch", key="mon_drift_table",
        column_config={
            "statistic": st.column_config.NumberColumn(
                "statistic", format="%.4g", help="The test's statistic: KS D, chi-square, z, Anderson-Darling; the raw "
                "Wasserstein distance (before dividing by the reference std); for other distances the distance."),
            "score": st.column_config.NumberColumn("score", format="%.4g",
                                                   help="The p-value for a p-value test, else the distance."),
            "threshold": st.column_config.NumberColumn("threshold", format="%.4g"),
            "test": st.column_config.TextColumn("test", help="See 'About the tests' below for each test and where we "
                                                             "differ from Evidently on purpose."),
            "tested": st.column_config.TextColumn("tested", help=mon.SAMPLING_NOTE),
            "why": st.column_config.TextColumn("why", width="medium"),
        },
    )  # fmt: skip
    with st.expander("About the tests", icon=":material/info:"):
        used = sorted({r.method for r in report.rows})
        for m in used:
            st.markdown(f"**{d.METHOD_LABELS.get(m, m)}**: {mon.METHOD_NOTES.get(m, '')}")
        st.markdown(f"**Samples**: {mon.SAMPLING_NOTE}")
    st.subheader("Reference vs current", divider="gray")
    ordered = sorted(report.rows, key=lambda r: (not r.drifted, r.role != "feature", r.column))
    for start in range(0, len(ordered), 3):
        cols = st.columns(3)
        for col, r in zip(cols, ordered[start : start + 3], strict=False):
            with col:
                verdict = ":red[drifted]" if r.drifted else "no drift"
                st.markdown(f"**{_md(r.column)}** · {r.method_label} {_num(r.score, 4)} · {verdict}", help=r.note)
                st.plotly_chart(_distribution_figure(r.distribution, r.column, r.drifted),
                                key=f"mon_dist_{r.column}", config={"displayModeBar": False})  # fmt: skip
    if actor.can(Role.analyst):
        _override_editor(engine, actor, sel, report)
    else:
        saved = overrides.list_overrides(engine, sel.info.model_name)
        if saved:
            st.caption("Tests set by users: " + ", ".join(f"{o.column_name}: {o.method or 'default'} "
                                                          f"{o.threshold or ''}" for o in saved))  # fmt: skip


@functools.lru_cache(maxsize=512)
def _distribution_figure(dist: drift_window.Distribution, title: str, drifted: bool):
    """Figures are rebuilt only for new distributions: a rerun or a revisited window reuses them (plotly's
    validation costs ~20 ms a figure; st.plotly_chart only reads the figure)."""
    return figs.distribution_figure(dist, title, drifted)


def _md(text: str) -> str:
    """User text inside markdown: escape what markdown would read."""
    for ch in "\\`*_{}[]<>()#+-.!|$~":
        text = text.replace(ch, "\\" + ch)
    return text


def _override_editor(engine: Engine, actor: Actor, sel: Selection, report: drift_window.DriftReport) -> None:
    with st.expander("Change a column's test or threshold", icon=":material/tune:"):
        st.caption(f"Saved for the model {sel.info.model_name} (every version) and recorded in the audit log.")
        rows = {r.column: r for r in report.rows}
        cols = st.columns([2, 2, 1])
        column = cols[0].selectbox("Column", list(rows), key="mon_ovr_column")
        row = rows[column]
        method = cols[1].selectbox(
            "Test", list(row.applicable),
            index=list(row.applicable).index(row.method) if row.method in row.applicable else 0,
            format_func=lambda m: d.METHOD_LABELS.get(m, m), key=f"mon_ovr_method_{column}",
            help=mon.METHOD_NOTES.get(row.method, ""),
        )  # fmt: skip
        default_threshold = row.threshold if method == row.method else d.default_threshold(method)
        threshold = cols[2].number_input(
            "Threshold", min_value=0.0, value=float(default_threshold), step=0.01, format="%.4f",
            key=f"mon_ovr_threshold_{column}_{method}",
            help="p-value tests drift below it, distances at or above it.",
        )  # fmt: skip
        st.caption(mon.METHOD_NOTES.get(method, ""))
        b = st.columns([1, 1, 4])
        if b[0].button("Save", type="primary", key="mon_ovr_save"):
            widgets.attempt(
                lambda: overrides.set_override(engine, actor, sel.info.model_name, column, method, float(threshold)),
                f"{column}: {d.METHOD_LABELS.get(method, method)} at {threshold:g} saved.",
            )
        if b[1].button("Reset to default", key="mon_ovr_reset"):
            widgets.attempt(
                lambda: overrides.clear_override(engine, actor, sel.info.model_name, column),
                lambda done: f"{column}: back to the default test." if done else f"{column} uses the default already.",
            )
        saved = overrides.list_overrides(engine, sel.info.model_name)
        if saved:
            st.dataframe(
                pd.DataFrame([{"column": o.column_name, "test": d.METHOD_LABELS.get(o.method, o.method or "default"),
                               "threshold": o.threshold, "by": o.updated_by, "at": o.updated_at} for o in saved]),
                hide_index=True, key="mon_ovr_saved",
            )  # fmt: skip


def _progress_call(fn, text: str):
    """Run fn(progress) with a progress bar that disappears afterwards (cached results finish at once)."""
    holder = st.empty()
    bar = None

    def progress(f: float, message: str) -> None:
        nonlocal bar
        if bar is None:
            bar = holder.progress(0.0, text=text)
        bar.progress(min(max(f, 0.0), 1.0), text=f"{text}: {message}")

    try:
        return fn(progress)
    finally:
        holder.empty()


def _deployment_events(engine: Engine, sel: Selection) -> list[tuple[date, str]]:
    events = []
    for dep in registry.list_deployments(engine, sel.info.model_name):
        day = dep.started_at.date()
        if sel.info.first_day <= day <= sel.info.last_day:  # type: ignore[operator]
            events.append((day, f"{dep.stage} {int(round(dep.traffic_share * 100))}% (id {dep.model_version_id})"))
    return events


def _drift_over_time_tab(engine: Engine, sel: Selection) -> None:
    gran = st.segmented_control("Windows", list(GRANULARITY_LABELS), format_func=GRANULARITY_LABELS.get,
                                default="day", key="mon_dot_granularity", required=True)  # fmt: skip
    over = _progress_call(
        lambda p: drift_time.drift_over_time(engine, sel.info.id, sel.reference, gran or "day", sel.cohort_filter, p),
        "Drift per window",
    )
    columns = list(dict.fromkeys(over.frame["column"])) if not over.frame.empty else []
    found = shifts(over, columns)
    if found:
        st.warning("Started drifting: " + "; ".join(shift_message(x) for x in found), icon=":material/trending_up:")
    else:
        st.success("No column's drift score crossed its threshold for good in this range.")
    st.caption(
        f"Each window against the reference {sel.reference.label}; same tests and thresholds as the Drift tab. "
        f"Numeric columns read samples of at most {mon.OVER_TIME_SAMPLE:,} rows per window here. Windows with fewer "
        f"than {mon.OVER_TIME_MIN_ROWS} rows are grey: too noisy to date a shift. Dotted lines: deployments of this "
        "model."
    )
    st.plotly_chart(figs.drift_share_figure(over.dataset, mon.DATASET_DRIFT_SHARE), key="mon_dot_share",
                    config={"displayModeBar": False})  # fmt: skip
    chosen = st.multiselect("Columns", columns, default=columns, key=f"mon_dot_columns_{sel.info.id}")
    events = _deployment_events(engine, sel)
    for start in range(0, len(chosen), 2):
        cols = st.columns(2)
        for col, c in zip(cols, chosen[start : start + 2], strict=False):
            col.plotly_chart(figs.drift_over_time_figure(over.frame, c, events), key=f"mon_dot_{c}",
                             config={"displayModeBar": False})  # fmt: skip


def _performance_tab(engine: Engine, sel: Selection) -> None:
    cols = st.columns([3, 2, 1])
    fields = cols[0].multiselect(
        "Slice by", sel.fields, max_selections=2, key=f"mon_perf_fields_{sel.info.id}",
        placeholder="every cohort field, one at a time",
        help="One cohort field, or two at once (their combinations). Empty: every field, one at a time, "
        "ranked together.",
    )  # fmt: skip
    rank_by = cols[1].selectbox("Rank by", perf.METRICS, format_func=METRIC_LABELS.get, key="mon_rank_by")
    min_size = cols[2].number_input("Minimum cohort size", min_value=1, value=perf.DEFAULT_MIN_COHORT_SIZE, step=10,
                                    key="mon_min_size", help="Smaller cohorts are listed but not ranked.")  # fmt: skip
    report = performance.cohort_report(engine, sel.info.id, sel.current, tuple(fields), rank_by, int(min_size),
                               sel.cohort_filter, reference=sel.reference)  # fmt: skip
    share = report.n_labelled / report.n_predictions if report.n_predictions else 0
    st.caption(
        f"Current window {sel.current.label}: {report.n_labelled:,} of {report.n_predictions:,} predictions have "
        f"outcomes ({share:.0%}). {mon.PERFORMANCE_NOTE}"
        + (f" Bootstrap: {report.n_resamples} resamples." if report.n_resamples else "")
    )
    if report.n_labelled == 0:
        st.info("No outcomes have arrived for this window yet: the Estimated performance tab estimates them.")
    else:
        flagged = flagged_messages(report)
        if flagged:
            st.error("Flagged cohorts (the whole 95% interval of the gap is below the rest):\n\n"
                     + "\n".join(f"- {_md(t)}" for t in flagged), icon=":material/flag:")  # fmt: skip
        else:
            st.success("No cohort is significantly below the rest in this window.")
        overall = report.overall[rank_by].value if report.overall is not None else None
        st.plotly_chart(figs.cohort_metric_figure(cohort_points(report), METRIC_LABELS[rank_by], overall),
                        key="mon_perf_cohorts", config={"displayModeBar": False})  # fmt: skip
        st.dataframe(
            cohort_frame(report), hide_index=True, width="stretch", key="mon_perf_table",
            column_config={
                METRIC_LABELS[rank_by]: st.column_config.NumberColumn(format="%.3f"),
                "gap to the rest": st.column_config.NumberColumn(
                    format="%+.3f", help="Cohort minus all other rows (rest minus cohort for losses): negative is "
                    "worse."),
                "gap in the reference": st.column_config.NumberColumn(
                    format="%+.3f", help=f"The same gap in the reference window {sel.reference.label}."),
            },
        )  # fmt: skip
        if fields:
            st.caption("Every metric, 95% intervals")
            st.dataframe(metrics_frame(report), hide_index=True, width="stretch", key="mon_perf_metrics")
    st.subheader("Over time", divider="gray")
    cols = st.columns(3)
    gran = cols[0].segmented_control("Windows", list(GRANULARITY_LABELS), format_func=GRANULARITY_LABELS.get,
                                     default="week", key="mon_pot_granularity", required=True)  # fmt: skip
    metric = cols[1].selectbox("Metric", perf.METRICS, format_func=METRIC_LABELS.get, key="mon_pot_metric")
    split_key = f"mon_pot_field_{sel.info.id}"
    field = cols[2].selectbox("One line per", [ALL_ROWS, *sel.fields], format_func=lambda f: f or "(all rows)",
                              key=split_key)  # fmt: skip
    over = performance.performance_over_time(
        engine, sel.info.id, gran or "week", metric, field or None, sel.cohort_filter
    )
    st.plotly_chart(figs.performance_over_time_figure(over.frame, METRIC_LABELS[metric]), key="mon_pot_chart",
                    config={"displayModeBar": False})  # fmt: skip
    if over.n_resamples:
        st.caption(f"Bootstrap intervals with {over.n_resamples} resamples.")


def _calibration_tab(engine: Engine, sel: Selection) -> None:
    cols = st.columns([2, 2, 3])
    field = cols[0].selectbox("Per cohort of", [ALL_ROWS, *sel.fields], format_func=lambda f: f or "(all rows only)",
                              key=f"mon_cal_field_{sel.info.id}")  # fmt: skip
    n_bins = cols[1].slider("Bins", 5, 20, 10, key="mon_cal_bins")
    report = performance.calibration_report(engine, sel.info.id, sel.current, field or None, int(n_bins),
                                    cohort_filter=sel.cohort_filter)  # fmt: skip
    cols[2].metric("ECE, all labelled rows", _num(report.overall.ece), help=mon.CALIBRATION_NOTE)
    diagrams = {"all rows": report.overall}
    table = [{"cohort": "all rows", "n": report.overall.n, "ECE": report.overall.ece, "MCE": report.overall.mce}]
    if report.cohorts is not None:
        for label, dg in zip(report.cohorts.cohorts, report.cohorts.diagrams, strict=True):
            name = ", ".join(str(x) for x in label)
            diagrams[name] = dg
            table.append({"cohort": name, "n": dg.n, "ECE": dg.ece, "MCE": dg.mce})
    st.caption(f"Current window {sel.current.label}, {report.n_labelled:,} labelled rows. {mon.CALIBRATION_NOTE}")
    st.plotly_chart(figs.reliability_figure(diagrams), key="mon_cal_chart", config={"displayModeBar": False})
    st.dataframe(pd.DataFrame(table), hide_index=True, key="mon_cal_table",
                 column_config={"ECE": st.column_config.NumberColumn(format="%.4f"),
                                "MCE": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip


def _estimated_tab(engine: Engine, sel: Selection) -> None:
    cols = st.columns(3)
    gran = cols[0].segmented_control("Windows", list(GRANULARITY_LABELS), format_func=GRANULARITY_LABELS.get,
                                     default="week", key="mon_cbpe_granularity", required=True)  # fmt: skip
    metric = cols[1].selectbox("Metric", mon.CBPE_METRICS, format_func=METRIC_LABELS.get, key="mon_cbpe_metric")
    report = _progress_call(
        lambda p: estimated.cbpe_report(engine, sel.info.id, sel.reference, gran or "week", sel.cohort_filter),
        "Estimating",
    )
    est = estimated.estimate_window(engine, sel.info.id, sel.reference, sel.current, sel.cohort_filter).metric(metric)
    cols[2].metric(f"Estimated {METRIC_LABELS[metric]}, current window", _num(est.value),
                   f"band {_interval(est.lower, est.upper)}", delta_color="off", help=mon.CBPE_NOTE)  # fmt: skip
    st.caption(
        f"Calibrator: {report.calibration} ({report.calibration_reason}), fitted on {report.n_reference_labelled:,} "
        f"labelled rows of the reference {sel.reference.label}. {mon.CBPE_NOTE}"
    )
    rows = report.metric(metric)
    st.plotly_chart(figs.cbpe_figure(rows, METRIC_LABELS[metric]), key="mon_cbpe_chart",
                    config={"displayModeBar": False})  # fmt: skip
    st.dataframe(cbpe_frame(rows), hide_index=True, width="stretch", key="mon_cbpe_table",
                 column_config={"labelled share": st.column_config.NumberColumn(format="percent"),
                                "estimated": st.column_config.NumberColumn(format="%.3f"),
                                "realized": st.column_config.NumberColumn(format="%.3f")})  # fmt: skip


# --- alerts --------------------------------------------------------------------------------------


def _show_in_monitoring(view: alerts.AlertView) -> None:
    """Point the page at the alert's evidence: its version, its window as the current one, its cohort."""
    w = view.window
    vid = view.alert.model_version_id
    if w is None or vid is None:
        return
    st.session_state[VERSION_KEY] = vid
    st.session_state[CUR_KEY] = CUSTOM
    st.session_state[f"{CUR_KEY}_range_{vid}"] = (w.start, w.end)
    cohort = view.rule.cohort or {}
    field_key = f"mon_filter_field_{vid}"
    if cohort:
        field, values = next(iter(cohort.items()))
        st.session_state[field_key] = field
        st.session_state[f"mon_filter_values_{vid}_{field}"] = [values] if isinstance(values, str) else list(values)
    else:
        st.session_state[field_key] = ALL_ROWS
    metric = view.rule.metric
    if metric.startswith(mon.ESTIMATED_PREFIX):
        st.session_state[TAB_KEY] = "Estimated performance"
    elif metric.startswith(mon.DRIFT_PREFIX) or metric == mon.DRIFT_SHARE:
        st.session_state[TAB_KEY] = "Drift"
    else:
        st.session_state[TAB_KEY] = "Performance"


def _alerts_tab(engine: Engine, actor: Actor, sel: Selection) -> None:
    can_act = actor.can(Role.analyst)
    top = st.columns([3, 1])
    state = top[0].segmented_control("Alerts", ["open", "acknowledged", "resolved", "all"], default="open",
                                     key="mon_alert_state", required=True,
                                     format_func=lambda s: s.capitalize())  # fmt: skip
    if can_act and top[1].button("Evaluate rules now", icon=":material/notifications_active:", key="mon_evaluate"):
        with st.status("Evaluating alert rules ...", expanded=True) as box:
            bar = st.progress(0.0)
            opened = widgets.attempt(
                lambda: alerts.evaluate_rules(engine, actor, progress=lambda f, m: bar.progress(min(f, 1.0), text=m)),
                rerun=False,
            )
            box.update(label=f"{len(opened or [])} new alert(s).", state="complete", expanded=False)
    views = alerts.list_alerts(engine, None if state == "all" else state)
    if not views:
        st.info(f"No {'' if state == 'all' else state + ' '}alerts.")
    else:
        table = st.dataframe(alerts_frame(views), hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="single-row", key=f"mon_alerts_{state}",
                             column_config={"value": st.column_config.NumberColumn(format="%.4g"),
                                            "backlog item": st.column_config.NumberColumn(format="%d")})  # fmt: skip
        picked = table.selection.rows if table is not None else []
        if picked and picked[0] < len(views):
            _alert_detail(engine, actor, views[picked[0]], can_act)
        else:
            st.caption("Select an alert to see its evidence and act on it.")
    st.subheader("Rules", divider="gray")
    rules = alerts.list_rules(engine)
    if rules:
        st.dataframe(rules_frame(rules), hide_index=True, width="stretch", key="mon_rules")
    else:
        st.caption("No alert rules yet.")
    if can_act:
        _rule_forms(engine, actor, sel, rules)


def _alert_detail(engine: Engine, actor: Actor, view: alerts.AlertView, can_act: bool) -> None:
    a = view.alert
    with st.container(border=True):
        st.markdown(f"**Alert {a.id}** · {a.state} · {_md(view.summary)}")
        st.json(a.evidence or {}, expanded=False)
        if a.ack_comment:
            st.caption(f"Acknowledged by {a.acknowledged_by}: {a.ack_comment}")
        if a.resolved_at:
            st.caption(f"Resolved by {a.resolved_by}" + (f": {a.resolve_comment}" if a.resolve_comment else ""))
        st.button("Show the evidence in Monitoring", key=f"mon_alert_show_{a.id}", on_click=_show_in_monitoring,
                  args=(view,), icon=":material/search:")  # fmt: skip
        if not can_act:
            return
        cols = st.columns(3)
        with cols[0].form(f"mon_ack_{a.id}"):
            comment = st.text_input("Comment", key=f"mon_ack_comment_{a.id}", disabled=a.state != "open")
            if st.form_submit_button("Acknowledge", disabled=a.state != "open"):
                widgets.attempt(lambda: alerts.acknowledge(engine, actor, a.id, comment), f"Alert {a.id} acknowledged.")
        with cols[1].form(f"mon_resolve_{a.id}"):
            note = st.text_input("Resolution note", key=f"mon_resolve_comment_{a.id}", disabled=a.state == "resolved")
            if st.form_submit_button("Resolve", disabled=a.state == "resolved"):
                widgets.attempt(lambda: alerts.resolve(engine, actor, a.id, note), f"Alert {a.id} resolved.")
        with cols[2].form(f"mon_backlog_{a.id}"):
            title = st.text_input("Backlog item title", key=f"mon_backlog_title_{a.id}",
                                  placeholder="default: the rule and its value",
                                  disabled=a.backlog_item_id is not None)  # fmt: skip
            if st.form_submit_button("Add to backlog", disabled=a.backlog_item_id is not None):
                widgets.attempt(lambda: alerts.to_backlog(engine, actor, a.id, title or None),
                                lambda item: f"Backlog item {item.id} created from alert {a.id}.")  # fmt: skip


def _rule_forms(engine: Engine, actor: Actor, sel: Selection, rules: Sequence) -> None:
    with st.expander("New alert rule", icon=":material/add_alert:"):
        columns = [*sel.features, mon.PREDICTION_SCORE, mon.PREDICTION_LABEL, mon.OUTCOME_LABEL]
        metric = st.selectbox("Watch", mon.metric_names(columns), key="mon_rule_metric",
                              help="drift:<column> is that column's drift score (p-value or distance); drift_share "
                                   "the share of drifted features; estimated_* come from CBPE.")  # fmt: skip
        field = st.selectbox("Only for the cohort", [ALL_ROWS, *sel.fields], format_func=lambda f: f or "(all rows)",
                             key="mon_rule_field")  # fmt: skip
        with st.form("mon_rule_form"):
            cols = st.columns(4)
            name = cols[0].text_input("Name", key="mon_rule_name")
            options = alerts.comparisons(metric)
            comparison = cols[1].selectbox(
                "Alert when the value is", options, index=options.index(alerts.default_comparison(metric)),
                format_func=lambda c: "on the drift side (p < t, distance >= t)" if c == alerts.AUTO else c,
                key=f"mon_rule_cmp_{metric}",
            )  # fmt: skip
            threshold = cols[2].number_input("Threshold", value=_default_rule_threshold(metric), format="%.4f",
                                             key=f"mon_rule_threshold_{metric}")  # fmt: skip
            window = cols[3].selectbox("Over the last", alerts.WINDOWS, index=1, key="mon_rule_window")
            cols = st.columns(2)
            values = cols[0].multiselect(f"{field} is" if field else "Cohort values", sel.field_values.get(field, []),
                                         key=f"mon_rule_values_{field}", disabled=not field)  # fmt: skip
            severity = cols[1].selectbox("Severity", alerts.SEVERITIES, index=1, key="mon_rule_severity")
            if st.form_submit_button("Create rule", type="primary"):
                cohort = {field: list(values)} if field else None
                widgets.attempt(
                    lambda: alerts.create_rule(
                        engine, actor, name=name, model_name=sel.info.model_name, metric=metric, threshold=threshold,
                        comparison=comparison, window=window, cohort=cohort, severity=severity,
                    ),
                    lambda rule: f"Rule {rule.name} created. Evaluate the rules to check it now.",
                )  # fmt: skip
    if rules:
        with st.expander("Change, pause or resume a rule", icon=":material/pause_circle:"):
            by_id = {r.id: r for r in rules}
            rid = st.selectbox("Rule", list(by_id),
                               format_func=lambda i: f"{by_id[i].name} ({'on' if by_id[i].enabled else 'paused'})",
                               key="mon_rule_toggle_id")  # fmt: skip
            rule = by_id[rid]
            cols = st.columns([2, 1, 1])
            threshold = cols[0].number_input("Threshold", value=float(rule.threshold), format="%.4f",
                                             key=f"mon_rule_edit_threshold_{rid}")  # fmt: skip
            if cols[1].button("Save threshold", key="mon_rule_save_threshold", disabled=threshold == rule.threshold):
                widgets.attempt(lambda: alerts.update_rule_threshold(engine, actor, rid, threshold),
                                f"Rule {rule.name}: threshold {threshold:g}.")  # fmt: skip
            if cols[2].button("Pause" if rule.enabled else "Resume", key="mon_rule_toggle"):
                widgets.attempt(lambda: alerts.set_rule_enabled(engine, actor, rid, not rule.enabled),
                                f"Rule {rule.name} {'paused' if rule.enabled else 'resumed'}.")  # fmt: skip


def _default_rule_threshold(metric: str) -> float:
    if metric.startswith(mon.DRIFT_PREFIX):
        return d.DISTANCE_THRESHOLD
    if metric == mon.DRIFT_SHARE:
        return mon.DATASET_DRIFT_SHARE
    name = metric.removeprefix(mon.ESTIMATED_PREFIX)
    return {"accuracy": 0.8, "roc_auc": 0.8, "precision": 0.5, "recall": 0.5, "f1": 0.5, "log_loss": 0.5,
            "brier": 0.2, "positive_rate": 0.3}.get(name, 0.5)  # fmt: skip


# --- the page ------------------------------------------------------------------------------------


def render(actor: Actor, engine: Engine) -> None:
    st.title("Monitoring")
    st.caption("Is the model still right, for whom, and since when? Drift of inputs and outputs, performance per "
               "cohort where outcomes are known, calibration, estimates where they are not yet, and "
               "alerts.")  # fmt: skip
    _prepare_data(engine)
    versions = [v for v in mon.list_versions(engine) if v.has_data]
    if not versions:
        st.info("No predictions yet. Import predictions (and later their outcomes) on the Data page; they appear here.")
        return
    sel = _selection(engine, versions)
    _default(TAB_KEY, TABS[0])
    tabs = st.tabs(TABS, key=TAB_KEY, on_change="rerun")
    renderers = (
        lambda: _drift_tab(engine, actor, sel),
        lambda: _drift_over_time_tab(engine, sel),
        lambda: _performance_tab(engine, sel),
        lambda: _calibration_tab(engine, sel),
        lambda: _estimated_tab(engine, sel),
        lambda: _alerts_tab(engine, actor, sel),
    )
    for tab, draw in zip(tabs, renderers, strict=True):
        if tab.open is False:
            continue
        with tab:
            try:
                draw()
            except LoopdeckError as exc:
                st.error(str(exc))
    # While the user reads, decode the version's other days so that a window change reads no blob.
    md.prefetch(engine, sel.info.id)
