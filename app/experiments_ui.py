"""The Experiments page: pure helpers first (form values -> service arguments, readout -> tables and
figure frames; tested without a browser), then the views that draw it (`render`, called by the thin
pages/experiments/page.py).

Views: Experiments (the list, one experiment's record, its lifecycle: start, edit a draft, amend a
started one with a reason, resume, conclude), Design (sample size, duration, MDE, power curves),
Register (pre-filled from the design), Read (health checks, alerts and the stop proposal, the four
readings, segments, the bandit recommendation, exports).

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
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_experiments as figs
from app import format as fmt
from app import widgets
from services.core.db import database_url
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.experiments import analysis, guard, readout_service, rollups
from services.experiments import design as design_svc
from services.experiments import lifecycle as experiments
from services.experiments import readout as readout_svc
from services.models import registry

VIEW = "exp_view"
VIEWS = ("Experiments", "Design", "Register", "Read")
SELECTED = "exp_selected"  # the experiment key shared by the Experiments and Read views
PREFILL = "exp_prefill"  # the design handed from the Design view to the Register form
READINGS = {
    "frequentist": "Frequentist (fixed horizon)",
    "sequential": "Sequential (always valid)",
    "bayesian": "Bayesian",
    "cuped": "CUPED (variance reduction)",
}
CORRECTIONS = {"": "Off", "holm": "Holm", "bh": "Benjamini-Hochberg"}
OUTCOME_NAMES = {"ship": "Ship", "do-not-ship": "Do not ship", "iterate": "Iterate"}
NO_MODEL = 0
TOP = readout_svc.TOP_SEGMENTS


# --- pure helpers ------------------------------------------------------------------------------------


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


# --- cached reads ------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def cached_aggregates(url: str, experiment_id: int, generation: int) -> readout_svc.Aggregates:
    """The readout's sums for one rollup generation (a new generation means new data)."""
    from app import state

    return rollups.aggregate(state.get_engine(url), experiment_id, refresh=False)


def _model_labels(engine: Engine) -> dict[int, str]:
    return {v.id: f"{v.model_name} v{v.version} ({v.status})" for v in registry.list_versions(engine)}


# --- views ---------------------------------------------------------------------------------------------


def _select_experiment(rows, key: str, label: str = "Experiment"):
    keys = [r.key for r in rows]
    if not keys:
        return None
    current = st.session_state.get(SELECTED)
    if current not in keys:
        running = [r.key for r in rows if r.status == "running"]
        current = running[0] if running else keys[0]
    names = {r.key: f"{r.key} ({r.status}) — {r.name}" for r in rows}
    chosen = st.selectbox(label, keys, index=keys.index(current), format_func=names.get, key=key)
    st.session_state[SELECTED] = chosen
    return next(r for r in rows if r.key == chosen)


GOTO = "exp_goto"  # a view switch asked for during a run, applied before the next run draws the widgets


def _go(view: str, selected: str | None = None) -> None:
    """Switch view (and experiment) on the next run (a callback, or before st.rerun())."""
    st.session_state[GOTO] = (view, selected)


def _apply_goto() -> None:
    view, selected = st.session_state.pop(GOTO, (None, None))
    if view:
        st.session_state[VIEW] = view
    if selected:
        st.session_state[SELECTED] = selected
        st.session_state.pop("exp_pick_read", None)
        st.session_state.pop("exp_pick_manage", None)


