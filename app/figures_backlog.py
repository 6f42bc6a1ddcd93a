"""Plotly figures of the backlog: pure functions (data in, go.Figure out), tested without a browser."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

KIND_COLORS = {"model_improvement": "#4C78A8", "data_quality": "#F58518", "tech_debt": "#54A24B"}
KIND_LABELS = {"model_improvement": "Model improvement", "data_quality": "Data quality", "tech_debt": "Tech debt"}


def items_over_time(flow: pd.DataFrame) -> go.Figure:
    """Per week and kind: items created (bars up), closed (bars down) and open at the week's end (lines).
    `flow`: week, kind, created, closed, open (services.backlog.items.weekly_flow)."""
    fig = go.Figure()
    if flow.empty:
        fig.add_annotation(text="No backlog items yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(height=320, xaxis={"visible": False}, yaxis={"visible": False})
        return fig
    for kind, part in flow.groupby("kind", sort=False):
        color, label = KIND_COLORS.get(str(kind), "#888888"), KIND_LABELS.get(str(kind), str(kind))
        fig.add_bar(x=part["week"], y=part["created"], name=f"{label}: created", marker_color=color,
                    legendgroup=str(kind), offsetgroup=str(kind),
                    hovertemplate="%{x|%Y-%m-%d}: %{y} created<extra>" + label + "</extra>")  # fmt: skip
        fig.add_bar(x=part["week"], y=-part["closed"], name=f"{label}: closed", marker_color=color, opacity=0.45,
                    legendgroup=str(kind), offsetgroup=str(kind), customdata=part["closed"],
                    hovertemplate="%{x|%Y-%m-%d}: %{customdata} closed<extra>" + label + "</extra>")  # fmt: skip
        fig.add_scatter(x=part["week"], y=part["open"], name=f"{label}: open", mode="lines+markers",
                        line={"color": color, "width": 2}, legendgroup=str(kind), yaxis="y2",
                        hovertemplate="%{x|%Y-%m-%d}: %{y} open<extra>" + label + "</extra>")  # fmt: skip
    fig.update_layout(
        barmode="relative", height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "Week (Monday)"},
        yaxis={"title": "Created (up) / closed (down)", "zeroline": True},
        yaxis2={"title": "Open at week end", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25},
    )  # fmt: skip
    return fig


def score_bars(items: pd.DataFrame, top: int = 15) -> go.Figure:
    """The top items by score as horizontal bars, coloured by kind. `items`: id, title, kind, score."""
    fig = go.Figure()
    scored = items.dropna(subset=["score"]).sort_values("score", ascending=False).head(top)
    if scored.empty:
        fig.add_annotation(text="No scored items", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        return fig
    scored = scored.iloc[::-1]
    fig.add_bar(
        x=scored["score"], y=[f"#{i} {t[:50]}" for i, t in zip(scored["id"], scored["title"], strict=True)],
        orientation="h", marker_color=[KIND_COLORS.get(k, "#888888") for k in scored["kind"]],
        hovertemplate="%{y}: %{x:.4g}<extra></extra>",
    )  # fmt: skip
    fig.update_layout(height=max(240, 28 * len(scored)), margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig
