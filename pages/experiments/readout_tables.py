"""The readout as tables and figure frames (the Read view of the Experiments screen): one reading's numbers,
CUPED against unadjusted, the results table of each reading, segments and the bandit. Pure functions,
tested without a browser."""

from __future__ import annotations

import math

import pandas as pd

from app import format as fmt
from services.experiments import readout as readout_svc

READINGS = {
    "frequentist": "Frequentist (fixed horizon)",
    "sequential": "Sequential (always valid)",
    "bayesian": "Bayesian",
    "cuped": "CUPED (variance reduction)",
}
CORRECTIONS = {"": "Off", "holm": "Holm", "bh": "Benjamini-Hochberg"}


def _pct(x: float) -> str:
    return fmt.DASH if x is None or not math.isfinite(x) else f"{x:+.2%}"


def _num(x: float, digits: int = 4) -> str:
    return fmt.DASH if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _lift_text(x: float, relative: bool) -> str:
    if x is None or not math.isfinite(float(x)):
        return fmt.DASH
    return f"{x:+.2%}" if relative else f"{x:+.4g}"


def reading_frame(results: pd.DataFrame, reading: str, relative: bool) -> pd.DataFrame:
    """The numbers of one reading as a tidy frame for the forest plot: label, estimate, ci_low,
    ci_high, verdict (frequentist uses the lift scale asked for; the other readings were computed on it)."""
    if results is None or results.empty:
        return pd.DataFrame(columns=["label", "estimate", "ci_low", "ci_high", "verdict"])
    multi_arm = results["variant"].nunique() > 1
    label = results["metric"] + ((" · " + results["variant"]) if multi_arm else "")
    if reading == "frequentist":
        est = results["rel_lift" if relative else "abs_lift"]
        low, high, verdict = results["ci_low"], results["ci_high"], results["verdict"]
        if not relative and results["p_adjusted"].isna().all():
            low, high = results["abs_ci_low"], results["abs_ci_high"]
    elif reading == "sequential":
        est = results["rel_lift" if relative else "abs_lift"]
        low, high, verdict = results["seq_ci_low"], results["seq_ci_high"], results["seq_verdict"]
    elif reading == "bayesian":
        est, low, high, verdict = (results[c] for c in ("bayes_estimate", "bayes_ci_low", "bayes_ci_high",
                                                        "bayes_verdict"))  # fmt: skip
    elif reading == "cuped":
        keep = results["cuped_verdict"].notna()
        results, label = results[keep], label[keep]
        est, low, high, verdict = (results[c] for c in ("cuped_estimate", "cuped_ci_low", "cuped_ci_high",
                                                        "cuped_verdict"))  # fmt: skip
    else:
        raise ValueError(f"unknown reading {reading!r}")
    return pd.DataFrame(
        {"label": label.to_numpy(), "estimate": est.to_numpy(dtype=float), "ci_low": low.to_numpy(dtype=float),
         "ci_high": high.to_numpy(dtype=float), "verdict": verdict.astype(str).to_numpy()}
    )  # fmt: skip


def cuped_frame(results: pd.DataFrame, relative: bool) -> pd.DataFrame:
    """Adjusted and unadjusted intervals side by side, for the metrics that have pre-period values."""
    keep = results[results["cuped_verdict"].notna()] if len(results) else results
    if keep is None or keep.empty:
        return pd.DataFrame(
            columns=["label", "estimate", "ci_low", "ci_high", "raw_estimate", "raw_ci_low", "raw_ci_high"]
        )
    raw = "rel" if relative else "abs"
    return pd.DataFrame(
        {
            "label": (keep["metric"] + " · " + keep["variant"]).to_numpy(),
            "estimate": keep["cuped_estimate"].to_numpy(dtype=float),
            "ci_low": keep["cuped_ci_low"].to_numpy(dtype=float),
            "ci_high": keep["cuped_ci_high"].to_numpy(dtype=float),
            "raw_estimate": keep[f"{raw}_lift"].to_numpy(dtype=float),
            "raw_ci_low": keep[f"{raw}_ci_low"].to_numpy(dtype=float),
            "raw_ci_high": keep[f"{raw}_ci_high"].to_numpy(dtype=float),
        }
    )


