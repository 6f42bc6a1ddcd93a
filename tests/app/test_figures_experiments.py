"""The Experiments page's plotly builders and pure table helpers, without a browser."""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from app import figures_experiments as figs
from pages.experiments import readout_tables, tables
from services.core.errors import InvalidInput
from services.experiments import design

MARKUP = "<b>rev</b> <script>x</script>"


def test_design_curves_figures():
    inp = design.DesignInput("conversion", 0.10, None, 0.10, "relative", daily_traffic=1000)
    result = design.design(inp)
    assert result.n_per_arm == (14745, 14745) and result.days == 30  # the DESIGN.md example
    curve = design.curves(inp, result)
    assert curve.power.shape == curve.mde_relative.shape and np.all(np.diff(curve.power) > 0)
    idx = int(np.argmin(np.abs(curve.mde_relative - 0.10)))
    assert curve.power[idx] == pytest.approx(0.8, abs=0.02)
    assert np.all(np.diff(curve.n_control) < 0)  # a larger MDE needs fewer units
    fig = figs.power_curve_figure(curve.mde_relative, curve.power, 0.1, 0.8, curve.design_n_control)
    assert isinstance(fig, go.Figure) and len(fig.data) == 1 and "14,745" in fig.layout.title.text
    fig = figs.sample_size_figure(curve.mde_relative, curve.n_control, 0.1, 14745)
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log" and fig.data[1].y[0] == 14745
    assert "No power curve" in figs.power_curve_figure([], [], 0.1, 0.8, 1).layout.annotations[0].text


def test_design_service_bonferroni_mde_and_errors():
    three = design.design(design.DesignInput("conversion", 0.10, None, 0.10, "relative", allocation=(50, 25, 25)))
    assert three.bonferroni and three.alpha_adjusted == 0.025 and "Bonferroni" in three.notes[0]
    assert three.n_per_arm[1] == three.n_per_arm[2] and three.ratio == 0.5
    mean = design.design(design.DesignInput("mean", 50.0, 20.0, 2.0, "absolute"))
    assert mean.method == "ttest_ind_power_cohens_d" and mean.effect_size == pytest.approx(0.1)
    found = design.mde_for_sample(design.DesignInput("conversion", 0.10, None, 0.10, "relative"), 14745)
    assert found.mde_relative == pytest.approx(0.10, abs=1e-3)
    for bad, match in (
        (design.DesignInput("conversion", 1.5, None, 0.1, "relative"), "between 0 and 1"),
        (design.DesignInput("conversion", 0.9, None, 0.5, "relative"), "target rate"),
        (design.DesignInput("mean", 10, None, 0.1, "relative"), "standard deviation"),
        (design.DesignInput("conversion", 0.1, None, 0.1, "relative", allocation=(50, 30, 20)), "share one"),
        (design.DesignInput("conversion", 0.1, None, 0.1, "relative", alpha=0.7), "alpha"),
    ):
        with pytest.raises(InvalidInput, match=match):
            design.design(bad)
    assert design.allocation_from_text("50/25/25", 3) == (50.0, 25.0, 25.0)
    assert design.allocation_from_text("", 4) == (0.25,) * 4
    with pytest.raises(InvalidInput):
        design.allocation_from_text("50/50", 3)