def _design_view(me: Actor) -> None:
    st.caption(
        "Size an experiment before it starts: units per arm for the effect you want to detect, how long "
        "that takes at your traffic, and the smallest effect a given sample can detect (statsmodels power)."
    )
    c = st.columns(4)
    metric_type = c[0].radio("Metric type", ("conversion", "mean"), key="exp_d_type", horizontal=True)
    conversion = metric_type == "conversion"
    if conversion:
        baseline = c[1].number_input("Baseline rate (%)", 0.01, 99.99, 10.0, step=0.5, key="exp_d_rate")
        sd = None
    else:
        baseline = c[1].number_input("Baseline mean", value=50.0, step=1.0, key="exp_d_mean")
        sd = c[1].number_input("Standard deviation", 0.0001, value=20.0, step=1.0, key="exp_d_sd")
    mde_type = c[2].radio("MDE", ("relative", "absolute"), key="exp_d_mde_type", horizontal=True)
    mde_label = "MDE (% of baseline)" if mde_type == "relative" else ("MDE (points)" if conversion else "MDE (units)")
    mde = c[2].number_input(
        mde_label, value=10.0 if mde_type == "relative" else 1.0, step=0.5, key=f"exp_d_mde_{mde_type}"
    )
    alpha = c[3].number_input("Alpha", 0.001, 0.4, 0.05, step=0.01, format="%.3f", key="exp_d_alpha")
    power = c[3].number_input("Power", 0.5, 0.99, 0.8, step=0.05, key="exp_d_power")
    c2 = st.columns(3)
    n_variants = c2[0].number_input("Variants (with control)", 2, 10, 2, step=1, key="exp_d_variants")
    even = design_svc.shares_text(design_svc.even_split(int(n_variants)))
    split = c2[1].text_input(
        "Traffic split (control first)", value="", placeholder=even, key="exp_d_split",
        help="e.g. 50/50 or 50/25/25; empty = an even split. Treatment arms share one weight.",
    )  # fmt: skip
    daily = c2[2].number_input("Daily traffic (units entering a day)", 0, value=1000, step=100, key="exp_d_daily")
    try:
        inp = design_input(metric_type, baseline, sd, mde, mde_type, alpha, power, split, int(n_variants), daily)
        result = design_svc.design(inp)
        curve = design_svc.curves(inp, result)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    st.subheader("Sample size")
    m = st.columns(4)
    m[0].metric("Per control arm", f"{result.n_per_arm[0]:,}")
    m[1].metric("Per treatment arm", f"{result.n_per_arm[1]:,}")
    m[2].metric("Total", f"{result.n_total:,}")
    m[3].metric("Expected duration", f"{result.days:,} days" if result.days is not None else fmt.DASH)
    target = f"{100 * result.target:.3g}%" if conversion else f"{result.target:.4g}"
    st.text(
        f"Detects {result.mde_relative:+.2%} relative ({result.mde_absolute:+.4g} absolute: "
        f"{'rate' if conversion else 'mean'} {target}) at alpha {inp.alpha:g} two-sided and power {inp.power:.0%}; "
        f"effect size {result.effect_size:.4f} ({'Cohen h' if conversion else 'Cohen d'})."
    )
    for note in result.notes:
        st.info(note)
    st.subheader("Minimum detectable effect for a sample size")
    n_given = st.columns(3)[0].number_input(
        "Units per control arm", 2, value=int(result.n_per_arm[0]), step=500, key="exp_d_n"
    )
    try:
        found = design_svc.mde_for_sample(inp, int(n_given))
        st.text(
            f"With {found.n_control:,} units in control ({found.n_treatment:,} per treatment arm) the MDE is "
            f"{found.mde_relative:+.2%} relative ({found.mde_absolute:+.4g} absolute) at power {found.power:.0%}."
        )
    except LoopdeckError as exc:
        st.error(str(exc))
    cols = st.columns(2)
    relative_axis = math.isfinite(result.mde_relative)
    x = curve.mde_relative if relative_axis else curve.mde_absolute
    dm = curve.design_mde_relative if relative_axis else curve.design_mde_absolute
    cols[0].plotly_chart(
        figs.power_curve_figure(x, curve.power, dm, curve.target_power, curve.design_n_control, relative_axis),
        key="exp_d_power_fig",
    )
    cols[1].plotly_chart(figs.sample_size_figure(x, curve.n_control, dm, curve.design_n_control, relative_axis),
                         key="exp_d_n_fig")  # fmt: skip
    if me.can(Role.analyst):
        st.button(
            "Register an experiment with this design", icon=":material/edit_note:", key="exp_d_use",
            on_click=_use_design, args=(prefill_from_design(inp, result),),
        )  # fmt: skip