def results_table(results: pd.DataFrame, reading: str, relative: bool, corrected: bool = False) -> pd.DataFrame:
    """The results table of one reading, formatted for display (one row per metric x treatment arm)."""
    base = pd.DataFrame(
        {
            "metric": results["metric"],
            "role": results["role"],
            "variant": results["variant"],
            "units (control / treatment)": [f"{a:,} / {b:,}" for a, b in zip(results["n_control"],
                                                                                results["n_treatment"], strict=True)],
            "control": [_num(v) for v in results["mean_control"]],
            "treatment": [_num(v) for v in results["mean_treatment"]],
        }
    )  # fmt: skip
    lift_col = "rel_lift" if relative else "abs_lift"
    if reading == "frequentist":
        frame = reading_frame(results, reading, relative)
        base["lift"] = [_lift_text(v, relative) for v in results[lift_col]]
        base["95% CI"] = [f"{_lift_text(a, relative)} to {_lift_text(b, relative)}" for a, b in
                          zip(frame["ci_low"], frame["ci_high"], strict=True)]  # fmt: skip
        base["p-value"] = [_num(v, 3) for v in results["p_value"]]
        if corrected:
            base["adjusted p"] = [_num(v, 3) for v in results["p_adjusted"]]
        base["verdict"] = results["verdict"].to_numpy()
        base["of planned sample"] = [fmt.DASH if not math.isfinite(p) else f"{p:.0%}" for p in results["progress"]]
    elif reading == "sequential":
        base["lift"] = [_lift_text(v, relative) for v in results[lift_col]]
        base["always-valid CI"] = [f"{_lift_text(a, relative)} to {_lift_text(b, relative)}" for a, b in
                                   zip(results["seq_ci_low"], results["seq_ci_high"], strict=True)]  # fmt: skip
        base["always-valid p"] = [_num(v, 3) for v in results["seq_p_value"]]
        base["verdict"] = results["seq_verdict"].to_numpy()
    elif reading == "bayesian":
        base["posterior lift"] = [_lift_text(v, relative) for v in results["bayes_estimate"]]
        base["credible interval"] = [f"{_lift_text(a, relative)} to {_lift_text(b, relative)}" for a, b in
                                     zip(results["bayes_ci_low"], results["bayes_ci_high"], strict=True)]  # fmt: skip
        base["chance to beat control"] = [fmt.DASH if not math.isfinite(v) else f"{v:.1%}" for v in
                                          results["chance_to_win"]]  # fmt: skip
        base["risk (keep control)"] = [_lift_text(v, relative) for v in results["risk_control"]]
        base["risk (ship treatment)"] = [_lift_text(v, relative) for v in results["risk_treatment"]]
        base["verdict"] = results["bayes_verdict"].to_numpy()
    elif reading == "cuped":
        has = results["cuped_verdict"].notna()
        base["CUPED lift"] = [_lift_text(v, relative) if h else "no pre-period data" for v, h in
                              zip(results["cuped_estimate"], has, strict=True)]  # fmt: skip
        base["CUPED CI"] = [f"{_lift_text(a, relative)} to {_lift_text(b, relative)}" if h else fmt.DASH for a, b, h in
                            zip(results["cuped_ci_low"], results["cuped_ci_high"], has, strict=True)]  # fmt: skip
        base["variance reduction"] = [f"{v:.1%}" if h and math.isfinite(v) else fmt.DASH for v, h in
                                      zip(results["variance_reduction"], has, strict=True)]  # fmt: skip
        base["CUPED p"] = [_num(v, 3) if h else fmt.DASH for v, h in zip(results["cuped_p_value"], has, strict=True)]
        base["unadjusted lift"] = [_lift_text(v, relative) for v in results[lift_col]]
        base["unadjusted CI"] = [
            f"{_lift_text(a, relative)} to {_lift_text(b, relative)}"
            for a, b in zip(results[f"{lift_col[:3]}_ci_low"], results[f"{lift_col[:3]}_ci_high"], strict=True)
        ]
        base["verdict"] = [v if h else results_verdict for v, h, results_verdict in
                           zip(results["cuped_verdict"], has, results["verdict"], strict=True)]  # fmt: skip
    else:
        raise ValueError(f"unknown reading {reading!r}")
    return base.reset_index(drop=True)


def segment_table(
    results: pd.DataFrame, segment_srm: pd.DataFrame, field: str, metric: str, reading: str, relative: bool
) -> pd.DataFrame:
    """One metric across the segments of one cohort field (the overall row first) with each segment's
    SRM p-value."""
    mine = (results["segment"] == readout_svc.ALL) | (results["field"] == field)
    part = results[mine & (results["metric"] == metric)]
    table = results_table(part, reading, relative)
    table.insert(0, "segment", part["segment"].to_numpy())
    srm = segment_srm[segment_srm["field"] == field] if len(segment_srm) else segment_srm
    srm_p = dict(zip(srm["segment"], srm["srm_p"], strict=True)) if len(srm) else {}
    table["SRM p"] = [_num(srm_p[s], 3) if s in srm_p else fmt.DASH for s in table["segment"]]
    return table.drop(columns=["metric"])


def bandit_frame(readout) -> pd.DataFrame:
    b = readout.bandit
    if b is None:
        return pd.DataFrame(columns=["variant", "units", "current", "recommended", "chance of being best"])
    current = readout.arms["planned_share"].to_numpy()
    return pd.DataFrame(
        {
            "variant": list(readout.variants),
            "units": list(b.n),
            "current": [f"{w:.1%}" for w in current],
            "recommended": [f"{w:.1%}" for w in b.weights],
            "chance of being best": [f"{p:.1%}" for p in b.best_arm_probabilities],
        }
    )
