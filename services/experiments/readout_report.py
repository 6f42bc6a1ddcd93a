"""The experiment readout to share: one self-contained HTML file (plotly.js inline, opens offline) with
the experiment's design, health checks, alerts, the stopping advice, the overall results of every goal
metric with their intervals in the fixed-horizon, sequential and Bayesian readings, and the units per
arm against the plan. Built from the same `Readout` the Read view shows, so the numbers are the screen's.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from services.core import report_html as rh
from services.core.roles import Actor
from services.core.timeutil import utcnow
from services.experiments.readout import Readout


def num(x: Any, digits: int = 4) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return ""
    return f"{value:.{digits}g}" if math.isfinite(value) else ""


def lift(x: Any, relative: bool) -> str:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(value):
        return ""
    return f"{value:+.2%}" if relative else f"{value:+.4g}"


def _relative(readout: Readout) -> bool:
    return readout.options.difference_type == "relative"


def _lift_columns(readout: Readout, overall: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The fixed-horizon lift and its 95% interval on the scale asked for (ci_low/ci_high are on that
    scale already; corrected when a correction was asked for)."""
    est = overall["rel_lift" if _relative(readout) else "abs_lift"]
    return est, overall["ci_low"], overall["ci_high"]


def results_rows(readout: Readout) -> list[tuple[str, ...]]:
    overall = readout.overall
    rel = _relative(readout)
    est, low, high = _lift_columns(readout, overall)
    rows = []
    for i, r in enumerate(overall.itertuples(index=False)):
        rows.append((
            r.metric, r.role, r.variant, f"{int(r.n_control):,} / {int(r.n_treatment):,}",
            num(r.mean_control), num(r.mean_treatment), lift(est.iloc[i], rel),
            f"[{lift(low.iloc[i], rel)}, {lift(high.iloc[i], rel)}]", num(r.p_value, 3), str(r.verdict),
            f"[{lift(r.seq_ci_low, rel)}, {lift(r.seq_ci_high, rel)}]", str(r.seq_verdict),
            num(r.chance_to_win, 3), str(r.bayes_verdict),
        ))  # fmt: skip
    return rows


RESULT_HEADER = (
    "metric", "role", "arm", "units (control / arm)", "control mean", "arm mean", "lift", "95% CI", "p-value",
    "verdict", "sequential CI", "sequential verdict", "chance to win", "Bayesian verdict",
)  # fmt: skip


def lift_figure(readout: Readout) -> go.Figure:
    """Each goal metric x arm: the fixed-horizon lift with its 95% interval and the always-valid
    (sequential) interval, against zero."""
    overall = readout.overall
    rel = _relative(readout)
    est, low, high = _lift_columns(readout, overall)
    multi = overall["variant"].nunique() > 1
    # metric and arm names are the user's: escaped, so plotly shows them as text (it reads a little HTML)
    labels = [rh.e(f"{m} · {v}" if multi else m) for m, v in zip(overall["metric"], overall["variant"], strict=True)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=est.astype(float), y=labels, mode="markers", name="fixed horizon (95% CI)", marker={"size": 10},
        error_x={"type": "data", "symmetric": False, "array": (high - est).astype(float),
                 "arrayminus": (est - low).astype(float)},
    ))  # fmt: skip
    seq_mid = ((overall["seq_ci_low"] + overall["seq_ci_high"]) / 2).astype(float)
    fig.add_trace(go.Scatter(
        x=seq_mid, y=labels, mode="markers", name="sequential (always valid)", marker={"size": 4, "color": "#888"},
        error_x={"type": "data", "symmetric": False, "array": (overall["seq_ci_high"] - seq_mid).astype(float),
                 "arrayminus": (seq_mid - overall["seq_ci_low"]).astype(float)},
    ))  # fmt: skip
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_layout(
        title=rh.e(f"Lift vs {readout.control} ({'relative' if rel else 'absolute'})"), height=160 + 40 * len(labels),
        xaxis_tickformat="+.1%" if rel else None, yaxis={"autorange": "reversed"}, legend={"orientation": "h"},
        margin={"l": 10, "r": 10, "t": 50},
    )  # fmt: skip
    return fig