def _use_design(prefill: dict[str, Any]) -> None:
    st.session_state[PREFILL] = prefill
    for k in list(st.session_state.keys()):
        if str(k).startswith("exp_r_"):
            del st.session_state[k]
    _go("Register")


def _register_view(me: Actor, engine: Engine) -> None:
    if not me.can(Role.analyst):
        st.info("Registering an experiment needs the analyst role.")
        return
    pre = st.session_state.get(PREFILL) or {}
    if pre:
        st.success("Pre-filled from the design. The design is stored with the registration.")
    st.caption(
        "Pre-register the experiment: what you expect, what you will measure and when you will read it. "
        "It is saved as a draft; once started, its design is frozen and changes are amendments on the record."
    )
    shares = pre.get("shares") or [50.0, 50.0]
    n_variants = int(st.number_input("Variants (with control)", 2, 10, len(shares), key="exp_r_n"))
    if len(shares) != n_variants:
        shares = [round(100.0 / n_variants, 4)] * n_variants
    labels = _model_labels(engine)
    model_ids = [NO_MODEL, *labels]
    with st.form("exp_register"):
        c = st.columns(2)
        key = c[0].text_input("Key", placeholder="e.g. churn-model-v3-ab", key="exp_r_key",
                              help="Lower-case letters, digits, '.', '_' or '-'.")  # fmt: skip
        name = c[1].text_input("Name", key="exp_r_name")
        hypothesis = st.text_area(
            "Hypothesis",
            key="exp_r_hypothesis",
            placeholder="Changing X for Y raises Z by at least the MDE, without hurting G.",
        )
        st.markdown("**Variants** (the first is the control)")
        keys, alloc, models = [], [], []
        defaults = default_variant_keys(n_variants)
        for i in range(n_variants):
            vc = st.columns([2, 3, 1])
            keys.append(vc[0].text_input(f"Variant {i + 1} key", value=defaults[i], key=f"exp_r_vkey_{i}"))
            models.append(
                vc[1].selectbox(
                    f"Variant {i + 1} model version",
                    model_ids,
                    key=f"exp_r_vmodel_{i}",
                    format_func=lambda v: "(no model version)" if v == NO_MODEL else labels[v],
                )  # fmt: skip
            )
            alloc.append(
                vc[2].number_input(f"Variant {i + 1} traffic %", 0.0, 100.0, float(shares[i]), key=f"exp_r_vshare_{i}")
            )
        st.markdown("**Metrics**")
        m = st.columns(2)
        primary = m[0].text_input("Primary metric", key="exp_r_primary", placeholder="e.g. retained_30d")
        metric_type = m[1].selectbox(
            "Primary metric type",
            experiments.METRIC_TYPES,
            key="exp_r_type",
            index=experiments.METRIC_TYPES.index(pre.get("metric_type", "conversion")),
        )
        secondary = st.text_input("Secondary metrics (comma-separated)", key="exp_r_secondary")
        g = st.columns(2)
        bad_up = g[0].text_input(
            "Guardrails: bad if they go up", key="exp_r_bad_up", placeholder="e.g. support_contacts"
        )
        bad_down = g[1].text_input("Guardrails: bad if they go down", key="exp_r_bad_down", placeholder="e.g. nps")
        st.markdown("**Design**")
        d = st.columns(4)
        relative = bool(pre.get("mde_relative", True))
        mde_value = float(pre.get("mde", 0.05)) * (100 if relative else 1)
        mde = d[0].number_input("MDE (%)" if relative else "MDE (absolute)", 0.0, value=mde_value, key="exp_r_mde",
                                format="%.4g")  # fmt: skip
        alpha = d[1].number_input("Alpha", 0.001, 0.4, float(pre.get("alpha", 0.05)), format="%.3f", key="exp_r_alpha")
        power = d[2].number_input("Power", 0.5, 0.99, float(pre.get("power", 0.8)), key="exp_r_power")
        planned = d[3].number_input("Planned units per arm", 0, value=int(pre.get("planned_sample_size", 0)), step=100,
                                    key="exp_r_planned")  # fmt: skip
        s = st.columns(2)
        rule = s[0].radio(
            "Stopping rule",
            experiments.STOPPING_RULES,
            horizontal=True,
            key="exp_r_rule",
            format_func={"fixed": "fixed horizon", "sequential": "sequential (may stop early)"}.get,
        )
        start = s[1].date_input("Planned start", value=None, key="exp_r_start")
        submitted = st.form_submit_button("Register (draft)", type="primary")
    if not submitted:
        return
    variants = variants_from_inputs(keys, alloc, models)
    created = widgets.attempt(
        lambda: experiments.register_experiment(
            engine, me, key, name, hypothesis, variants, primary, metric_list(secondary),
            guardrails_from_text(bad_up, bad_down), metric_type, (mde / 100 if relative else mde) or None,
            alpha, power, int(planned) or None, rule, start_datetime(start), mde_relative=relative,
            design=pre.get("design"),
        ),
        rerun=False,
    )  # fmt: skip
    if created is not None:
        st.session_state.pop(PREFILL, None)
        widgets.flash("success", f"Registered {created.key} as a draft. Start it when it is ready.")
        _go("Experiments", created.key)
        st.rerun()


