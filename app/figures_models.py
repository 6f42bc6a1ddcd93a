"""Plotly figures of the Models page: pure functions, data in, go.Figure out (tested without a browser).

- deployment_timeline: which version served which share in which stage, from when to when (the
  history as a Gantt chart: one lane per version, one bar per deployment, open ones up to now);
- metric_comparison: one metric for candidate and champion with their intervals, overall and per
  cohort, next to the paired difference and its interval;
- calibration_figure: reliability curves of both versions on the holdout.

Reasons and names are user text: `plain` escapes plotly's HTML-like markup in them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

STAGE_COLORS = {"full": "#1f77b4", "canary": "#ff7f0e", "shadow": "#9e9e9e"}
CANDIDATE, CHAMPION = "#2ca02c", "#1f77b4"
BETTER, WORSE = "#2ca02c", "#d62728"
LOWER_IS_BETTER = frozenset({"log_loss", "brier"})
TIMELINE_COLUMNS = ["deployment_id", "version", "stage", "traffic_share", "started_at", "ended_at", "started_by",
                    "reason"]  # fmt: skip


def plain(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _empty(message: str, height: int = 260) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=plain(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=height, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def deployment_timeline(history: pd.DataFrame, now: datetime) -> go.Figure:
    """history: one row per deployment (TIMELINE_COLUMNS; ended_at NaT/None while it serves)."""
    if history is None or history.empty:
        return _empty("No deployments yet: nothing has served traffic.")
    frame = history.copy()
    frame["start"] = _utc(frame["started_at"])
    frame["open"] = frame["ended_at"].isna()
    now_ts = pd.Timestamp(now)
    now_ts = now_ts.tz_convert("UTC") if now_ts.tzinfo else now_ts.tz_localize("UTC")
    frame["end"] = _utc(frame["ended_at"]).fillna(now_ts)
    frame["end"] = frame[["start", "end"]].max(axis=1)
    frame["lane"] = "v" + frame["version"].astype(int).astype(str)
    lanes = [f"v{v}" for v in sorted(frame["version"].astype(int).unique(), reverse=True)]
    fig = go.Figure()
    for stage in ("full", "canary", "shadow"):
        part = frame[frame["stage"] == stage]
        if part.empty:
            continue
        duration_ms = (part["end"] - part["start"]).dt.total_seconds().to_numpy() * 1000.0
        share = part["traffic_share"].astype(float).to_numpy()
        text = [f"{s:.0%}" + (" (serving)" if o else "") for s, o in zip(share, part["open"], strict=True)]
        custom = np.stack(
            [
                part["deployment_id"].astype(str).to_numpy(),
                part["start"].dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
                np.where(part["open"], "now (serving)", part["end"].dt.strftime("%Y-%m-%d %H:%M")),
                [plain(v) for v in part["started_by"].fillna("")],
                [plain(v)[:160] for v in part["reason"].fillna("")],
                [f"{s:.0%}" for s in share],
            ],
            axis=1,
        )
        fig.add_trace(
            go.Bar(
                y=part["lane"],
                x=duration_ms,
                base=part["start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(),
                orientation="h",
                name=stage,
                marker=dict(
                    color=STAGE_COLORS[stage],
                    opacity=[1.0 if o else 0.65 for o in part["open"]],
                    line=dict(color=["black" if o else "rgba(0,0,0,0)" for o in part["open"]], width=1.5),
                ),
                text=text,
                textposition="inside",
                insidetextanchor="middle",
                customdata=custom,
                hovertemplate="<b>%{y}</b> " + stage + " %{customdata[5]}<br>from %{customdata[1]} UTC<br>"
                "to %{customdata[2]}<br>deployment #%{customdata[0]} by %{customdata[3]}<br>%{customdata[4]}"
                "<extra></extra>",
            )  # fmt: skip
        )
    fig.update_layout(
        title="Deployment history: which version served which share, from when to when",
        barmode="overlay", height=120 + 50 * len(lanes), margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(type="date", title="UTC"), yaxis=dict(categoryorder="array", categoryarray=lanes, title=None),
        legend=dict(orientation="h", y=-0.25, title="stage"),
    )  # fmt: skip
    return fig


def metric_comparison(
    metrics: pd.DataFrame, metric: str, min_rows: int = 0, names: Mapping[str, str] | None = None
) -> go.Figure:
    """metrics: JudgePanel.metrics_frame() rows (scope, rows, metric, candidate(+_low/_high),
    champion(+_low/_high), difference, diff_low, diff_high, p_value). names: what to call the two sides
    (default "candidate" and "champion"; the Compare view passes the version numbers)."""
    if metrics is None or metrics.empty or metric not in set(metrics["metric"]):
        return _empty(f"No {metric} to compare.")
    label = {"candidate": "candidate", "champion": "champion", **{k: plain(v) for k, v in (names or {}).items()}}
    part = metrics[metrics["metric"] == metric].iloc[::-1]
    scopes = [f"{s} (n={n:,})" for s, n in zip(part["scope"], part["rows"], strict=True)]
    a, b = label["candidate"], label["champion"]
    titles = (f"{metric}: {a} vs {b} (95% CI)", f"difference {a} - {b} (paired 95% CI)")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=titles)
    for name, color in (("champion", CHAMPION), ("candidate", CANDIDATE)):
        value = part[name].to_numpy(dtype=float)
        fig.add_trace(
            go.Scatter(
                x=value, y=scopes, mode="markers", name=label[name], marker=dict(color=color, size=9),
                error_x=dict(type="data", symmetric=False, array=part[f"{name}_high"].to_numpy(dtype=float) - value,
                             arrayminus=value - part[f"{name}_low"].to_numpy(dtype=float), color=color),
                hovertemplate="%{y}<br>" + label[name] + " %{x:.4f}<extra></extra>",
            ),  # fmt: skip
            row=1, col=1,
        )  # fmt: skip
    diff = part["difference"].to_numpy(dtype=float)
    good = diff < 0 if metric in LOWER_IS_BETTER else diff > 0
    p = part["p_value"].to_numpy(dtype=object)
    fig.add_trace(
        go.Scatter(
            x=diff, y=scopes, mode="markers", name="difference", showlegend=False,
            marker=dict(color=[BETTER if g else WORSE for g in good], size=9, symbol="diamond"),
            error_x=dict(type="data", symmetric=False, array=part["diff_high"].to_numpy(dtype=float) - diff,
                         arrayminus=diff - part["diff_low"].to_numpy(dtype=float), color="#555"),
            customdata=[("-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3g}") for v in p],
            hovertemplate="%{y}<br>difference %{x:+.4f}<br>p = %{customdata}<extra></extra>",
        ),  # fmt: skip
        row=1, col=2,
    )  # fmt: skip
    fig.add_vline(x=0, line=dict(color="#888", dash="dot"), row=1, col=2)
    better = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
    fig.update_layout(height=140 + 34 * len(scopes), margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", y=-0.12), title=None)  # fmt: skip
    fig.update_xaxes(title_text=f"{metric} ({better})", row=1, col=1)
    fig.update_xaxes(title_text="difference", row=1, col=2)
    return fig


def calibration_figure(diagrams: Mapping[str, object], colors: Mapping[str, str] | None = None) -> go.Figure:
    """diagrams: label -> services.stats.calibration.ReliabilityDiagram (bins with mean_predicted,
    observed_rate, count, ci_low, ci_high; ece). colors: label -> colour (default: candidate green,
    champion blue)."""
    if not diagrams or all(not getattr(d, "bins", ()) for d in diagrams.values()):
        return _empty("No scores to calibrate.")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line=dict(color="#bbb", dash="dash"),
                             hoverinfo="skip"))  # fmt: skip
    colors = colors or {"candidate": CANDIDATE, "champion": CHAMPION}
    for label, d in diagrams.items():
        bins = getattr(d, "bins", ())
        if not bins:
            continue
        x = [b.mean_predicted for b in bins]
        y = [b.observed_rate for b in bins]
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers",
                name=f"{plain(label)} (ECE {d.ece:.3f})",
                line=dict(color=colors.get(label)),
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=[b.ci_high - b.observed_rate for b in bins],
                    arrayminus=[b.observed_rate - b.ci_low for b in bins],
                    thickness=1,
                ),
                customdata=[b.count for b in bins],
                hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata:,} rows<extra></extra>",
            )  # fmt: skip
        )
    fig.update_layout(
        title="Calibration on the holdout (reliability, 10 bins, Wilson 95% CI)", height=380,
        xaxis=dict(title="mean predicted probability", range=[0, 1]),
        yaxis=dict(title="observed churn rate", range=[0, 1]), margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", y=-0.2),
    )  # fmt: skip
    return fig


def live_metrics_figure(frame: pd.DataFrame, challenger: str, champion: str) -> go.Figure:
    """A shadow or canary next to the champion, live (services.models.live.LiveComparison.frame()):
    per metric, both values as bars with their 95% intervals."""
    if frame is None or frame.empty:
        return _empty("No live metrics yet: no labelled prediction of this stage.")
    fig = go.Figure()
    metrics = [plain(m) + (" (lower is better)" if m in LOWER_IS_BETTER else "") for m in frame["metric"]]
    for key, name, color in (("challenger", challenger, CANDIDATE), ("champion", champion, CHAMPION)):
        value = frame[key].to_numpy(dtype=float)
        low, high = frame[f"{key}_low"].to_numpy(dtype=float), frame[f"{key}_high"].to_numpy(dtype=float)
        fig.add_trace(
            go.Bar(
                x=metrics, y=value, name=plain(name), marker_color=color,
                error_y=dict(type="data", symmetric=False, array=np.nan_to_num(high - value),
                             arrayminus=np.nan_to_num(value - low), thickness=1.2),
                hovertemplate="%{x}<br>" + plain(name) + " %{y:.4f}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title="Live: " + plain(challenger) + " next to " + plain(champion) + " (95% CI)", barmode="group",
        height=320, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.2),
    )  # fmt: skip
    return fig
