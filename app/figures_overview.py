"""Plotly figures of the Overview: pure functions (data in, go.Figure out), tested without a browser."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def headline_trend(weeks: pd.DataFrame, metric: str = "accuracy", min_labelled_share: float = 0.5) -> go.Figure:
    """Weekly realized metric (where at least `min_labelled_share` of predictions have outcomes) beside the
    CBPE estimate and its band for every week. `weeks`: window_start, labelled_share, realized, estimate,
    lower, upper."""
    fig = go.Figure()
    if weeks.empty:
        fig.add_annotation(text="No monitoring data yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
        fig.update_layout(height=260, xaxis={"visible": False}, yaxis={"visible": False})
        return fig
    x = pd.to_datetime(weeks["window_start"])
    fig.add_scatter(x=list(x) + list(x[::-1]), y=list(weeks["upper"]) + list(weeks["lower"][::-1]), fill="toself",
                    fillcolor="rgba(245,133,24,0.15)", line={"width": 0}, name="estimate band",
                    hoverinfo="skip")  # fmt: skip
    fig.add_scatter(x=x, y=weeks["estimate"], mode="lines+markers", name=f"estimated {metric} (CBPE)",
                    line={"color": "#F58518", "dash": "dash"})  # fmt: skip
    known = weeks["labelled_share"] >= min_labelled_share
    fig.add_scatter(x=x[known], y=weeks["realized"][known], mode="lines+markers", name=f"realized {metric}",
                    line={"color": "#4C78A8"})  # fmt: skip
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, yaxis={"tickformat": ".0%"},
                      legend={"orientation": "h", "y": -0.25}, xaxis={"title": None})  # fmt: skip
    return fig