def _manage_view(me: Actor, engine: Engine) -> None:
    rows = experiments.list_experiments(engine)
    if not rows:
        st.info("No experiments yet. Size one in Design, then register it.")
        return
    st.dataframe(experiments_frame(rows), hide_index=True, width="stretch", key="exp_list")
    exp = _select_experiment(rows, "exp_pick_manage")
    if exp is None:
        return
    st.subheader(exp.name or exp.key)
    st.text(f"Status: {exp.status}" + (f" since {fmt.when(exp.start_at)}" if exp.status != "draft" else ""))
    if exp.hypothesis:
        st.text(f"Hypothesis: {exp.hypothesis}")
    cols = st.columns([3, 2])
    cols[0].dataframe(design_summary(exp), hide_index=True, width="stretch", key="exp_design_table")
    cols[1].dataframe(variants_frame(exp, _model_labels(engine)), hide_index=True, width="stretch", key="exp_var_table")
    if exp.status == "concluded":
        st.success(f"Concluded: {OUTCOME_NAMES.get(exp.outcome or '', 'decision recorded')}.")
        st.text(f"Decision: {exp.decision}")
        with st.expander("Follow up in the backlog", icon=":material/playlist_add:"):  # app/backlog_ui's form
            from app import backlog_ui

            backlog_ui.create_from_evidence(engine, me, backlog_ui.EvidenceRef("experiment", str(exp.id), exp.key),
                                            f"Follow up on experiment {exp.key}", key=f"exp_{exp.id}")  # fmt: skip
    st.button("Read the results", icon=":material/query_stats:", key="exp_to_read", on_click=_go,
              args=("Read", exp.key))  # fmt: skip
    if me.can(Role.analyst):
        _lifecycle(me, engine, exp)
    with st.expander("History (audit log)"):
        st.dataframe(history_frame(experiments.history(engine, exp.key)), hide_index=True, width="stretch",
                     key="exp_history")  # fmt: skip


