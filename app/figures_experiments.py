"""Plotly figures of the Experiments page: pure functions, data in, go.Figure out (tested without a browser).

Metric and variant names are user text; plotly reads a few HTML tags in names and labels, so they go
through `plain` first.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

VERDICT_COLORS = {"win": "#2ca02c", "lose": "#d62728", "inconclusive": "#7f7f7f"}
ACCENT = "#1f77b4"
MUTED = "rgba(140, 140, 140, 0.55)"
SIGNIFICANCE_COLORS = {"win": "rgba(44, 160, 44, 0.75)", "lose": "rgba(214, 39, 40, 0.75)",
                       "inconclusive": "rgba(127, 127, 127, 0.45)"}  # fmt: skip
NO_RESULTS = "No results yet: no metric observations for the exposed units."


def plain(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _empty(message: str, height: int = 260) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=plain(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False, height=height, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def _finite(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def power_curve_figure(mde_relative, power, design_mde: float, target_power: float, n_control: int,
                       relative: bool = True) -> go.Figure:  # fmt: skip
    """Power against the true effect, at the designed sample size per control arm."""
    x = _finite(mde_relative)
    y = _finite(power)
    if x.size == 0:
        return _empty("No power curve for these inputs.")
    fig = go.Figure(
        go.Scatter(
            x=x, y=y, mode="lines", name="power", line=dict(color=ACCENT, width=3),
            hovertemplate=("effect %{x:.2%}" if relative else "effect %{x:.4g}") + "<br>power %{y:.1%}<extra></extra>",
        )
    )  # fmt: skip
    fig.add_hline(y=target_power, line=dict(color=MUTED, dash="dash"), annotation_text=f"target {target_power:.0%}")
    fig.add_vline(x=design_mde, line=dict(color=MUTED, dash="dot"), annotation_text="MDE")
    fig.update_layout(
        title=f"Power vs true effect ({n_control:,} units in control)",
        xaxis_title="true effect (relative)" if relative else "true effect (absolute)",
        yaxis_title="power",
        yaxis=dict(range=[0, 1.02], tickformat=".0%"),
        xaxis=dict(tickformat=".1%" if relative else None),
        height=340, margin=dict(l=10, r=10, t=50, b=10), showlegend=False,
    )  # fmt: skip
    return fig


def sample_size_figure(mde_relative, n_control, design_mde: float, design_n: int, relative: bool = True) -> go.Figure:
    """Units needed in the control arm against the MDE (log scale)."""
    x = _finite(mde_relative)
    y = _finite(n_control)
    if x.size == 0:
        return _empty("No sample-size curve for these inputs.")
    fig = go.Figure(
        go.Scatter(
            x=x, y=y, mode="lines", name="units per control arm", line=dict(color=ACCENT, width=3),
            hovertemplate=("MDE %{x:.2%}" if relative else "MDE %{x:.4g}") + "<br>%{y:,.0f} units<extra></extra>",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=[design_mde], y=[design_n], mode="markers", marker=dict(size=11, color="#d62728"),
                   name="this design", hovertemplate="this design: %{y:,.0f} units<extra></extra>")
    )  # fmt: skip
    fig.update_layout(
        title="Sample size per control arm vs MDE",
        xaxis_title="minimum detectable effect (relative)" if relative else "minimum detectable effect (absolute)",
        yaxis_title="units per control arm",
        yaxis_type="log",
        xaxis=dict(tickformat=".1%" if relative else None),
        height=340, margin=dict(l=10, r=10, t=50, b=10), showlegend=False,
    )  # fmt: skip
    return fig


def lift_figure(frame: pd.DataFrame, title: str, relative: bool = True) -> go.Figure:
    """A forest plot: one row per `label`, the `estimate` with its [ci_low, ci_high], coloured by
    `verdict`; a line at 0 (no difference)."""
    if frame is None or frame.empty:
        return _empty(NO_RESULTS)
    rows = frame.reset_index(drop=True)
    labels = [plain(v) for v in rows["label"]]
    fig = go.Figure()
    for verdict, color in VERDICT_COLORS.items():
        part = rows[rows["verdict"].astype(str) == verdict]
        if part.empty:
            continue
        est = _finite(part["estimate"])
        low, high = _finite(part["ci_low"]), _finite(part["ci_high"])
        fig.add_trace(
            go.Scatter(
                x=est, y=[labels[i] for i in part.index], mode="markers", name=verdict,
                marker=dict(color=color, size=10),
                error_x=dict(type="data", symmetric=False, array=np.nan_to_num(high - est, posinf=0),
                             arrayminus=np.nan_to_num(est - low, neginf=0), color=color, thickness=2),
                customdata=np.stack([low, high], axis=1),
                hovertemplate=(
                    "%{y}<br>lift %{x:" + (".2%" if relative else ".4g") + "}<br>interval %{customdata[0]:"
                    + (".2%" if relative else ".4g") + "} to %{customdata[1]:" + (".2%" if relative else ".4g")
                    + "}<extra>" + verdict + "</extra>"
                ),
            )
        )  # fmt: skip
    fig.add_vline(x=0, line=dict(color="black", width=1))
    fig.update_layout(
        title=plain(title),
        xaxis_title="lift vs control (relative)" if relative else "lift vs control (absolute)",
        xaxis=dict(tickformat=".1%" if relative else None, zeroline=False),
        yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=labels),
        height=max(220, 60 + 38 * len(rows)), margin=dict(l=10, r=10, t=50, b=10), legend_title_text="verdict",
    )  # fmt: skip
    return fig


def lift_bars_figure(
    frame: pd.DataFrame, title: str, relative: bool = True, empty_message: str = NO_RESULTS
) -> go.Figure:
    """GrowthBook's per-metric lift bars: one row per `label`, a bar spanning its interval [ci_low,
    ci_high] coloured by significance (`verdict`: win green, lose red, else grey), a tick at the
    `estimate`, a line at 0. Rows without a finite interval show the estimate only. `empty_message`
    says why there is nothing to draw (the caller knows: no observations, no pre-period values...)."""
    if frame is None or frame.empty:
        return _empty(empty_message)
    rows = frame.reset_index(drop=True)
    labels = [plain(v) for v in rows["label"]]
    est, low, high = _finite(rows["estimate"]), _finite(rows["ci_low"]), _finite(rows["ci_high"])
    verdicts = [str(v) if str(v) in SIGNIFICANCE_COLORS else "inconclusive" for v in rows["verdict"]]
    interval = np.isfinite(low) & np.isfinite(high)
    fmt_ = ".2%" if relative else ".4g"
    fig = go.Figure()
    for verdict, color in SIGNIFICANCE_COLORS.items():
        idx = [i for i, v in enumerate(verdicts) if v == verdict and interval[i]]
        if not idx:
            continue
        fig.add_trace(
            go.Bar(
                y=[labels[i] for i in idx], x=high[idx] - low[idx], base=low[idx], orientation="h", name=verdict,
                marker=dict(color=color, line=dict(color=VERDICT_COLORS[verdict], width=1)), width=0.55,
                customdata=np.stack([est[idx], low[idx], high[idx]], axis=1),
                hovertemplate=("%{y}<br>lift %{customdata[0]:" + fmt_ + "}<br>interval %{customdata[1]:" + fmt_
                               + "} to %{customdata[2]:" + fmt_ + "}<extra>" + verdict + "</extra>"),
            )
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=est, y=labels, mode="markers", name="estimate", showlegend=False,
                   marker=dict(symbol="line-ns", size=18, line=dict(width=3, color="black")),
                   hovertemplate="%{y}<br>lift %{x:" + fmt_ + "}<extra></extra>")
    )  # fmt: skip
    fig.add_vline(x=0, line=dict(color="black", width=1, dash="dot"))
    fig.update_layout(
        title=plain(title), barmode="overlay",
        xaxis_title="lift vs control (relative)" if relative else "lift vs control (absolute)",
        xaxis=dict(tickformat=".1%" if relative else None, zeroline=False),
        yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=labels),
        height=max(220, 60 + 44 * len(rows)), margin=dict(l=10, r=10, t=50, b=10), legend_title_text="significance",
    )  # fmt: skip
    return fig


def cuped_figure(frame: pd.DataFrame, relative: bool = True) -> go.Figure:
    """CUPED-adjusted next to unadjusted intervals per `label` (columns estimate/ci_low/ci_high and
    raw_estimate/raw_ci_low/raw_ci_high)."""
    if frame is None or frame.empty:
        return _empty("No metric has pre-period values: CUPED needs pre_value in the metric observations.")
    rows = frame.reset_index(drop=True)
    labels = [plain(v) for v in rows["label"]]
    fig = go.Figure()
    for prefix, name, color in (("raw_", "unadjusted", MUTED), ("", "CUPED-adjusted", ACCENT)):
        est = _finite(rows[f"{prefix}estimate"])
        low, high = _finite(rows[f"{prefix}ci_low"]), _finite(rows[f"{prefix}ci_high"])
        fig.add_trace(
            go.Scatter(
                x=est, y=labels, mode="markers", name=name, marker=dict(color=color, size=10),
                error_x=dict(type="data", symmetric=False, array=np.nan_to_num(high - est),
                             arrayminus=np.nan_to_num(est - low), color=color, thickness=3),
                offsetgroup=name,
            )
        )  # fmt: skip
    fig.add_vline(x=0, line=dict(color="black", width=1))
    fig.update_layout(
        title="CUPED: adjusted vs unadjusted interval",
        xaxis=dict(tickformat=".1%" if relative else None),
        yaxis=dict(autorange="reversed"),
        scattermode="group",
        height=max(220, 80 + 50 * len(rows)), margin=dict(l=10, r=10, t=50, b=10),
    )  # fmt: skip
    return fig


def arms_figure(arms: pd.DataFrame) -> go.Figure:
    """Units per arm: the observed share next to the planned split."""
    if arms is None or arms.empty or arms["units"].sum() == 0:
        return _empty("No exposures yet.")
    names = [plain(v) for v in arms["variant"]]
    fig = go.Figure(
        [
            go.Bar(x=names, y=arms["share"], name="observed share", marker_color=ACCENT,
                   customdata=arms["units"], hovertemplate="%{x}: %{y:.1%} (%{customdata:,} units)<extra></extra>"),
            go.Bar(x=names, y=arms["planned_share"], name="planned share", marker_color=MUTED,
                   hovertemplate="%{x}: planned %{y:.1%}<extra></extra>"),
        ]
    )  # fmt: skip
    fig.update_layout(
        title="Traffic split: observed vs planned", barmode="group", yaxis=dict(tickformat=".0%"),
        height=280, margin=dict(l=10, r=10, t=50, b=10),
    )  # fmt: skip
    return fig


def bandit_figure(variants, weights, current) -> go.Figure:
    """Recommended (Thompson-sampling) allocation next to the current one."""
    if not variants:
        return _empty("No bandit weights: the primary metric has no data in some arm.")
    names = [plain(v) for v in variants]
    fig = go.Figure(
        [
            go.Bar(x=names, y=list(weights), name="recommended", marker_color="#2ca02c",
                   hovertemplate="%{x}: %{y:.1%}<extra>recommended</extra>"),
            go.Bar(x=names, y=list(current), name="current", marker_color=MUTED,
                   hovertemplate="%{x}: %{y:.1%}<extra>current</extra>"),
        ]
    )  # fmt: skip
    fig.update_layout(
        title="Thompson-sampling allocation (primary metric)", barmode="group", yaxis=dict(tickformat=".0%"),
        height=280, margin=dict(l=10, r=10, t=50, b=10),
    )  # fmt: skip
    return fig


def bandit_history_figure(history: pd.DataFrame) -> go.Figure:
    """Recommended weight per arm over time (services.experiments.readout.bandit_history)."""
    if history is None or history.empty:
        return _empty("No primary-metric observations yet.")
    fig = go.Figure()
    for variant, part in history.groupby("variant", sort=False):
        fig.add_trace(
            go.Scatter(x=part["period"], y=part["weight"], mode="lines+markers", name=plain(variant),
                       line_shape="hv", hovertemplate="%{x|%Y-%m-%d}: %{y:.1%}<extra>" + plain(variant) + "</extra>")
        )  # fmt: skip
    fig.update_layout(
        title="Recommended allocation over time (data up to each day)", yaxis=dict(tickformat=".0%", range=[0, 1]),
        height=300, margin=dict(l=10, r=10, t=50, b=10),
    )  # fmt: skip
    return fig


def to_html(figures: list[go.Figure]) -> bytes:
    """The charts in one self-contained HTML file (plotly.js inlined once), for the export button."""
    parts = []
    for i, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    body = "\n".join(parts)
    head = "<!doctype html><html><head><meta charset='utf-8'><title>Loopdeck readout</title></head>"
    return f"{head}<body>{body}</body></html>".encode()


PNG_NEEDS = (
    "PNG export needs the kaleido package and a Chrome or Chromium on the server; use the HTML export "
    "(or the camera icon on any chart)."
)


def png_unavailable() -> str | None:
    """None when charts can be rendered to PNG here (kaleido installed and a Chromium-based browser found),
    else the reason, for the page to show instead of the button."""
    try:
        import kaleido  # noqa: F401
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return PNG_NEEDS
    try:
        found = Chromium.find_browser(skip_local=False)
    except Exception:  # noqa: BLE001 - any failure to look means no browser to render with
        found = None
    return None if found else PNG_NEEDS


def to_png_zip(figures: list[go.Figure], names: list[str], width: int = 1100, height: int = 500) -> bytes:
    """Each chart as a PNG (kaleido renders it in one headless Chromium session), in one zip file:
    01-<name>.png, 02-<name>.png, ... Raises RuntimeError with PNG_NEEDS when it cannot render here."""
    if len(figures) != len(names):
        raise ValueError("one name per figure")
    reason = png_unavailable()
    if reason:
        raise RuntimeError(reason)
    import plotly.io as pio

    files = [f"{i:02d}-{re.sub(r'[^a-z0-9]+', '-', n.lower()).strip('-') or 'chart'}.png"
             for i, n in enumerate(names, 1)]  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f for f in files]
        pio.write_images(figures, paths, format="png", width=width, height=height)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for f, path in zip(files, paths, strict=True):
                z.writestr(f, path.read_bytes())
    return out.getvalue()
