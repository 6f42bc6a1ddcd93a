"""The Feedback page's plotly figures, without a browser: traces, highlighting, empty data, inert names."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from app import figures_feedback as figs


def volume() -> pd.DataFrame:
    periods = pd.date_range("2026-09-07", periods=4, freq="W-MON")
    rows = []
    for theme, counts in {"mobile / logs out": [5, 6, 30, 42], "price": [9, 8, 9, 7], "<b>x</b>": [1, 0, 2, 1]}.items():
        rows += [
            {"theme": theme, "period": p, "items": c, "negative_share": 0.8 if "mobile" in theme else 0.2}
            for p, c in zip(periods, counts, strict=True)
        ]
    return pd.DataFrame(rows)


def test_volume_has_one_line_per_theme_biggest_first():
    fig = figs.theme_volume_figure(volume())
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["mobile / logs out", "price", "&lt;b&gt;x&lt;/b&gt;"]
    assert list(fig.data[0].y) == [5, 6, 30, 42]
    assert fig.layout.showlegend is True
    assert fig.layout.title.text == "Feedback items per week and theme"


def test_volume_highlights_the_chosen_theme():
    fig = figs.theme_volume_figure(volume(), highlight="price", freq="D")
    by_name = {t.name: t for t in fig.data}
    assert by_name["price"].line.width == 3 and by_name["price"].line.color is None
    assert by_name["mobile / logs out"].line.color == figs.MUTED
    assert fig.layout.title.text == "Feedback items per day and theme: price"
    assert "per day" in fig.layout.yaxis.title.text


def test_volume_without_themes_says_so():
    fig = figs.theme_volume_figure(pd.DataFrame(columns=["theme", "period", "items", "negative_share"]))
    assert not fig.data
    assert "re-cluster" in fig.layout.annotations[0].text


def test_mix_bars_largest_on_top_with_shares():
    mix = pd.DataFrame({"value": ["ios", "web", None], "items": [30, 10, 5], "share": [30 / 45, 10 / 45, 5 / 45]})
    fig = figs.theme_mix_figure(mix, "platform", "mobile")
    (bar,) = fig.data
    assert list(bar.y) == ["(none)", "web", "ios"] and list(bar.x) == [5, 10, 30]
    assert list(bar.text) == ["11%", "22%", "67%"]
    assert fig.layout.title.text == "Mix by platform: mobile"
    assert figs.theme_mix_figure(mix, "model").layout.title.text == "Mix by model version"


def test_mix_without_linked_items():
    fig = figs.theme_mix_figure(pd.DataFrame(columns=["value", "items", "share"]), "platform")
    assert not fig.data and "linked to a prediction" in fig.layout.annotations[0].text


def test_negative_share_bars():
    themes = pd.DataFrame({"label": ["a", "b <i>"], "negative_share": [0.9, None], "items": [10, 3]})
    fig = figs.negative_share_figure(themes)
    (bar,) = fig.data
    assert list(bar.y) == ["b &lt;i&gt;", "a"] and list(bar.x) == [0, 0.9]
    assert list(bar.marker.color) == ["#1f77b4", figs.ACCENT]
    assert not figs.negative_share_figure(pd.DataFrame()).data


def test_names_with_markup_are_escaped_everywhere():
    name = '<a href="http://evil.test">click</a> & more'
    fig = figs.theme_volume_figure(volume().assign(theme=name), highlight=name)
    shown = [fig.layout.title.text, *[t.name for t in fig.data]]
    assert all("<a" not in s and "&lt;a href" in s for s in shown)
    assert figs.plain("a & <b>") == "a &amp; &lt;b&gt;"