def _design_form(prefix: str, exp, with_reason: bool) -> tuple[bool, dict[str, Any], str]:
    inc, dec = guardrail_texts(exp.guardrail_metrics)
    with st.form(f"{prefix}_{exp.key}"):
        hypothesis = st.text_area("Hypothesis", value=exp.hypothesis or "", key=f"{prefix}_hyp_{exp.key}")
        c = st.columns(2)
        secondary = c[0].text_input("Secondary metrics", value=", ".join(exp.secondary_metrics or ()),
                                    key=f"{prefix}_sec_{exp.key}")  # fmt: skip
        primary = c[1].text_input("Primary metric", value=exp.primary_metric, key=f"{prefix}_pri_{exp.key}")
        g = st.columns(2)
        bad_up = g[0].text_input("Guardrails: bad if they go up", value=inc, key=f"{prefix}_up_{exp.key}")
        bad_down = g[1].text_input("Guardrails: bad if they go down", value=dec, key=f"{prefix}_down_{exp.key}")
        d = st.columns(3)
        planned = d[0].number_input("Planned units per arm", 0, value=int(exp.planned_sample_size or 0), step=100,
                                    key=f"{prefix}_n_{exp.key}")  # fmt: skip
        scale = 100 if exp.mde_relative else 1
        mde = d[1].number_input("MDE (%)" if exp.mde_relative else "MDE", 0.0, value=float(exp.mde or 0) * scale,
                                format="%.4g", key=f"{prefix}_mde_{exp.key}")  # fmt: skip
        rule = d[2].radio(
            "Stopping rule",
            experiments.STOPPING_RULES,
            horizontal=True,
            index=experiments.STOPPING_RULES.index(exp.stopping_rule),
            key=f"{prefix}_rule_{exp.key}",
        )
        reason = ""
        if with_reason:
            reason = st.text_area("Reason for the amendment (recorded in the audit log)", key=f"{prefix}_why_{exp.key}")
        label = "Record the amendment" if with_reason else "Save the draft"
        submitted = st.form_submit_button(label, type="primary")
    candidate = {
        "hypothesis": hypothesis, "primary_metric": primary, "secondary_metrics": metric_list(secondary),
        "guardrail_metrics": guardrails_from_text(bad_up, bad_down), "planned_sample_size": int(planned) or None,
        "mde": (mde / scale) or None, "stopping_rule": rule,
    }  # fmt: skip
    current = experiments.design_of(exp)
    changes = {k: v for k, v in candidate.items() if current.get(k) != v}
    old_mde, new_mde = current.get("mde"), changes.get("mde")
    if new_mde is not None and old_mde is not None and math.isclose(new_mde, old_mde, rel_tol=1e-9):
        changes.pop("mde")
    return submitted, changes, reason


def _lifecycle(me: Actor, engine: Engine, exp) -> None:
    if exp.status == "draft":
        st.button("Start the experiment", type="primary", icon=":material/play_arrow:", key="exp_start",
                  on_click=_start, args=(me, engine, exp.key))  # fmt: skip
        with st.expander("Edit the draft"):
            submitted, changes, _ = _design_form("exp_edit", exp, with_reason=False)
            if submitted:
                widgets.attempt(lambda: experiments.update_draft(engine, me, exp.key, changes),
                                f"Saved the draft of {exp.key}.")  # fmt: skip
        return
    if exp.status in ("running", "stopped"):
        st.info(
            f"The design is frozen since the start ({fmt.when(exp.start_at)}): pre-registration. A change is an "
            "amendment, recorded in the audit log with its reason and the values before and after."
        )
        with st.expander("Amend the design (on the record)"):
            submitted, changes, reason = _design_form("exp_amend", exp, with_reason=True)
            if submitted:
                widgets.attempt(lambda: experiments.amend_experiment(engine, me, exp.key, changes, reason),
                                f"Amendment to {exp.key} recorded.")  # fmt: skip
        if exp.status == "stopped":
            with st.form(f"exp_resume_{exp.key}"):
                why = st.text_input("Why is it safe to continue?", key=f"exp_resume_why_{exp.key}")
                if st.form_submit_button("Resume the experiment"):
                    widgets.attempt(lambda: experiments.set_status(engine, me, exp.key, "running", comment=why),
                                    f"{exp.key} is running again.")  # fmt: skip
        with st.expander("Conclude with a decision"), st.form(f"exp_conclude_{exp.key}"):
            outcome = st.radio("Decision", experiments.OUTCOMES, format_func=OUTCOME_NAMES.get, horizontal=True,
                               key=f"exp_outcome_{exp.key}")  # fmt: skip
            rationale = st.text_area("Rationale (what the data says, what ships, what is next)",
                                     key=f"exp_rationale_{exp.key}")  # fmt: skip
            if st.form_submit_button("Conclude the experiment", type="primary"):
                widgets.attempt(
                    lambda: experiments.conclude(engine, me, exp.key, rationale, outcome=outcome),
                    f"{exp.key} concluded: {OUTCOME_NAMES[outcome]}.",
                )


