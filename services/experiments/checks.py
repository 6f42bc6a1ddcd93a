"""What a readout says beside the numbers: SRM per segment, health checks, guardrail and SRM alerts, the
stopping rule's advice and the Thompson-sampling weights of the arms."""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.core.schema_experiments import Experiment
from services.experiments.readout import ALL, OTHER, Aggregates, Alert, HealthItem, StopAdvice
from services.stats import abtest, bandit, small_counts, srm


def srm_by_segment(
    exposures: pd.DataFrame, mappings: dict[str, dict], labels: dict[str, tuple[str, ...]],
    variants: tuple[str, ...], allocation: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    columns = ["field", "segment", "units", "srm_p"]
    parts = []
    for name, mapping in mappings.items():
        mine = exposures[exposures["field"] == name]
        frame = mine.assign(seg=mine["segment"].map(mapping).fillna(OTHER))
        table = frame.pivot_table(index="seg", columns="variant", values="units", aggfunc="sum", fill_value=0)
        table = table.reindex(index=list(labels[name]), columns=list(variants), fill_value=0)
        p = srm.srm_p_values(table.to_numpy(dtype=float), allocation)
        parts.append(pd.DataFrame({"field": name, "segment": list(labels[name]),
                                   "units": table.sum(axis=1).to_numpy(dtype=int), "srm_p": p}))  # fmt: skip
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def health_items(
    arm_units: np.ndarray, allocation: np.ndarray, agg: Aggregates, results: pd.DataFrame, variants: tuple[str, ...]
) -> tuple:
    items = []
    s = srm.srm_test(arm_units.astype(int).tolist(), allocation.tolist())
    items.append(HealthItem("srm", "Sample ratio", s.verdict == "ok", s.message, s.p_value))
    m = srm.min_units_check(arm_units.astype(int).tolist())
    message = m.message
    if not m.passed:
        low = ", ".join(f"{variants[i]} ({int(arm_units[i]):,})" for i in m.flagged)
        message = f"Too few units: {low} under {srm.MIN_UNITS_PER_ARM} per arm; the results are too noisy to read."
    items.append(HealthItem("min_units", "Units per arm", m.passed, message, m.value))
    overall = results[results["segment"] == ALL]
    lift = srm.large_lift_check(overall["rel_lift"].to_numpy(dtype=float), n=int(arm_units.sum()))
    message = lift.message
    if not lift.passed:
        big = overall.iloc[list(lift.flagged)]
        message += " Flagged: " + ", ".join(f"{r.metric} ({r.variant}: {r.rel_lift:+.0%})" for r in big.itertuples())
    items.append(HealthItem("large_lift", "Plausible lifts", lift.passed, message, lift.value))
    items.extend(small_count_items(overall))
    x = srm.multiple_exposure_check(agg.units_total, agg.multi_units)
    text = x.message + (" They are left out of the results." if agg.multi_units else "")
    items.append(HealthItem("multiple_exposure", "One arm per unit", x.passed, text, x.value))
    return tuple(items)


def _listing(rows: pd.DataFrame) -> str:
    names = [f"{r.metric} ({r.variant})" for r in rows.itertuples()]
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def small_count_items(overall: pd.DataFrame) -> list[HealthItem]:
    """Health messages for comparisons too small for the normal readings (services.stats.small_counts)."""
    exact = overall[overall["exact_test"].astype(bool)]
    msg = (
        "Enough conversions for the normal approximation in every comparison."
        if exact.empty
        else "Too few conversions for the normal approximation (an expected count below "
        f"{small_counts.SMALL_EXPECTED_COUNT:g}): {_listing(exact)}. Their p-values are Fisher's exact test "
        "and no interval is shown."
    )
    rel = overall[overall["rel_small_counts"].astype(bool)]
    rel_msg = (
        "Every arm mean is precise enough for the relative lift (delta method)."
        if rel.empty
        else f"Counts too small for the relative lift's delta method (an arm mean's standard error above "
        f"{small_counts.DELTA_METHOD_MAX_CV:.0%} of the mean): {_listing(rel)}. Its intervals and p-values are "
        "too optimistic here (A/A tests flag up to 8-9% instead of 5%); read the absolute lift or collect more data."
    )
    return [
        HealthItem("small_counts", "Enough conversions", exact.empty, msg, float(len(exact))),
        HealthItem("relative_lift", "Relative lift reliable", rel.empty, rel_msg, float(len(rel))),
    ]


def alerts_of(exp: Experiment, health: tuple[HealthItem, ...], results: pd.DataFrame) -> tuple[Alert, ...]:
    alerts = []
    srm_item = next(h for h in health if h.name == "srm")
    if not srm_item.ok:
        alerts.append(Alert("srm", srm_item.message + " Consider stopping the experiment until it is explained."))
    sequential_rule = exp.stopping_rule == "sequential"
    verdict_col = "seq_verdict" if sequential_rule else "verdict"
    bad = results[(results["segment"] == ALL) & (results["role"] == "guardrail") & (results[verdict_col] == "lose")]
    for r in bad.itertuples():
        low, high = (r.seq_ci_low, r.seq_ci_high) if sequential_rule else (r.rel_ci_low, r.rel_ci_high)
        worse = "higher" if r.direction == "lower" else "lower"
        alerts.append(
            Alert(
                "guardrail",
                f"Guardrail {r.metric} is significantly worse in {r.variant}: {worse} than control by "
                f"{abs(r.rel_lift):.1%} (CI {low:+.2%} to {high:+.2%}). Consider stopping the experiment.",
                metric=r.metric,
                variant=r.variant,
            )
        )
    return tuple(alerts)


def stop_advice(exp: Experiment, results: pd.DataFrame) -> StopAdvice:
    rows = results[(results["segment"] == ALL) & (results["role"] == "primary")]
    winners = tuple(rows.loc[rows["seq_verdict"] == "win", "variant"])
    losers = tuple(rows.loc[rows["seq_verdict"] == "lose", "variant"])
    if exp.stopping_rule == "sequential":
        if winners:
            msg = (
                f"The sequential rule allows stopping early for a win: {', '.join(winners)} beat(s) control on "
                f"{exp.primary_metric} (the always-valid interval excludes 0)."
            )
        elif losers:
            msg = f"{', '.join(losers)} is worse than control on {exp.primary_metric} with always-valid confidence."
        else:
            msg = (
                "Sequential rule: keep going; no arm beats control on the primary metric with always-valid "
                "confidence yet."
            )
        return StopAdvice("sequential", bool(winners), winners, msg)
    progress = rows["progress"].min() if len(rows) else float("nan")
    reached = f" ({progress:.0%} of the planned sample so far)" if progress == progress else ""
    msg = f"Fixed horizon: read the result once the planned sample is reached{reached}; do not stop early on a peek."
    return StopAdvice("fixed", False, (), msg)


def bandit_weights(
    exp: Experiment, cube: dict[str, np.ndarray], metrics_table: pd.DataFrame, variants, allocation: np.ndarray
) -> bandit.BanditWeights | None:
    names = list(metrics_table["metric"])
    if exp.primary_metric not in names:
        return None
    i = names.index(exp.primary_metric)
    n = cube["n"][0, i, :]
    if n.sum() == 0 or np.any(n == 0):
        return None
    if metrics_table.loc[i, "type"] == "conversion":
        return bandit.thompson_weights_conversion(
            n.astype(int).tolist(), cube["sum_y"][0, i, :].round().astype(int).tolist(), current_weights=allocation
        )
    mean, var = abtest.summary_from_sums(n, cube["sum_y"][0, i, :], cube["sum_y2"][0, i, :])
    if np.any(~np.isfinite(var)):
        return None
    return bandit.thompson_weights_mean(n.tolist(), mean.tolist(), var.tolist(), current_weights=allocation)
