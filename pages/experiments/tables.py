"""Pure helpers of the Experiments screen (no Streamlit; tested without a browser): form values -> service
arguments, and the tables of the list, an experiment's design and variants, and its history.

Metric names, variant keys, hypotheses and decisions are user text: they are shown through plain-text
elements (st.text, dataframe cells, widget labels passed as values); where one goes into markdown
(messages), `md` escapes it first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd

from app import format as fmt
from services.experiments import design as design_svc

OUTCOME_NAMES = {"ship": "Ship", "do-not-ship": "Do not ship", "iterate": "Iterate"}
NO_MODEL = 0


def md(text: object) -> str:
    """User text made inert inside markdown (messages): markdown, HTML and LaTeX characters escaped."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>$~:])", r"\\\1", str(text))


def metric_list(text: str) -> list[str]:
    """'revenue_30d, sessions' -> ['revenue_30d', 'sessions'] (blank entries dropped, order kept, no repeats)."""
    out: list[str] = []
    for part in (text or "").replace("\n", ",").split(","):
        name = part.strip()
        if name and name not in out:
            out.append(name)
    return out


def guardrails_from_text(bad_if_increase: str, bad_if_decrease: str) -> list[dict[str, str]]:
    return [{"metric": m, "bad_direction": "increase"} for m in metric_list(bad_if_increase)] + [
        {"metric": m, "bad_direction": "decrease"} for m in metric_list(bad_if_decrease)
    ]


def guardrail_texts(guardrails: Sequence[Mapping[str, str]] | None) -> tuple[str, str]:
    inc = [g["metric"] for g in guardrails or () if g.get("bad_direction", "increase") == "increase"]
    dec = [g["metric"] for g in guardrails or () if g.get("bad_direction") == "decrease"]
    return ", ".join(inc), ", ".join(dec)


def variants_from_inputs(keys: Sequence[str], shares_percent: Sequence[float], model_ids: Sequence[int | None]):
    """The register form's per-variant inputs -> the service's variants (shares normalised to 1)."""
    total = float(sum(shares_percent))
    return [
        {
            "key": (k or "").strip(),
            "allocation": (float(s) / total) if total > 0 else 0.0,
            "model_version_id": int(m) if m not in (None, NO_MODEL) else None,
        }
        for k, s, m in zip(keys, shares_percent, model_ids, strict=True)
    ]


def default_variant_keys(n: int) -> list[str]:
    return ["control", "treatment"][:n] + [f"treatment-{i}" for i in range(2, n)]


def design_input(
    metric_type: str,
    baseline: float,
    sd: float | None,
    mde_percent_or_abs: float,
    mde_type: str,
    alpha: float,
    power: float,
    split_text: str,
    n_variants: int,
    daily_traffic: float | None,
) -> design_svc.DesignInput:
    """The design form's values -> DesignInput. Conversion rates are typed in percent (10 = 10%), and
    so is an absolute MDE on a rate (1 = one percentage point); a relative MDE is in percent too."""
    if metric_type == "conversion":
        base = float(baseline) / 100.0
        mde = float(mde_percent_or_abs) / 100.0
    else:
        base = float(baseline)
        mde = float(mde_percent_or_abs) / 100.0 if mde_type == "relative" else float(mde_percent_or_abs)
    return design_svc.DesignInput(
        metric_type=metric_type,
        baseline=base,
        sd=float(sd) if sd is not None and metric_type == "mean" else None,
        mde=mde,
        mde_type=mde_type,
        alpha=float(alpha),
        power=float(power),
        allocation=design_svc.allocation_from_text(split_text, int(n_variants)),
        daily_traffic=float(daily_traffic) if daily_traffic else None,
    )


def prefill_from_design(inp: design_svc.DesignInput, result: design_svc.DesignResult) -> dict[str, Any]:
    """What the Register form takes over from a design."""
    return {
        "metric_type": inp.metric_type,
        "mde": abs(result.mde_relative) if math.isfinite(result.mde_relative) else abs(result.mde_absolute),
        "mde_relative": math.isfinite(result.mde_relative),
        "alpha": inp.alpha,
        "power": inp.power,
        "planned_sample_size": int(max(result.n_per_arm)),
        "shares": [round(100 * s, 4) for s in inp.shares],
        "design": {
            **inp.as_dict(),
            "n_per_arm": list(result.n_per_arm),
            "days": result.days,
            "alpha_adjusted": result.alpha_adjusted,
        },  # fmt: skip
    }


def experiments_frame(rows) -> pd.DataFrame:
    columns = ["key", "name", "status", "primary metric", "stopping rule", "started", "ended", "outcome"]
    return pd.DataFrame(
        [
            {
                "key": r.key,
                "name": r.name,
                "status": r.status,
                "primary metric": r.primary_metric,
                "stopping rule": r.stopping_rule,
                "started": fmt.when(r.start_at) if r.status != "draft" else fmt.DASH,
                "ended": fmt.when(r.end_at),
                "outcome": OUTCOME_NAMES.get(r.outcome or "", fmt.DASH),
            }
            for r in rows
        ],
        columns=columns,
    )


def variants_frame(exp, model_labels: Mapping[int, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "variant": v["key"],
                "allocation": f"{100 * float(v['allocation']):g}%",
                "model version": model_labels.get(v.get("model_version_id"), fmt.DASH)
                if v.get("model_version_id")
                else fmt.DASH,
            }
            for v in exp.variants or ()
        ],
        columns=["variant", "allocation", "model version"],
    )


def design_summary(exp) -> pd.DataFrame:
    inc, dec = guardrail_texts(exp.guardrail_metrics)
    mde = fmt.DASH
    if exp.mde is not None:
        mde = f"{100 * exp.mde:g}% (relative)" if exp.mde_relative else f"{exp.mde:g} (absolute)"
    rows = [
        ("primary metric", exp.primary_metric),
        ("secondary metrics", ", ".join(exp.secondary_metrics or ()) or fmt.DASH),
        ("guardrails (bad if up)", inc or fmt.DASH),
        ("guardrails (bad if down)", dec or fmt.DASH),
        ("metric type", exp.metric_type),
        ("minimum detectable effect", mde),
        ("alpha / power", f"{exp.alpha:g} / {exp.power:g}"),
        ("planned sample per arm", fmt.count(exp.planned_sample_size)),
        ("stopping rule", exp.stopping_rule),
        ("created by", exp.created_by),
    ]
    return pd.DataFrame(rows, columns=["field", "value"])


def history_frame(events: pd.DataFrame) -> pd.DataFrame:
    if events is None or events.empty:
        return pd.DataFrame(columns=["time", "actor", "action", "details"])
    return pd.DataFrame(
        {
            "time": [fmt.when(t) for t in events["ts"]],
            "actor": events["actor"],
            "action": events["action"],
            "details": events["payload"],
        }
    )


def start_datetime(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None