def _start(me: Actor, engine: Engine, key: str) -> None:
    try:
        experiments.start_experiment(engine, me, key)
    except LoopdeckError as exc:
        widgets.flash("error", str(exc))
        return
    widgets.flash("success", f"{key} is running; its design is now frozen.")


def _read_options() -> tuple[str, bool, readout_svc.ReadoutOptions]:
    reading = st.segmented_control("Reading", list(READINGS), format_func=READINGS.get, key="exp_reading",
                                   required=True, default="frequentist") or "frequentist"  # fmt: skip
    c = st.columns([1, 2])
    scale = c[0].segmented_control("Lift", ["relative", "absolute"], key="exp_scale", required=True,
                                   default="relative") or "relative"  # fmt: skip
    correction = c[1].selectbox("Multiple-testing correction (goal metrics)", list(CORRECTIONS),
                                format_func=CORRECTIONS.get, key="exp_correction")  # fmt: skip
    prior_sd = None
    prior_mean = 0.0
    if reading == "bayesian":
        p = st.columns([1, 1, 1, 3])
        if p[0].toggle("Proper prior", key="exp_prior_on", help="Default: a flat (uninformative) prior."):
            prior_mean = p[1].number_input("Prior mean of the lift", value=0.0, format="%.4g", key="exp_prior_mean")
            prior_sd = p[2].number_input("Prior sd of the lift", 0.0001, value=0.1, format="%.4g", key="exp_prior_sd")
    options = readout_svc.ReadoutOptions(
        difference_type=scale, correction=correction or None, prior_mean=prior_mean, prior_sd=prior_sd
    )
    return reading, scale == "relative", options


def _read_view(me: Actor, engine: Engine) -> None:
    rows = experiments.list_experiments(engine)
    if not rows:
        st.info("No experiments yet.")
        return
    exp = _select_experiment(rows, "exp_pick_read", "Experiment to read")
    reading, relative, options = _read_options()
    try:
        status = rollups.refresh_rollup(engine, exp.id)
        agg = cached_aggregates(database_url(), exp.id, status.generation)
        readout = analysis.compute(exp, agg, options)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    _read_header(readout)
    _health(readout)
    _alerts_and_stop(me, engine, readout, reading)
    st.subheader("Results")
    field, segment = "", readout_svc.ALL
    if readout.segments:
        c = st.columns(2)
        field = c[0].selectbox("Segment by", list(readout.segments), key="exp_segment_by",
                               on_change=lambda: st.session_state.pop("exp_segment", None),
                               help="A cohort field of the exposures (their cohort_<field> columns).")  # fmt: skip
        segment = c[1].selectbox("Segment", [readout_svc.ALL, *readout.segments[field]], key="exp_segment",
                                 format_func=lambda s: "All units" if s == readout_svc.ALL else s)  # fmt: skip
    results = readout.by_segment(field, segment)
    frame = reading_frame(results, reading, relative)
    lift_fig = figs.lift_figure(frame, f"{READINGS[reading]}: lift vs {readout.control}", relative)
    st.plotly_chart(lift_fig, key="exp_lift_fig")
    corrected = options.correction is not None and reading == "frequentist"
    st.dataframe(results_table(results, reading, relative, corrected), hide_index=True, width="stretch",
                 key="exp_results_table")  # fmt: skip
    if options.correction:
        st.caption(f"{CORRECTIONS[options.correction]} correction across the goal metrics x arms of this segment "
                   "(fixed-horizon and CUPED p-values; intervals widened to match).")  # fmt: skip
    figures = [lift_fig]
    if reading == "cuped":
        cf = figs.cuped_figure(cuped_frame(results, relative), relative)
        st.plotly_chart(cf, key="exp_cuped_fig")
        figures.append(cf)
    if readout.segments:
        with st.expander("By segment"):
            metric = st.selectbox("Metric", list(readout.metrics["metric"]), key="exp_seg_metric")
            st.dataframe(segment_table(readout.results, readout.segment_srm, field, metric, reading, relative),
                         hide_index=True, width="stretch", key="exp_seg_table")  # fmt: skip
            st.caption(f"{md(field)}: its {TOP} largest values by units; the rest pooled as {readout_svc.OTHER}, "
                       f"units without it as {readout_svc.NONE}.")  # fmt: skip
    else:
        st.caption("Segments: by variant only (the exposures of this experiment carry no cohort field; import "
                   "them with cohort_<field> columns).")  # fmt: skip
    arms_fig = figs.arms_figure(readout.arms)
    figures.append(arms_fig)
    bandit_fig = _bandit(engine, readout)
    if bandit_fig is not None:
        figures.append(bandit_fig)
    _exports(readout, figures)