def _results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment": ["(all)"] * 3,
            "metric": ["conv", MARKUP, "contacts"],
            "role": ["primary", "secondary", "guardrail"],
            "variant": ["treatment"] * 3,
            "n_control": [1000] * 3,
            "n_treatment": [1010] * 3,
            "mean_control": [0.3, 50.0, 0.8],
            "mean_treatment": [0.33, 52.0, 0.81],
            "abs_lift": [0.03, 2.0, 0.01],
            "abs_ci_low": [0.01, -1.0, -0.05],
            "abs_ci_high": [0.05, 5.0, 0.07],
            "rel_lift": [0.1, 0.04, 0.0125],
            "rel_ci_low": [0.03, -0.02, -0.06],
            "rel_ci_high": [0.17, 0.1, 0.09],
            "p_value": [0.004, 0.2, 0.7],
            "p_adjusted": [np.nan] * 3,
            "ci_low": [0.03, -0.02, -0.06],
            "ci_high": [0.17, 0.1, 0.09],
            "verdict": ["win", "inconclusive", "inconclusive"],
            "progress": [0.5, 0.5, np.nan],
            "seq_ci_low": [-0.01, -0.1, -0.2],
            "seq_ci_high": [0.2, 0.2, 0.2],
            "seq_p_value": [0.08, 1.0, 1.0],
            "seq_verdict": ["inconclusive"] * 3,
            "bayes_estimate": [0.1, 0.04, 0.0125],
            "bayes_ci_low": [0.03, -0.02, -0.06],
            "bayes_ci_high": [0.17, 0.1, 0.09],
            "chance_to_win": [0.998, 0.9, 0.35],
            "risk_control": [0.1, 0.04, 0.01],
            "risk_treatment": [0.0, 0.003, 0.02],
            "bayes_verdict": ["win", "inconclusive", "inconclusive"],
            "cuped_estimate": [np.nan, 0.05, np.nan],
            "cuped_ci_low": [np.nan, 0.01, np.nan],
            "cuped_ci_high": [np.nan, 0.09, np.nan],
            "cuped_p_value": [np.nan, 0.02, np.nan],
            "cuped_verdict": [None, "win", None],
            "variance_reduction": [np.nan, 0.45, np.nan],
            "theta": [np.nan, 0.9, np.nan],
        }
    )


@pytest.mark.parametrize("reading", list(readout_tables.READINGS))
def test_reading_frames_tables_and_the_lift_figure(reading):
    results = _results()
    frame = readout_tables.reading_frame(results, reading, relative=True)
    assert list(frame.columns) == ["label", "estimate", "ci_low", "ci_high", "verdict"]
    assert len(frame) == (1 if reading == "cuped" else 3)
    table = readout_tables.results_table(results, reading, relative=True)
    assert len(table) == 3 and "verdict" in table.columns
    fig = figs.lift_figure(frame, f"{reading}: lift vs control")
    assert isinstance(fig, go.Figure) and fig.data
    shown = [y for trace in fig.data for y in trace.y]
    assert all("<b>" not in str(y) and "<script>" not in str(y) for y in shown)
    if reading == "cuped":
        assert table.loc[0, "CUPED lift"] == "no pre-period data" and table.loc[1, "variance reduction"] == "45.0%"
        assert table.loc[1, "unadjusted lift"] == "+4.00%"
    if reading == "frequentist":
        assert table.loc[0, "lift"] == "+10.00%" and table.loc[0, "95% CI"] == "+3.00% to +17.00%"
        assert table.loc[0, "of planned sample"] == "50%"
    if reading == "bayesian":
        assert table.loc[0, "chance to beat control"] == "99.8%"


def test_cuped_arms_bandit_figures_and_html_export():
    results = _results()
    cf = figs.cuped_figure(readout_tables.cuped_frame(results, relative=True))
    assert [t.name for t in cf.data] == ["unadjusted", "CUPED-adjusted"] and len(cf.data[0].x) == 1
    assert (
        "No metric has pre-period values"
        in figs.cuped_figure(readout_tables.cuped_frame(results.iloc[[0]], True)).layout.annotations[0].text
    )
    arms = pd.DataFrame({"variant": ["control", "<i>t</i>"], "planned_share": [0.5, 0.5], "units": [480, 520],
                         "share": [0.48, 0.52]})  # fmt: skip
    af = figs.arms_figure(arms)
    assert list(af.data[0].x) == ["control", "&lt;i&gt;t&lt;/i&gt;"]
    bf = figs.bandit_figure(["control", "treatment"], (0.1, 0.9), (0.5, 0.5))
    assert list(bf.data[0].y) == [0.1, 0.9]
    history = pd.DataFrame({"period": pd.to_datetime(["2026-09-01", "2026-09-01", "2026-09-02", "2026-09-02"]),
                            "variant": ["control", "treatment"] * 2, "weight": [0.5, 0.5, 0.2, 0.8]})  # fmt: skip
    hf = figs.bandit_history_figure(history)
    assert [t.name for t in hf.data] == ["control", "treatment"]
    html = figs.to_html([af, bf]).decode()
    assert (
        html.startswith("<!doctype html>")
        and html.count("plotly.js") >= 1
        and html.count('class="plotly-graph-div"') == 2
    )
    assert "No exposures" in figs.arms_figure(arms.assign(units=0)).layout.annotations[0].text
    assert "No results" in figs.lift_figure(pd.DataFrame(), "x").layout.annotations[0].text