def arms_figure(readout: Readout) -> go.Figure:
    arms = readout.arms
    fig = go.Figure()
    fig.add_bar(x=[rh.e(v) for v in arms["variant"]], y=arms["units"], name="units exposed")
    if "planned_units" in arms and arms["planned_units"].notna().any():
        marker = {"symbol": "line-ew-open", "size": 30, "color": "#d62728"}
        fig.add_scatter(x=[rh.e(v) for v in arms["variant"]], y=arms["planned_units"], mode="markers",
                        name="planned per arm", marker=marker)  # fmt: skip
    fig.update_layout(title="Units per arm", height=300, margin={"l": 10, "r": 10, "t": 50},
                      legend={"orientation": "h"})  # fmt: skip
    return fig


def _design(readout: Readout) -> list[tuple[str, str]]:
    exp = readout.experiment
    guard = ", ".join(f"{g.get('metric')} ({g.get('bad_direction')} is bad)" for g in exp.guardrail_metrics or [])
    return [
        ("hypothesis", exp.hypothesis or ""), ("primary metric", exp.primary_metric),
        ("secondary metrics", ", ".join(exp.secondary_metrics or []) or "none"), ("guardrails", guard or "none"),
        ("variants", ", ".join(readout.variants)), ("control", readout.control),
        ("alpha / power / MDE", f"{exp.alpha:g} / {exp.power:g} / {num(exp.mde)}"
                                + (" relative" if exp.mde_relative else " absolute")),
        ("planned sample size per arm", f"{exp.planned_sample_size:,}" if exp.planned_sample_size else "not set"),
        ("stopping rule", exp.stopping_rule), ("status", exp.status),
        ("decision", f"{exp.outcome or ''} {exp.decision or ''}".strip() or "none yet"),
    ]  # fmt: skip


def build(readout: Readout, actor: Actor) -> str:
    """The readout as one HTML string (read only; anybody signed in may read an experiment)."""
    exp = readout.experiment
    figs = rh.Figures()
    health = [(h.title, "ok" if h.ok else "check", h.message) for h in readout.health]
    prior = "a flat prior" if readout.options.prior_sd is None else "the prior given"
    note = (f"Multiple-testing correction: {readout.options.correction or 'none'}. Sequential: confidence "
            f"sequences; Bayesian: {prior}.")  # fmt: skip
    body = (
        "<h2>Design</h2>" + rh.table(("", ""), _design(readout))
        + "<h2>Health checks</h2>" + rh.table(("check", "", "message"), health, "no checks")
        + "<h2>Alerts</h2>" + rh.items([a.message for a in readout.alerts], "none")
        + f"<h2>Stopping</h2><p>{rh.e(readout.stopping.message)}</p>"
        + "<h2>Results (all units)</h2>"
        + f"<p class='muted'>{rh.e(note)}</p>"
        + rh.table(RESULT_HEADER, results_rows(readout), "no results yet")
        + (figs.html(lift_figure(readout), "lift") if len(readout.overall) else "")
        + figs.html(arms_figure(readout), "arms")
    )  # fmt: skip
    title = f"Loopdeck experiment readout: {exp.name or exp.key}"
    lines = [
        f"Experiment {exp.key} ({exp.status}); {readout.units_total:,} units exposed"
        + (f", {readout.multi_units:,} in several arms left out" if readout.multi_units else ""),
        f"Read at {readout.as_of:%Y-%m-%d %H:%M} UTC; started "
        + (f"{exp.start_at:%Y-%m-%d}" if exp.start_at else "not yet"),
        rh.stamp(utcnow(), actor.label),
    ]
    return rh.page(title, lines, body, figs)


def file_name(readout: Readout) -> str:
    name = f"{readout.experiment.key}-readout.html"
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