def _read_header(readout) -> None:
    exp = readout.experiment
    m = st.columns(4)
    m[0].metric("Status", exp.status)
    m[1].metric("Units exposed", f"{readout.units_total:,}")
    progress = readout.arms["progress"].min()
    m[2].metric("Of planned sample (smallest arm)", fmt.DASH if not math.isfinite(progress) else f"{progress:.0%}")
    m[3].metric("Stopping rule", exp.stopping_rule)
    st.caption(f"Read at {fmt.when(readout.as_of)}; control is {readout.control}. A unit counts for a metric once "
               "it has an observation of it.")  # fmt: skip


def _health(readout) -> None:
    st.subheader("Health checks")
    cols = st.columns(len(readout.health))
    for col, item in zip(cols, readout.health, strict=True):
        with col:
            (st.success if item.ok else st.warning)(f"**{item.title}**: {md(item.message)}")


def _alerts_and_stop(me: Actor, engine: Engine, readout, reading: str) -> None:
    exp = readout.experiment
    for alert in readout.alerts:
        st.error(md(alert.message), icon=":material/warning:")
    if readout.alerts and exp.status == "running":
        if me.can(Role.analyst):
            try:  # idempotent: opens each alert once and files one stop proposal (imports and the CLI do too)
                result = guard.raise_alerts(engine, me, readout, reading)
            except LoopdeckError as exc:
                st.error(str(exc))
            else:
                if result.proposed or result.opened:
                    st.warning(md(result.message), icon=":material/pan_tool:")
        opened = [a for a in guard.experiment_alerts(engine, exp.id) if a.state != "resolved"]
        if opened:
            st.caption(f"Alerts {', '.join(f'#{a.id} ({a.state})' for a in opened)} are in Monitoring's alert list; "
                       "the guard-rails are checked after every exposures or metrics import.")  # fmt: skip
    if exp.status == "concluded":
        outcome = OUTCOME_NAMES.get(exp.outcome or "", "decision recorded")
        st.success(f"Concluded ({outcome}): {md(exp.decision or '')}", icon=":material/gavel:")
        return
    if exp.status == "stopped":
        st.warning(f"Stopped at {fmt.when(exp.end_at)}; conclude it with a decision, or resume it.")
        return
    if readout.stopping.may_stop_for_win:
        st.success(md(readout.stopping.message), icon=":material/flag:")
    else:
        st.info(md(readout.stopping.message))
    if exp.status != "running":
        return
    requests = experiments.stop_requests(engine, exp.key)
    open_request = next((r for r in requests if r.status in ("pending", "approved")), None)
    if open_request is not None and open_request.status == "pending":
        st.info(f"Stop request #{open_request.id} is waiting for an approver (requested by "
                f"{md(open_request.requested_by)}).")  # fmt: skip
    if open_request is not None and open_request.status == "approved" and me.can(Role.analyst):
        st.warning(f"Stop request #{open_request.id} is approved.")
        if st.button(f"Stop the experiment (request #{open_request.id})", type="primary", icon=":material/stop:",
                     key="exp_stop_exec"):  # fmt: skip
            widgets.attempt(lambda: experiments.stop_experiment(engine, me, exp.key, open_request.id),
                            f"{exp.key} is stopped (request #{open_request.id} executed).")  # fmt: skip
        return
    if open_request is None and me.can(Role.analyst):
        title = "Propose to stop (an approver decides)" if readout.alerts else "Propose to stop this experiment"
        with st.expander(title, expanded=bool(readout.alerts)):
            default = "; ".join(a.message for a in readout.alerts)[:1500]
            with st.form(f"exp_stop_{exp.key}"):
                comment = st.text_area("Why stop?", value=default, key=f"exp_stop_why_{exp.key}")
                if st.form_submit_button("Request approval to stop", icon=":material/pan_tool:"):
                    evidence = readout_service.evidence(readout, reading)
                    widgets.attempt(
                        lambda: experiments.request_stop(engine, me, exp.key, comment, evidence),
                        lambda r: f"Stop request #{r.id} filed; an approver other than you decides.",
                    )


