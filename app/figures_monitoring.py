"""Plotly figures of the Monitoring page: pure functions, data in, go.Figure out (tested without a browser).

Column and cohort names come from imported data, so they are user text: `plain` escapes the few HTML
tags plotly reads in names, titles and tick labels, so a name shows as typed and a tag in it stays inert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import pandas as pd
import plotly.graph_objects as go

REFERENCE = "#7f8c9a"
CURRENT = "#1f77b4"
DRIFTED = "#d62728"
ESTIMATE = "#9467bd"
MUTED = "rgba(140, 140, 140, 0.5)"
OK = "#1f77b4"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
MARGIN = dict(l=10, r=10, t=40, b=10)


def plain(text: object) -> str:
    """Text plotly shows literally (its HTML-like markup escaped)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def empty_figure(message: str, height: int = 240) -> go.Figure:
    return go.Figure(layout=dict(
        annotations=[dict(text=plain(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")],
        xaxis=dict(visible=False), yaxis=dict(visible=False), height=height, margin=MARGIN,
    ))  # fmt: skip


def _vline(x: float, line: dict, text: str, font_size: int) -> tuple[dict, dict]:
    """The shape and label of fig.add_vline(x, annotation_text=text) (label at the top right), as layout dicts:
    add_vline/add_hline cost ~10 ms a call in plotly's property machinery."""
    shape = dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="y domain", line=line)
    label = dict(text=text, font=dict(size=font_size), showarrow=False, x=x, xanchor="left", xref="x", y=1,
                 yanchor="top", yref="y domain")  # fmt: skip
    return shape, label


def _hline(y: float, line: dict, text: str, font_size: int, left: bool = False) -> tuple[dict, dict]:
    """The shape and label of fig.add_hline(y, annotation_text=text) as layout dicts (label above the line,
    at the right end, or the left one for annotation_position="top left")."""
    shape = dict(type="line", x0=0, x1=1, xref="x domain", y0=y, y1=y, yref="y", line=line)
    label = dict(text=text, font=dict(size=font_size), showarrow=False, x=0 if left else 1,
                 xanchor="left" if left else "right", xref="x domain", y=y, yanchor="bottom", yref="y")  # fmt: skip
    return shape, label


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


# --- drift -----------------------------------------------------------------------------------------


def distribution_figure(dist, title: str, drifted: bool = False, height: int = 240) -> go.Figure:
    """Reference vs current shares (services.monitoring.views.Distribution): bars per category or distinct value,
    or a histogram on shared bins for a continuous column. The current window is red when it drifted.

    Built in one constructor from plain dicts: plotly validates each property once, where add_trace and
    update_layout walk its property tree again per call (6-7 ms a figure against ~1.5 ms; the Drift tab
    draws one per column on every window change)."""
    if dist is None or not dist.labels:
        return empty_figure(f"{title}: no values in these windows", height)
    color = DRIFTED if drifted else CURRENT
    sides = (
        ("reference", dist.reference, REFERENCE, dist.n_reference),
        ("current", dist.current, color, dist.n_current),
    )
    if dist.kind == "bins" and dist.edges:
        edges = np.asarray(dist.edges, dtype=float)
        centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        traces = [
            dict(type="bar", x=centers, y=list(shares), width=widths, name=f"{name} (n={n:,})", marker=dict(color=col),
                 opacity=0.55, customdata=list(dist.labels),
                 hovertemplate="%{customdata}<br>%{y:.1%}<extra>" + name + "</extra>")
            for name, shares, col, n in sides
        ]  # fmt: skip
        layout: dict = dict(barmode="overlay", yaxis=dict(tickformat=".0%"))
    else:
        labels = [plain(x) for x in dist.labels]
        traces = [
            dict(type="bar", x=labels, y=list(shares), name=f"{name} (n={n:,})", marker=dict(color=col),
                 hovertemplate="%{x}<br>%{y:.1%}<extra>" + name + "</extra>")
            for name, shares, col, n in sides
        ]  # fmt: skip
        layout = dict(barmode="group", xaxis=dict(type="category"), yaxis=dict(tickformat=".0%"))
    layout.update(title=dict(text=plain(title), font=dict(size=13)), height=height, margin=MARGIN,
                  legend=dict(orientation="h", y=-0.25, x=0), bargap=0.05)  # fmt: skip
    return go.Figure(data=traces, layout=layout)


def drift_over_time_figure(
    frame: pd.DataFrame, column: str, events: Sequence[tuple[date, str]] = (), height: int = 260,
) -> go.Figure:  # fmt: skip
    """One column's drift score per window (services.monitoring.views.DriftOverTime.frame rows) with its
    threshold line; windows that drifted are red, windows too small to judge grey. p-value tests drift below
    the line, distances at or above."""
    part = frame[frame["column"] == column].sort_values("window_start") if not frame.empty else frame
    if part is None or part.empty:
        return empty_figure(f"{column}: no windows", height)
    is_p = bool(part["is_p_value"].iloc[-1])
    threshold = float(part["threshold"].iloc[-1])
    method = str(part["method"].iloc[-1])
    x = pd.to_datetime(part["window_start"])
    small = part["too_small"] if "too_small" in part else pd.Series(False, index=part.index)
    colors = [MUTED if s else (DRIFTED if d else OK) for d, s in zip(part["drifted"], small, strict=True)]
    trace = dict(
        type="scatter", x=x, y=part["score"], mode="lines+markers", name=plain(column), line=dict(color=OK, width=1.5),
        marker=dict(color=colors, size=6), customdata=np.stack([part["n_current"], part["drifted"]], axis=1),
        hovertemplate="%{x|%Y-%m-%d}<br>score %{y:.4g}<br>n %{customdata[0]:,}<br>drifted %{customdata[1]}"
        "<extra></extra>",
    )  # fmt: skip
    lines = [
        _hline(
            threshold,
            dict(color=DRIFTED, dash="dash", width=1),
            f"threshold {threshold:g} ({'drift below' if is_p else 'drift at or above'})",
            10,
            left=True,
        )
    ]
    lines += [_vline(pd.Timestamp(day).timestamp() * 1000, dict(color=MUTED, dash="dot", width=1), plain(label), 9)
              for day, label in events]  # fmt: skip
    yaxis: dict = dict(title=dict(text="p-value" if is_p else "distance"))
    if is_p:
        yaxis["range"] = [0, 1.02]
    layout = dict(
        title=dict(text=f"{plain(column)}: {plain(method)}", font=dict(size=13)), height=height, margin=MARGIN,
        showlegend=False, yaxis=yaxis, shapes=[sh for sh, _ in lines], annotations=[a for _, a in lines],
    )  # fmt: skip
    return go.Figure(data=[trace], layout=layout)


def drift_share_figure(dataset: pd.DataFrame, drift_share: float = 0.5, height: int = 240) -> go.Figure:
    """Share of drifted features per window, with the dataset-drift line."""
    if dataset is None or dataset.empty:
        return empty_figure("No windows", height)
    x = pd.to_datetime(dataset["window_start"])
    colors = [DRIFTED if d else OK for d in dataset["drifted"]]
    bars = dict(type="bar", x=x, y=dataset["share_drifted"], marker=dict(color=colors),
                customdata=dataset[["n_drifted", "n"]],
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:.0%} of features drifted (%{customdata[0]})<br>"
                "%{customdata[1]:,} rows<extra></extra>")  # fmt: skip
    shape, label = _hline(drift_share, dict(color=DRIFTED, dash="dash", width=1),
                          f"dataset drift at {drift_share:.0%}", 10)  # fmt: skip
    layout = dict(title=dict(text="Share of drifted features per window", font=dict(size=13)), height=height,
                  margin=MARGIN, yaxis=dict(tickformat=".0%", range=[0, 1.02]), shapes=[shape],
                  annotations=[label])  # fmt: skip
    return go.Figure(data=[bars], layout=layout)


# --- performance -------------------------------------------------------------------------------------


def cohort_metric_figure(
    rows: pd.DataFrame, metric: str, overall: float | None = None, height: int | None = None
) -> go.Figure:
    """One point per cohort with its 95% interval (rows: label, value, ci_low, ci_high, n, flagged,
    too_small), worst first from the top. Flagged cohorts red, cohorts too small to rank grey."""
    if rows is None or rows.empty:
        return empty_figure("No labelled rows in this window", height or 240)
    rows = rows.iloc[::-1]  # plotly draws the first category at the bottom
    colors = [MUTED if s else (DRIFTED if f else OK) for f, s in zip(rows["flagged"], rows["too_small"], strict=True)]
    value = rows["value"].to_numpy(dtype=float)
    lo = rows["ci_low"].to_numpy(dtype=float)
    hi = rows["ci_high"].to_numpy(dtype=float)
    err_plus = np.where(np.isfinite(hi - value), hi - value, 0)
    err_minus = np.where(np.isfinite(value - lo), value - lo, 0)
    labels = [plain(x) for x in rows["label"]]
    points = dict(
        type="scatter", x=value, y=labels, mode="markers", marker=dict(color=colors, size=10),
        error_x=dict(type="data", array=err_plus, arrayminus=err_minus, color="rgba(80,80,80,0.6)", thickness=1.5),
        customdata=np.stack([rows["n"], lo, hi], axis=1),
        hovertemplate="%{y}<br>" + plain(metric) + " %{x:.3f} [%{customdata[1]:.3f}, %{customdata[2]:.3f}]"
        "<br>n %{customdata[0]:,}<extra></extra>",
    )  # fmt: skip
    layout: dict = dict(
        title=dict(text=f"{plain(metric)} per cohort, 95% intervals (red: flagged, grey: too small to rank)",
                   font=dict(size=13)),
        height=height or max(240, 28 * len(rows) + 90), margin=MARGIN, xaxis=dict(title=dict(text=plain(metric))),
    )  # fmt: skip
    if overall is not None and np.isfinite(overall):
        shape, label = _vline(overall, dict(color=REFERENCE, dash="dash", width=1), f"all rows {overall:.3f}", 10)
        layout.update(shapes=[shape], annotations=[label])
    return go.Figure(data=[points], layout=layout)


def performance_over_time_figure(frame: pd.DataFrame, metric: str, height: int = 320) -> go.Figure:
    """A metric per window (and per cohort) with 95% intervals (services.monitoring.views.PerformanceOverTime.frame)."""
    if frame is None or frame.empty:
        return empty_figure("No outcomes yet", height)
    traces = []
    for i, (cohort, part) in enumerate(frame.groupby("cohort", sort=True)):
        part = part.sort_values("window_start")
        value = part["value"].to_numpy(dtype=float)
        lo, hi = part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float)
        color = PALETTE[i % len(PALETTE)]
        traces.append(dict(
            type="scatter", x=pd.to_datetime(part["window_start"]), y=value, mode="lines+markers", name=plain(cohort),
            line=dict(color=color, width=1.8),
            error_y=dict(type="data", array=np.where(np.isfinite(hi - value), hi - value, 0),
                         arrayminus=np.where(np.isfinite(value - lo), value - lo, 0), thickness=1, color=color),
            customdata=part[["n", "n_predictions"]],
            hovertemplate="%{x|%Y-%m-%d}<br>%{y:.3f}<br>%{customdata[0]:,} labelled of %{customdata[1]:,}"
            "<extra>%{fullData.name}</extra>",
        ))  # fmt: skip
    layout = dict(title=dict(text=f"{plain(metric)} over time, 95% intervals", font=dict(size=13)), height=height,
                  margin=MARGIN, legend=dict(orientation="h", y=-0.2),
                  yaxis=dict(title=dict(text=plain(metric))))  # fmt: skip
    return go.Figure(data=traces, layout=layout)


