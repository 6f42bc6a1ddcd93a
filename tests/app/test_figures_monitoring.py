"""The Monitoring page's figures and table helpers, without a browser: traces, thresholds, colours,
empty data, inert names."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app import figures_monitoring as figs
from pages.monitoring import frames
from services.monitoring import drift_window, estimated
from services.monitoring import views as mon
from services.stats.calibration import reliability_diagram
from services.stats.drift import Method


def test_categories_are_grouped_bars_and_a_drifted_current_is_red():
    dist = drift_window.Distribution("categories", ("annual", "<b>x</b>"), (0.7, 0.3), (0.4, 0.6), (), 100, 50)
    fig = figs.distribution_figure(dist, "plan", drifted=True)
    assert isinstance(fig, go.Figure) and fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["reference (n=100)", "current (n=50)"]
    assert list(fig.data[1].x) == ["annual", "&lt;b&gt;x&lt;/b&gt;"] and list(fig.data[1].y) == [0.4, 0.6]
    assert fig.data[1].marker.color == figs.DRIFTED and fig.data[0].marker.color == figs.REFERENCE
    calm = figs.distribution_figure(dist, "plan", drifted=False)
    assert calm.data[1].marker.color == figs.CURRENT


def test_numeric_bins_overlay_at_their_centres():
    edges = (0.0, 1.0, 2.0, 4.0)
    dist = drift_window.Distribution(
        "bins", ("0 to 1", "1 to 2", "2 to 4"), (0.2, 0.5, 0.3), (0.1, 0.1, 0.8), edges, 10, 10
    )
    fig = figs.distribution_figure(dist, "latency")
    assert fig.layout.barmode == "overlay"
    assert list(fig.data[0].x) == [0.5, 1.5, 3.0] and list(fig.data[0].width) == [1.0, 1.0, 2.0]


def test_no_values_say_so():
    fig = figs.distribution_figure(drift_window.Distribution("bins", (), (), ()), "x")
    assert "no values" in fig.layout.annotations[0].text and not fig.data


def _over_time() -> pd.DataFrame:
    days = [date(2026, 9, 25) + timedelta(days=i) for i in range(10)]
    score = [0.05, 0.06, 0.04, 0.05, 0.06, 0.5, 0.55, 0.6, 0.52, 0.58]
    return pd.DataFrame(
        {"window_start": days, "window_end": days, "column": "sessions", "role": "feature", "method": "wasserstein",
         "score": score, "threshold": 0.1, "is_p_value": False, "drifted": [s >= 0.1 for s in score],
         "n_current": [500] * 9 + [20], "too_small": [False] * 9 + [True]}
    )  # fmt: skip


def test_drift_over_time_draws_the_threshold_and_marks_drifted_windows():
    fig = figs.drift_over_time_figure(_over_time(), "sessions", events=[(date(2026, 9, 30), "app 5.0")])
    trace = fig.data[0]
    assert list(trace.y) == _over_time()["score"].tolist()
    colors = list(trace.marker.color)
    assert colors[0] == figs.OK and colors[5] == figs.DRIFTED and colors[9] == figs.MUTED  # too small: grey
    lines = [s for s in fig.layout.shapes]
    assert any(s.y0 == 0.1 and s.y1 == 0.1 for s in lines)  # the threshold
    assert len(lines) == 2 and "drift at or above" in fig.layout.annotations[0].text
    assert fig.layout.yaxis.title.text == "distance"


def test_p_value_charts_say_drift_is_below_the_line():
    frame = _over_time().assign(is_p_value=True, threshold=0.05, method="ks", score=0.5)
    fig = figs.drift_over_time_figure(frame, "sessions")
    assert "drift below" in fig.layout.annotations[0].text and fig.layout.yaxis.title.text == "p-value"
    assert "no windows" in figs.drift_over_time_figure(frame, "other").layout.annotations[0].text


def test_drift_share_bars():
    dataset = pd.DataFrame({"window_start": [date(2026, 9, 28), date(2026, 10, 5)], "n": [10, 10],
                            "n_drifted": [0, 5], "share_drifted": [0.0, 5 / 9], "drifted": [False, True]})  # fmt: skip
    fig = figs.drift_share_figure(dataset)
    assert list(fig.data[0].marker.color) == [figs.OK, figs.DRIFTED]
    assert fig.layout.shapes[0].y0 == 0.5


def test_cohorts_worst_on_top_flagged_red_small_grey():
    rows = pd.DataFrame(
        {"label": ["platform = ios", "platform = web", "tier = tiny"], "value": [0.74, 0.86, 0.5],
         "ci_low": [0.72, 0.85, 0.3], "ci_high": [0.76, 0.87, 0.7], "n": [800, 1300, 12],
         "flagged": [True, False, False], "too_small": [False, False, True]}
    )  # fmt: skip
    fig = figs.cohort_metric_figure(rows, "accuracy", overall=0.82)
    trace = fig.data[0]
    assert list(trace.y) == ["tier = tiny", "platform = web", "platform = ios"]  # drawn bottom-up
    assert list(trace.marker.color) == [figs.MUTED, figs.OK, figs.DRIFTED]
    np.testing.assert_allclose(trace.error_x.array, [0.2, 0.01, 0.02])
    assert fig.layout.shapes[0].x0 == 0.82
    assert "No labelled rows" in figs.cohort_metric_figure(pd.DataFrame(), "accuracy").layout.annotations[0].text


def test_performance_over_time_one_line_per_cohort():
    frame = pd.DataFrame(
        {"window_start": [date(2026, 9, 21), date(2026, 9, 28)] * 2, "cohort": ["ios", "ios", "web", "web"],
         "value": [0.86, 0.75, 0.86, 0.87], "ci_low": [0.84, 0.72, 0.85, 0.86], "ci_high": [0.88, 0.78, 0.87, 0.88],
         "n": [100] * 4, "n_predictions": [200] * 4}
    )  # fmt: skip
    fig = figs.performance_over_time_figure(frame, "accuracy")
    assert [t.name for t in fig.data] == ["ios", "web"] and list(fig.data[0].y) == [0.86, 0.75]


def test_reliability_diagram_has_the_diagonal_and_a_line_per_cohort():
    rng = np.random.default_rng(0)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(int)
    diagram = reliability_diagram(y, p)
    fig = figs.reliability_figure({"all rows": diagram, "ios": reliability_diagram(y[:500], p[:500])})
    assert fig.data[0].name == "perfectly calibrated" and list(fig.data[0].x) == [0, 1]
    assert fig.data[1].name.startswith("all rows (ECE") and len(fig.data[1].x) == len(diagram.bins)
    assert "No labelled rows" in figs.reliability_figure({"x": reliability_diagram([], [])}).layout.annotations[0].text


def test_cbpe_band_estimate_and_realized():
    frame = pd.DataFrame(
        {"window_start": [date(2026, 10, 5), date(2026, 10, 12), date(2026, 10, 19)], "n": [100, 100, 100],
         "n_labelled": [90, 40, 0], "labelled_share": [0.9, 0.4, 0.0], "metric": "accuracy",
         "estimate": [0.82, 0.81, 0.81], "lower": [0.78, 0.77, 0.77], "upper": [0.86, 0.85, 0.85],
         "sampling_error": [0.013] * 3, "realized": [0.80, 0.72, np.nan], "realized_ci_low": [0.75, 0.63, np.nan],
         "realized_ci_high": [0.85, 0.80, np.nan]}
    )  # fmt: skip
    frame["band_check"] = [estimated.band_check(r, lo, hi) for r, lo, hi in
                           zip(frame["realized"], frame["lower"], frame["upper"], strict=True)]  # fmt: skip
    assert list(frame["band_check"]) == ["inside", "below", "unknown"]
    fig = figs.cbpe_figure(frame, "accuracy")
    names = [t.name for t in fig.data]
    assert names[1:] == ["estimate band (+-3 SE)", "estimated (CBPE)", "realized", "realized outside the band"]
    assert fig.data[1].fill == "tonexty" and len(fig.data[3].x) == 2  # realized only where labels are known
    assert list(fig.data[4].y) == [0.72]  # the window whose realized value is below the band is circled
    table = frames.cbpe_frame(frame)
    assert table["band (+-3 SE)"].iloc[0] == "[0.780, 0.860]" and table["realized 95% CI"].iloc[2] == "—"
    assert list(table["realized vs estimate"]) == ["inside the band", "⚠ below the band", "not yet known"]
    assert list(table["realized"]) == ["0.800", "0.720", "not yet known"]
    # No literal None or nan anywhere: what Streamlit shows for a missing value.
    assert table.notna().all().all() and not table.astype(str).isin(["None", "nan", "NaN"]).any().any()


def test_an_estimate_below_the_reference_shows_as_a_drop():
    assert frames.estimate_delta(0.81, 0.88) == "-0.070"  # st.metric draws a down arrow, red
    assert frames.estimate_delta(0.90, 0.88) == "+0.020"
    assert frames.estimate_delta(float("nan"), 0.88) is None and frames.estimate_delta(None, 0.8) is None


def test_drift_table_and_headline():
    dist = drift_window.Distribution("categories", ("a",), (1.0,), (1.0,))
    row = drift_window.DriftRow(
        column="x", role="feature", kind="numeric", method=Method.WASSERSTEIN, method_label="Wasserstein distance "
        "(normed)", statistic=0.2, p_value=None, distance=0.4, score=0.4, threshold=0.1, drifted=True,
        overridden=False, reason="reference 60,000 rows > 1,000", n_reference=60_000, n_current=70_000,
        tested_reference=50_000, tested_current=50_000, n_unique=100, applicable=("ks", "wasserstein"), detail="",
        note="", distribution=dist,
    )  # fmt: skip
    report = drift_window.DriftReport(1, "churn", mon.Window(date(2026, 1, 1), date(2026, 1, 14)),
                             mon.Window(date(2026, 2, 1), date(2026, 2, 28)), (), (row,), 1, 1, 1.0, 0.5, True,
                             60_000, 70_000)  # fmt: skip
    frame = frames.drift_frame(report)
    assert frame.loc[0, "verdict"] == "drifted" and frame.loc[0, "tested"] == "50,000 / 50,000 (sample)"
    assert frame.loc[0, "decides when"] == "distance >= threshold" and frame.loc[0, "test chosen"] == "default rule"
    assert (frame.loc[0, "statistic"], frame.loc[0, "score"], frame.loc[0, "threshold"]) == (0.2, 0.4, 0.1)
    assert frames.drift_headline(report).startswith("1 of 1 features drifted (100%): dataset drift")


def test_the_drift_table_puts_the_column_furthest_past_its_threshold_first_and_marks_drifted_rows():
    from dataclasses import replace

    dist = drift_window.Distribution("categories", ("a",), (1.0,), (1.0,))
    base = drift_window.DriftRow(
        column="a", role="feature", kind="numeric", method=Method.WASSERSTEIN, method_label="Wasserstein distance "
        "(normed)", statistic=0.2, p_value=None, distance=0.05, score=0.05, threshold=0.1, drifted=False,
        overridden=False, reason="reference 60,000 rows > 1,000; numeric with 100 > 5 unique values, a long reason "
        "that must not be cut off", n_reference=60_000, n_current=70_000, tested_reference=50_000,
        tested_current=50_000, n_unique=100, applicable=("ks", "wasserstein"), detail="", note="", distribution=dist,
    )  # fmt: skip
    rows = (
        base,  # 0.5x
        replace(base, column="b", score=0.3, distance=0.3, drifted=True),  # 3x
        replace(
            base, column="c", method=Method.KS, p_value=0.001, distance=None, score=0.001, threshold=0.05, drifted=True
        ),  # 50x  # fmt: skip
        replace(base, column="d", score=0.12, distance=0.12, drifted=True),  # 1.2x
        replace(base, column="e", status="not_testable", problem="id-like", drifted=False, score=float("nan")),
    )
    report = drift_window.DriftReport(1, "churn", mon.Window(date(2026, 1, 1), date(2026, 1, 14)),
                                      mon.Window(date(2026, 2, 1), date(2026, 2, 28)), (), rows, 5, 3, 0.75, 0.5,
                                      True, 60_000, 70_000)  # fmt: skip
    frame = frames.drift_frame(report)
    assert list(frame["column"]) == ["c", "b", "d", "a", "e"]
    assert list(frame["past threshold"]) == ["50.00x", "3.00x", "1.20x", "0.50x", "—"]
    assert list(frame["drift"]) == [frames.DRIFT_MARK] * 3 + ["", ""]
    styles = frames.drift_styler(frame)._compute().ctx  # (row, column) -> [(property, value)]
    tinted = {r for (r, _), css in styles.items() if css}
    assert tinted == {0, 1, 2}
    widths = frames.column_widths(frame)
    assert widths["why"] >= len(base.reason) * 7.5 and widths["past threshold"] >= len("past threshold") * 7.5
