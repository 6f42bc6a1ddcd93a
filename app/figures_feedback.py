"""Plotly figures of the Feedback page: pure functions, data in, go.Figure out (tested without a browser).

Theme names can be renamed by analysts, so they are user text. Plotly reads a few HTML tags in
trace names, titles and tick labels (<b>, <br>, <a href>); `plain` escapes them so a name shows as
typed and a tag in it stays inert.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

MUTED = "rgba(140, 140, 140, 0.35)"
ACCENT = "#d62728"


def plain(text: object) -> str:
    """Text plotly shows literally (its HTML-like markup escaped)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=plain(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=260, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def theme_volume_figure(volume: pd.DataFrame, highlight: str | None = None, freq: str = "W") -> go.Figure:
    """Items per theme per period (services.feedback.themes.theme_volume: theme, period, items, negative_share),
    one line per theme. With `highlight`, that theme is drawn strong and the others muted."""
    if volume is None or volume.empty:
        return _empty("No themes yet: re-cluster the feedback first.")
    period = "week" if freq == "W" else "day"
    fig = go.Figure()
    order = volume.groupby("theme")["items"].sum().sort_values(ascending=False).index
    for theme in order:
        part = volume[volume["theme"] == theme].sort_values("period")
        strong = highlight is None or theme == highlight
        fig.add_trace(
            go.Scatter(
                x=part["period"],
                y=part["items"],
                mode="lines+markers" if strong and highlight is not None else "lines",
                name=plain(theme),
                line=dict(width=3 if highlight is not None and strong else 1.6, color=None if strong else MUTED),
                customdata=part["negative_share"].fillna(0).to_numpy(),
                hovertemplate=f"%{{x|%Y-%m-%d}}<br>%{{y:,}} items a {period}<br>"
                "negative %{customdata:.0%}<extra>%{fullData.name}</extra>",
                opacity=1.0 if strong else 0.6,
            )
        )
    title = f"Feedback items per {period} and theme"
    if highlight is not None:
        title += f": {plain(highlight)}"
    fig.update_layout(
        title=title, height=360, margin=dict(l=10, r=10, t=50, b=10), hovermode="closest",
        yaxis_title=f"items per {period}", legend=dict(orientation="h", y=-0.2), showlegend=highlight is None,
    )  # fmt: skip
    return fig


def theme_mix_figure(mix: pd.DataFrame, by: str, theme: str = "") -> go.Figure:
    """A theme's items by a cohort value or model version (services.feedback.themes.theme_mix: value, items,
    share) as horizontal bars, largest on top."""
    if mix is None or mix.empty:
        return _empty("No items of this theme are linked to a prediction.")
    frame = mix.copy()
    frame["value"] = frame["value"].fillna("(none)").map(plain)
    frame = frame.sort_values("items", ascending=True)
    fig = go.Figure(
        go.Bar(
            x=frame["items"], y=frame["value"], orientation="h", marker_color=ACCENT,
            text=[f"{s:.0%}" for s in frame["share"]], textposition="auto",
            hovertemplate="%{y}: %{x:,} items<extra></extra>",
        )
    )  # fmt: skip
    by_name = "model version" if by == "model" else by
    title = f"Mix by {plain(by_name)}" + (f": {plain(theme)}" if theme else "")
    fig.update_layout(
        title=title, height=max(220, 60 + 34 * len(frame)), margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title="items", yaxis_type="category",
    )  # fmt: skip
    return fig


def negative_share_figure(themes: pd.DataFrame) -> go.Figure:
    """Share of negative ratings (1-2) per theme (list_themes rows: label, negative_share, items)."""
    if themes is None or themes.empty:
        return _empty("No themes yet.")
    frame = themes.sort_values("negative_share", ascending=True, na_position="first")
    fig = go.Figure(
        go.Bar(
            x=frame["negative_share"].fillna(0), y=[plain(t) for t in frame["label"]], orientation="h",
            marker_color=[ACCENT if (s or 0) >= 0.5 else "#1f77b4" for s in frame["negative_share"].fillna(0)],
            customdata=frame["items"], hovertemplate="%{y}: %{x:.0%} negative of %{customdata:,} items<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title="Share of negative ratings (1-2) by theme", height=max(220, 60 + 34 * len(frame)),
        margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(tickformat=".0%", range=[0, 1]), yaxis_type="category",
    )  # fmt: skip
    return fig