def reliability_figure(diagrams: Mapping[str, object], height: int = 360) -> go.Figure:
    """Observed positive rate vs mean score per bin (services.stats.calibration.ReliabilityDiagram), one
    line per diagram with Wilson intervals, and the diagonal of perfect calibration."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color=MUTED, dash="dash"), hoverinfo="skip"))  # fmt: skip
    shown = 0
    for i, (label, dg) in enumerate(diagrams.items()):
        bins = getattr(dg, "bins", ())
        if not bins:
            continue
        shown += 1
        x = [b.mean_predicted for b in bins]
        y = [b.observed_rate for b in bins]
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=x, y=y, mode="lines+markers", name=f"{plain(label)} (ECE {_fmt(dg.ece)})",
                line=dict(color=color), marker=dict(size=7),
                error_y=dict(type="data", array=[b.ci_high - b.observed_rate for b in bins],
                             arrayminus=[b.observed_rate - b.ci_low for b in bins], thickness=1, color=color),
                customdata=[[b.count, b.lower, b.upper] for b in bins],
                hovertemplate="scores %{customdata[1]:.2f} to %{customdata[2]:.2f}<br>mean score %{x:.3f}<br>"
                "observed %{y:.3f}<br>n %{customdata[0]:,}<extra>%{fullData.name}</extra>",
            )
        )  # fmt: skip
    if not shown:
        return empty_figure("No labelled rows to draw a reliability diagram", height)
    fig.update_layout(
        title=dict(text="Reliability diagram", font=dict(size=13)), height=height, margin=MARGIN,
        xaxis=dict(title="mean predicted score", range=[0, 1]),
        yaxis=dict(title="observed positive rate", range=[0, 1]),
        legend=dict(orientation="h", y=-0.25),
    )  # fmt: skip
    return fig


def cbpe_figure(frame: pd.DataFrame, metric: str, height: int = 340) -> go.Figure:
    """CBPE estimate per window with its band, beside the realized value (with its interval) where outcomes
    are known (services.monitoring.views.CBPEReport.metric(...) rows)."""
    if frame is None or frame.empty:
        return empty_figure("No windows", height)
    f = frame.sort_values("window_start")
    x = pd.to_datetime(f["window_start"])
    traces = [
        dict(type="scatter", x=x, y=f["upper"], mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"),
        dict(type="scatter", x=x, y=f["lower"], mode="lines", line=dict(width=0), fill="tonexty",
             fillcolor="rgba(148, 103, 189, 0.18)", name="estimate band (+-3 SE)", hoverinfo="skip"),
        dict(type="scatter", x=x, y=f["estimate"], mode="lines+markers", name="estimated (CBPE)",
             line=dict(color=ESTIMATE, dash="dash"), customdata=np.stack([f["n"], f["lower"], f["upper"]], axis=1),
             hovertemplate="%{x|%Y-%m-%d}<br>estimated %{y:.3f} [%{customdata[1]:.3f}, %{customdata[2]:.3f}]<br>"
             "%{customdata[0]:,} predictions<extra></extra>"),
    ]  # fmt: skip
    known = f[np.isfinite(f["realized"].to_numpy(dtype=float))]
    if not known.empty:
        value = known["realized"].to_numpy(dtype=float)
        lo = known["realized_ci_low"].to_numpy(dtype=float)
        hi = known["realized_ci_high"].to_numpy(dtype=float)
        traces.append(dict(
            type="scatter", x=pd.to_datetime(known["window_start"]), y=value, mode="markers", name="realized",
            marker=dict(color=CURRENT, size=8),
            error_y=dict(type="data", array=np.where(np.isfinite(hi - value), hi - value, 0),
                         arrayminus=np.where(np.isfinite(value - lo), value - lo, 0), thickness=1),
            customdata=np.stack([known["n_labelled"], known["labelled_share"]], axis=1),
            hovertemplate="%{x|%Y-%m-%d}<br>realized %{y:.3f}<br>%{customdata[0]:,} labelled "
            "(%{customdata[1]:.0%})<extra></extra>",
        ))  # fmt: skip
        out = known[known["band_check"].isin(("below", "above"))] if "band_check" in known else known.iloc[:0]
        if not out.empty:
            traces.append(dict(
                type="scatter", x=pd.to_datetime(out["window_start"]), y=out["realized"], mode="markers",
                name="realized outside the band",
                marker=dict(color=DRIFTED, size=15, symbol="circle-open", line=dict(width=2)),
                hovertemplate="%{x|%Y-%m-%d}<br>realized %{y:.3f}: outside the estimate's band<extra></extra>",
            ))  # fmt: skip
    title = f"{plain(metric)}: estimated before labels arrive, and realized"
    layout = dict(title=dict(text=title, font=dict(size=13)), height=height, margin=MARGIN,
                  legend=dict(orientation="h", y=-0.2), yaxis=dict(title=dict(text=plain(metric))))  # fmt: skip
    return go.Figure(data=traces, layout=layout)
