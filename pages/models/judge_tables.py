"""Tables of the Models screen's Judge view: the gates as an editable table and back, the panel's metrics,
and the text of a failed gate filed in the backlog. Pure functions, tested without a browser."""

from __future__ import annotations

from typing import Any

import pandas as pd

from app.format import when as _when
from app.judge_gates import config_from_table, thresholds_table  # noqa: F401  (re-exported)
from pages.models import keys
from services.models import judge


def gate_option(gate: judge.Gate) -> str:
    """A failed gate in the backlog chooser: scope, metric, rule and both values."""
    return f"{gate.scope}: {gate.rule} (candidate {gate.candidate:.4f}, champion {gate.champion:.4f})"


def gate_backlog_key(panel: judge.JudgePanel, gate: judge.Gate) -> str:
    """The key of the backlog form for one gate (stable across reruns of the same panel, distinct per gate)."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in f"{gate.scope}_{gate.metric}_{gate.rule}")
    return f"{keys.GATE_BACKLOG}{panel.candidate.id}_{panel.champion.id}_{slug}"


def gate_backlog_description(panel: judge.JudgePanel, gate: judge.Gate) -> str:
    h = panel.holdout
    return (
        f"The judge's {gate.metric} gate ({gate.scope}) failed for {panel.candidate.label} against "
        f"{panel.champion.label}: {gate.rule}; candidate {gate.candidate:.4f}, champion {gate.champion:.4f}"
        + (f" ({gate.note})" if gate.note else "")
        + f". Holdout: {h.rows:,} labelled predictions after {_when(h.start)}; judged {_when(panel.computed_at)}."
    )


def overall_metrics_table(frame: pd.DataFrame) -> pd.DataFrame:
    part = frame[frame["scope"] == "overall"]
    return pd.DataFrame(
        {
            "metric": part["metric"],
            "candidate": [f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                          zip(part["candidate"], part["candidate_low"], part["candidate_high"], strict=True)],
            "champion": [f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                         zip(part["champion"], part["champion_low"], part["champion_high"], strict=True)],
            "difference": [f"{v:+.4f} [{lo:+.4f}, {hi:+.4f}]" for v, lo, hi in
                           zip(part["difference"], part["diff_low"], part["diff_high"], strict=True)],
            "p": [_p(v) for v in part["p_value"]],
            "test": part["test"],
        }
    )  # fmt: skip


def cohort_metrics_compare(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    part = frame[(frame["metric"] == metric) & (frame["scope"] != "overall")]
    return pd.DataFrame(
        {
            "cohort": part["scope"], "rows": part["rows"], "candidate": part["candidate"].round(4),
            "champion": part["champion"].round(4), "difference": part["difference"].round(4),
            "95% CI": [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(part["diff_low"], part["diff_high"], strict=True)],
            "p": [_p(v) for v in part["p_value"]],
        }
    )  # fmt: skip


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
