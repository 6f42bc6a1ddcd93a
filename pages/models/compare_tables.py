"""Tables of the Models screen's Compare view: two versions side by side, each column named after its
version. Pure functions (no Streamlit), tested without a browser."""

from __future__ import annotations

import math

import pandas as pd

from app import format as fmt
from app.format import GATE_ICONS
from services.models import compare


def recorded_table(recorded: pd.DataFrame, label_a: str, label_b: str) -> pd.DataFrame:
    """The metrics recorded with each version, per scope (each on its own validation rows)."""
    table = pd.DataFrame(
        {
            "scope": recorded["scope"],
            "metric": recorded["metric"],
            label_a: [fmt.metric(v) for v in recorded["A"]],
            label_b: [fmt.metric(v) for v in recorded["B"]],
            "difference (A - B)": [fmt.metric(v, signed=True) for v in recorded["difference"]],
            f"rows {label_a}": [fmt.rows(v) for v in recorded["rows A"]],
            f"rows {label_b}": [fmt.rows(v) for v in recorded["rows B"]],
        }
    )
    if recorded[["rows A", "rows B"]].isna().all().all():  # neither recorded its row counts
        table = table.drop(columns=[f"rows {label_a}", f"rows {label_b}"])
    return table


def measured_table(cmp: compare.VersionComparison, label_a: str, label_b: str) -> pd.DataFrame:
    """Both versions on the same holdout rows, per scope, with intervals and the paired difference."""
    if cmp.panel is None:
        return pd.DataFrame(columns=["scope", "metric", "rows", label_a, label_b, "difference (A - B)", "p"])
    f = cmp.panel.metrics_frame()
    return pd.DataFrame(
        {
            "scope": f["scope"],
            "metric": f["metric"],
            "rows": [fmt.rows(v) for v in f["rows"]],
            label_a: [fmt.metric_interval(v, lo, hi) for v, lo, hi in
                      zip(f["candidate"], f["candidate_low"], f["candidate_high"], strict=True)],
            label_b: [fmt.metric_interval(v, lo, hi) for v, lo, hi in
                      zip(f["champion"], f["champion_low"], f["champion_high"], strict=True)],
            "difference (A - B)": [fmt.metric_interval(v, lo, hi, signed=True) for v, lo, hi in
                                   zip(f["difference"], f["diff_low"], f["diff_high"], strict=True)],
            "p": ["—" if p is None or (isinstance(p, float) and not math.isfinite(p)) else f"{p:.3g}"
                  for p in f["p_value"]],
        }
    )  # fmt: skip


def gates_side_by_side(cmp: compare.VersionComparison, label_a: str, label_b: str) -> pd.DataFrame:
    """Each gate of the judge with each version's result: A against B, B against A."""
    g = cmp.gates
    return pd.DataFrame(
        {
            "scope": g["scope"],
            "metric": g["metric"],
            "rule": g["rule"],
            label_a: [fmt.metric(v) for v in g["A"]],
            label_b: [fmt.metric(v) for v in g["B"]],
            f"{label_a} vs {label_b}": [GATE_ICONS.get(r, r) for r in g["A result"]],
            f"{label_b} vs {label_a}": [GATE_ICONS.get(r, r) for r in g["B result"]],
            "note": g["note"],
        }
    )