def test_png_export_zips_one_png_per_chart():
    arms = pd.DataFrame({"variant": ["control", "treatment"], "planned_share": [0.5, 0.5], "units": [480, 520],
                         "share": [0.48, 0.52]})  # fmt: skip
    charts = [figs.arms_figure(arms), figs.bandit_figure(["control", "treatment"], (0.1, 0.9), (0.5, 0.5))]
    with pytest.raises(ValueError):
        figs.to_png_zip(charts, ["one name"])
    reason = figs.png_unavailable()
    if reason:
        with pytest.raises(RuntimeError, match="kaleido"):
            figs.to_png_zip(charts, ["Units per arm", "Bandit"])
        pytest.skip(reason)
    data = figs.to_png_zip(charts, ["Units per arm", "Bandit <b>weights</b>"], width=600, height=300)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.namelist() == ["01-units-per-arm.png", "02-bandit-b-weights-b.png"]
        for name in z.namelist():
            png = z.read(name)
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
            assert struct.unpack(">II", png[16:24]) == (600, 300)  # IHDR width and height


def test_form_helpers():
    assert tables.metric_list(" a, b ,, a\nc ") == ["a", "b", "c"]
    assert tables.guardrails_from_text("x, y", "z") == [
        {"metric": "x", "bad_direction": "increase"}, {"metric": "y", "bad_direction": "increase"},
        {"metric": "z", "bad_direction": "decrease"},
    ]  # fmt: skip
    assert tables.guardrail_texts(tables.guardrails_from_text("x, y", "z")) == ("x, y", "z")
    variants = tables.variants_from_inputs(["control", "treatment"], [10, 90], [tables.NO_MODEL, 7])
    assert variants == [
        {"key": "control", "allocation": 0.1, "model_version_id": None},
        {"key": "treatment", "allocation": 0.9, "model_version_id": 7},
    ]
    assert tables.default_variant_keys(3) == ["control", "treatment", "treatment-2"]
    inp = tables.design_input("conversion", 10.0, None, 10.0, "relative", 0.05, 0.8, "", 2, 1000)
    assert inp.baseline == 0.1 and inp.mde == pytest.approx(0.1) and inp.allocation == (0.5, 0.5)
    absolute = tables.design_input("conversion", 10.0, None, 1.0, "absolute", 0.05, 0.8, "10/90", 2, 0)
    assert absolute.mde == pytest.approx(0.01) and absolute.daily_traffic is None
    prefill = tables.prefill_from_design(inp, design.design(inp))
    assert prefill["planned_sample_size"] == 14745 and prefill["shares"] == [50.0, 50.0]
    assert tables.md("a*b_[c](d)<x>") == r"a\*b\_\[c\]\(d\)\<x\>"


def test_lift_bars_span_the_interval_coloured_by_significance():
    frame = pd.DataFrame({"label": ["conv", MARKUP, "contacts", "flat"], "estimate": [0.05, -0.04, 0.01, 0.02],
                          "ci_low": [0.01, -0.07, -0.02, np.nan], "ci_high": [0.09, -0.01, 0.04, np.nan],
                          "verdict": ["win", "lose", "inconclusive", "inconclusive"]})  # fmt: skip
    fig = figs.lift_bars_figure(frame, "Lift <i>vs</i> control", relative=True)
    bars = {t.name: t for t in fig.data if isinstance(t, go.Bar)}
    assert set(bars) == {"win", "lose", "inconclusive"}
    win, lose, flat = bars["win"], bars["lose"], bars["inconclusive"]
    assert list(win.base) == [0.01] and list(win.x) == pytest.approx([0.08])  # the bar spans [ci_low, ci_high]
    assert list(lose.base) == [-0.07] and lose.marker.color == figs.SIGNIFICANCE_COLORS["lose"]
    assert list(flat.y) == ["contacts"]  # no interval: no bar, the estimate only
    [ticks] = [t for t in fig.data if isinstance(t, go.Scatter)]
    assert list(ticks.x) == [0.05, -0.04, 0.01, 0.02] and "<b>" not in "".join(ticks.y)
    assert "<i>" not in fig.layout.title.text and fig.layout.xaxis.tickformat == ".1%"
    empty = figs.lift_bars_figure(frame.iloc[:0], "t", empty_message="No metric has pre-period values")
    assert empty.layout.annotations[0].text == "No metric has pre-period values"
    assert figs.lift_bars_figure(None, "t").layout.annotations[0].text == figs.NO_RESULTS