def _bandit(engine: Engine, readout):
    st.subheader("Bandit recommendation")
    st.caption("Thompson sampling on the primary metric: the share of traffic each arm would get if the "
               "experiment ran as a multi-armed bandit (at least 100 units per arm; minimum weight 1%).")  # fmt: skip
    b = readout.bandit
    if b is None:
        st.text("No recommendation: the primary metric has no data in some arm yet.")
        return None
    if not b.updated:
        st.text(f"Keeping the current split: {b.message}.")
    fig = figs.bandit_figure(readout.variants, b.weights, readout.arms["planned_share"])
    cols = st.columns([3, 2])
    cols[0].plotly_chart(fig, key="exp_bandit_fig")
    cols[1].dataframe(bandit_frame(readout), hide_index=True, width="stretch", key="exp_bandit_table")
    if st.toggle("Show the recommended allocation over time", key="exp_bandit_history"):
        history = readout_service.bandit_history(engine, readout.experiment.id)
        st.plotly_chart(figs.bandit_history_figure(history), key="exp_bandit_hist_fig")
    return fig


def _exports(readout, figures) -> None:
    key = readout.experiment.key
    c = st.columns(3)
    c[0].download_button("Results (CSV)", data=readout_service.results_csv(readout), file_name=f"{key}-results.csv",
                         mime="text/csv", icon=":material/download:", on_click="ignore", key="exp_csv")  # fmt: skip
    c[1].download_button("Charts (HTML)", data=figs.to_html(figures), file_name=f"{key}-charts.html",
                         mime="text/html", icon=":material/download:", on_click="ignore", key="exp_html")  # fmt: skip
    reason = figs.png_unavailable()
    if reason:
        c[2].caption(md(reason))
        return
    names = [fig.layout.title.text or f"chart {i}" for i, fig in enumerate(figures, 1)]
    c[2].download_button("Charts (PNG, zip)", data=lambda: figs.to_png_zip(figures, names),
                         file_name=f"{key}-charts-png.zip", mime="application/zip", icon=":material/image:",
                         on_click="ignore", key="exp_png",
                         help="Rendered on the server when you click (a few seconds).")  # fmt: skip


def render(me: Actor, engine: Engine) -> None:
    st.title("Experiments")
    _apply_goto()
    if VIEW not in st.session_state:
        st.session_state[VIEW] = "Experiments"
    view = st.segmented_control("View", VIEWS, required=True, key=VIEW, label_visibility="collapsed") or "Experiments"
    if view == "Design":
        _design_view(me)
    elif view == "Register":
        _register_view(me, engine)
    elif view == "Read":
        _read_view(me, engine)
    else:
        _manage_view(me, engine)
