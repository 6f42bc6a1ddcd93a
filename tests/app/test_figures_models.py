"""The Models page's figures, without a browser: data in, plotly figure out."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from app import figures_models as figs
from services.stats import calibration

NOW = datetime(2026, 10, 30, tzinfo=UTC)


def _history() -> pd.DataFrame:
    t = pd.Timestamp
    return pd.DataFrame(
        [
            (1, 1, "full", 1.0, t("2026-08-01", tz="UTC"), t("2026-09-20", tz="UTC"), "loader", "first"),
            (2, 2, "canary", 0.1, t("2026-09-15", tz="UTC"), t("2026-09-20", tz="UTC"), "ann", "try <b>v2</b>"),
            (3, 2, "full", 0.9, t("2026-09-20", tz="UTC"), pd.NaT, "ann", "v2 takes over"),
            (4, 1, "canary", 0.1, t("2026-09-20", tz="UTC"), pd.NaT, "ann", "holdout"),
            (5, 3, "shadow", 0.0, t("2026-10-20", tz="UTC"), pd.NaT, "bob", "shadow"),
        ],
        columns=figs.TIMELINE_COLUMNS,
    )


def test_timeline_has_one_lane_per_version_and_one_bar_per_deployment():
    fig = figs.deployment_timeline(_history(), NOW)
    assert isinstance(fig, go.Figure)
    by_stage = {trace.name: trace for trace in fig.data}
    assert set(by_stage) == {"full", "canary", "shadow"}
    assert sum(len(trace.x) for trace in fig.data) == 5
    full = by_stage["full"]
    assert list(full.y) == ["v1", "v2"] and list(full.text) == ["100%", "90% (serving)"]
    # Bars start at the deployment and last until it ended, or until now while it serves.
    assert full.x[0] == (pd.Timestamp("2026-09-20") - pd.Timestamp("2026-08-01")).total_seconds() * 1000
    assert full.x[1] == (pd.Timestamp(NOW) - pd.Timestamp("2026-09-20", tz="UTC")).total_seconds() * 1000
    assert str(full.base[0])[:10] == "2026-08-01"
    assert list(fig.layout.yaxis.categoryarray) == ["v3", "v2", "v1"]
    assert fig.layout.xaxis.type == "date"
    # User text is shown as text: the reason's markup is escaped in the hover data.
    assert "try &lt;b&gt;v2&lt;/b&gt;" in by_stage["canary"].customdata[0][4]
    assert by_stage["canary"].customdata[1][2] == "now (serving)"


def test_timeline_without_deployments_says_so():
    fig = figs.deployment_timeline(pd.DataFrame(columns=figs.TIMELINE_COLUMNS), NOW)
    assert "No deployments yet" in fig.layout.annotations[0].text


def _metrics() -> pd.DataFrame:
    rows = []
    for scope, n, diff in (("overall", 825, 0.035), ("platform=ios", 224, 0.067), ("platform=web", 430, -0.002)):
        rows.append({"scope": scope, "rows": n, "metric": "accuracy", "candidate": 0.8 + diff, "candidate_low": 0.78,
                     "candidate_high": 0.86, "champion": 0.8, "champion_low": 0.77, "champion_high": 0.83,
                     "difference": diff, "diff_low": diff - 0.02, "diff_high": diff + 0.02,
                     "p_value": 0.01 if diff > 0 else None})  # fmt: skip
        rows.append({**rows[-1], "metric": "log_loss", "difference": -diff, "diff_low": -diff - 0.01,
                     "diff_high": -diff + 0.01})  # fmt: skip
    return pd.DataFrame(rows)


def test_metric_comparison_shows_both_versions_and_the_paired_difference():
    fig = figs.metric_comparison(_metrics(), "accuracy")
    names = [t.name for t in fig.data]
    assert names == ["champion", "candidate", "difference"]
    diff = fig.data[2]
    assert list(diff.y) == ["platform=web (n=430)", "platform=ios (n=224)", "overall (n=825)"]
    assert list(diff.marker.color) == [figs.WORSE, figs.BETTER, figs.BETTER]
    assert list(diff.customdata) == ["-", "0.01", "0.01"]
    np.testing.assert_allclose(diff.error_x.array, [0.02, 0.02, 0.02])
    # For log loss lower is better: a negative difference is good.
    lower = figs.metric_comparison(_metrics(), "log_loss").data[2]
    assert list(lower.marker.color) == [figs.WORSE, figs.BETTER, figs.BETTER]
    assert "No brier" in figs.metric_comparison(_metrics(), "brier").layout.annotations[0].text
    # The Compare view names the sides after the versions.
    named = figs.metric_comparison(_metrics(), "accuracy", names={"candidate": "v1", "champion": "v2 <b>"})
    assert [t.name for t in named.data] == ["v2 &lt;b&gt;", "v1", "difference"]
    assert named.layout.annotations[0].text == "accuracy: v1 vs v2 &lt;b&gt; (95% CI)"


def test_calibration_figure_draws_each_version_against_the_diagonal():
    rng = np.random.default_rng(0)
    score = rng.random(2000)
    y = (rng.random(2000) < score).astype(int)
    diagrams = {
        "candidate": calibration.reliability_diagram(y, score),
        "champion": calibration.reliability_diagram(y, np.clip(score * 1.4, 0, 1)),
    }
    fig = figs.calibration_figure(diagrams)
    assert [t.name.split(" (")[0] for t in fig.data] == ["perfect", "candidate", "champion"]
    assert "ECE" in fig.data[1].name and len(fig.data[1].x) == 10
    assert fig.data[1].line.color == figs.CANDIDATE
    assert "No scores" in figs.calibration_figure({}).layout.annotations[0].text


def test_live_metrics_next_to_the_champion():
    frame = pd.DataFrame({"metric": ["accuracy", "log_loss"], "challenger": [0.81, 0.45],
                          "challenger_low": [0.79, 0.41], "challenger_high": [0.83, 0.49],
                          "champion": [0.85, np.nan], "champion_low": [0.84, np.nan], "champion_high": [0.86, np.nan],
                          "difference": [-0.04, np.nan]})  # fmt: skip
    fig = figs.live_metrics_figure(frame, "v1 <b>canary</b>", "v2 (champion)")
    challenger, champion = fig.data
    assert challenger.name == "v1 &lt;b&gt;canary&lt;/b&gt;" and champion.name == "v2 (champion)"
    assert list(challenger.y) == [0.81, 0.45] and list(challenger.x) == ["accuracy", "log_loss (lower is better)"]
    assert list(challenger.error_y.array) == pytest.approx([0.02, 0.04])
    assert list(champion.error_y.arrayminus) == pytest.approx([0.01, 0.0])  # no interval: no whisker
    assert fig.layout.barmode == "group" and "<b>" not in fig.layout.title.text
    assert "No live metrics" in figs.live_metrics_figure(frame.iloc[:0], "a", "b").layout.annotations[0].text


def test_calibration_of_two_named_versions():
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 500), rng.random(500)
    d = calibration.reliability_diagram(y, s, n_bins=10)
    fig = figs.calibration_figure({"v1": d, "v2": d}, {"v1": figs.CANDIDATE, "v2": figs.CHAMPION})
    names = [t.name for t in fig.data[1:]]
    assert names[0].startswith("v1 (ECE") and names[1].startswith("v2 (ECE")
    assert [t.line.color for t in fig.data[1:]] == [figs.CANDIDATE, figs.CHAMPION]
