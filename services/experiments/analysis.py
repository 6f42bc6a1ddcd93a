"""The statistics of a readout: every comparison (each treatment arm against control, for each metric,
overall and per segment) read four ways from the aggregates, vectorised; `compute` is pure (no database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from services.core.errors import InvalidInput
from services.core.schema_experiments import Experiment
from services.core.timeutil import utcnow
from services.experiments.checks import alerts_of, bandit_weights, health_items, srm_by_segment, stop_advice
from services.experiments.progress import SampleProgress, sample_progress
from services.experiments.readout import (
    ALL,
    NONE,
    OTHER,
    RESULT_COLUMNS,
    SUMS,
    TOP_SEGMENTS,
    Aggregates,
    Readout,
    ReadoutOptions,
)
from services.stats import abtest, abtest_results, bayesian, cuped, multiple, sequential, small_counts

# --- the statistics ----------------------------------------------------------------------------------


def variants_of(exp: Experiment) -> tuple[str, tuple[str, ...], np.ndarray]:
    keys = tuple(v["key"] for v in exp.variants or ())
    if len(keys) < 2:
        raise InvalidInput(f"Experiment {exp.key} has fewer than two variants: nothing to compare.")
    control = "control" if "control" in keys else keys[0]
    ordered = (control, *[k for k in keys if k != control])
    by_key = {v["key"]: float(v.get("allocation") or 0) for v in exp.variants}
    return control, ordered, np.asarray([by_key[k] for k in ordered], dtype=float)


def _metric_table(exp: Experiment, cells: pd.DataFrame) -> pd.DataFrame:
    """Registered metrics first (primary, secondary, guardrails), then any other metric in the data."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(metric: str, role: str, direction: str) -> None:
        if metric and metric not in seen:
            seen.add(metric)
            rows.append({"metric": metric, "role": role, "direction": direction})

    add(exp.primary_metric, "primary", "higher")
    for metric in exp.secondary_metrics or ():
        add(metric, "secondary", "higher")
    for g in exp.guardrail_metrics or ():
        add(g["metric"], "guardrail", "lower" if g.get("bad_direction", "increase") == "increase" else "higher")
    for metric in sorted(set(cells["metric"]) - seen) if len(cells) else ():
        add(metric, "other", "higher")
    table = pd.DataFrame(rows, columns=["metric", "role", "direction"])
    stats = (
        cells.groupby("metric").agg(
            min_y=("min_y", "min"), max_y=("max_y", "max"), sum_y=("sum_y", "sum"), sum_y2=("sum_y2", "sum"),
            n=("n", "sum"), n_pre=("n_pre", "sum"),
        )
        if len(cells)
        else pd.DataFrame(columns=["min_y", "max_y", "sum_y", "sum_y2", "n", "n_pre"])
    )  # fmt: skip
    table = table.join(stats, on="metric")
    # 0/1 values only <=> all in [0, 1] and sum(y^2) == sum(y) (y^2 < y strictly inside (0, 1)).
    binary = (
        (table["min_y"] >= 0)
        & (table["max_y"] <= 1)
        & np.isclose(table["sum_y2"].astype(float), table["sum_y"].astype(float), rtol=0, atol=1e-9)
    )
    table["type"] = np.where(binary.fillna(False), "conversion", "mean")
    table["cuped"] = table["n_pre"].fillna(0) > 0
    table["observations"] = table["n"].fillna(0).astype(int)
    return table[["metric", "role", "type", "direction", "cuped", "observations"]].reset_index(drop=True)


def _segment_labels(exposures: pd.DataFrame) -> tuple[dict[Any, str], tuple[str, ...]]:
    """One field's exposures: value -> label (top 20 by units, the rest OTHER; NONE counts as a value)."""
    if exposures.empty or (exposures["segment"] == NONE).all():
        return {}, ()
    units = exposures.groupby("segment")["units"].sum().sort_values(ascending=False)
    top = list(units.index[:TOP_SEGMENTS])
    mapping = {value: value if value in top else OTHER for value in units.index}
    labels = tuple(top) + ((OTHER,) if len(units) > TOP_SEGMENTS else ())
    return mapping, labels


def _cube(
    cells: pd.DataFrame, segments: list[str], metrics: list[str], variants: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Sums as arrays [segment, metric, variant] (zeros where there is no data)."""
    shape = (len(segments), len(metrics), len(variants))
    out = {c: np.zeros(shape) for c in SUMS}
    if cells.empty:
        return out
    s_idx = pd.Index(segments).get_indexer(cells["seg"])
    m_idx = pd.Index(metrics).get_indexer(cells["metric"])
    v_idx = pd.Index(variants).get_indexer(cells["variant"])
    ok = (s_idx >= 0) & (m_idx >= 0) & (v_idx >= 0)
    for c in SUMS:
        np.add.at(out[c], (s_idx[ok], m_idx[ok], v_idx[ok]), cells[c].to_numpy(dtype=float)[ok])
    return out


def _grouped(
    keys: np.ndarray, fn: Callable[[np.ndarray, Any], dict[str, np.ndarray]], size: int
) -> dict[str, np.ndarray]:
    """Call `fn(mask, key)` for each distinct key (e.g. (type, direction)) and scatter its arrays back."""
    out: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(keys.tolist()):
        mask = np.asarray([k == key for k in keys.tolist()])
        part = fn(mask, key)
        for name, values in part.items():
            if name not in out:
                out[name] = np.full(size, np.nan, dtype=object if values.dtype.kind in "OUS" else float)
            out[name][mask] = values
    return out


@dataclass(frozen=True, eq=False)
class _Comparisons:
    """Every comparison flattened to arrays in C order of (segment group, metric, treatment arm)."""

    groups: list[tuple[str, str]]
    n_metrics: int
    n_treatments: int
    met_idx: np.ndarray
    mtype: np.ndarray
    direction: np.ndarray
    role: np.ndarray
    has_pre: np.ndarray
    ctrl: dict[str, np.ndarray]  # the control arm's sums, repeated per treatment arm
    trt: dict[str, np.ndarray]  # each treatment arm's sums
    mean_c: np.ndarray
    var_c: np.ndarray
    mean_t: np.ndarray
    var_t: np.ndarray
    keys: np.ndarray  # "type|good direction" of each comparison

    @property
    def size(self) -> int:
        return len(self.groups) * self.n_metrics * self.n_treatments


def _segment_cube(
    agg: Aggregates, options: ReadoutOptions, overall_cells: pd.DataFrame, metric_names: list[str],
    variants: tuple[str, ...],
) -> tuple[list[tuple[str, str]], dict[str, tuple[str, ...]], dict[str, dict], dict[str, np.ndarray]]:  # fmt: skip
    """Segments: (field, label) groups after the overall one, each field's values mapped to its labels,
    and the sums cube over all groups."""
    seg_labels: dict[str, tuple[str, ...]] = {}
    mappings: dict[str, dict] = {}
    fields = sorted(set(agg.exposures["field"]) - {""}) if options.segments and len(agg.exposures) else []
    for f in fields:
        mapping, labels = _segment_labels(agg.exposures[agg.exposures["field"] == f])
        if labels:
            seg_labels[f], mappings[f] = labels, mapping
    groups = [("", ALL)] + [(f, label) for f, labels in seg_labels.items() for label in labels]
    cube = _cube(overall_cells.assign(seg=_group_key("", ALL)), [_group_key("", ALL)], metric_names, variants)
    if seg_labels:
        cells = agg.cells[agg.cells["field"].isin(list(seg_labels))]
        label = pd.Series(OTHER, index=cells.index, dtype=object)
        for f, mapping in mappings.items():
            mine = (cells["field"] == f).to_numpy()
            label[mine] = cells.loc[mine, "segment"].map(mapping).fillna(OTHER)
        cells = cells.assign(seg=cells["field"].astype(str) + "\x1f" + label.astype(str))
        seg_cube = _cube(cells, [_group_key(f, lab) for f, lab in groups[1:]], metric_names, variants)
        cube = {c: np.concatenate([cube[c], seg_cube[c]], axis=0) for c in SUMS}
    return groups, seg_labels, mappings, cube


def _flatten(
    cube: dict[str, np.ndarray], groups: list[tuple[str, str]], metrics_table: pd.DataFrame, n_variants: int
) -> _Comparisons:
    """Flatten the cube to comparisons: (segment, metric, treatment) in C order."""
    S, M, T = len(groups), len(metrics_table), n_variants - 1
    ctrl = {c: np.repeat(cube[c][:, :, 0][:, :, None], T, axis=2).ravel() for c in SUMS}
    trt = {c: cube[c][:, :, 1:].ravel() for c in SUMS}
    met_idx = np.tile(np.repeat(np.arange(M), T), S)
    mtype = metrics_table["type"].to_numpy()[met_idx]
    direction = metrics_table["direction"].to_numpy()[met_idx]
    n_c, n_t = ctrl["n"], trt["n"]
    sy_c, sy_t = ctrl["sum_y"], trt["sum_y"]
    mean_c, var_c = abtest.summary_from_sums(n_c, sy_c, ctrl["sum_y2"])
    mean_t, var_t = abtest.summary_from_sums(n_t, sy_t, trt["sum_y2"])
    conv = mtype == "conversion"
    pc, vc = abtest.conversion_summary(n_c, sy_c)
    pt, vt = abtest.conversion_summary(n_t, sy_t)
    return _Comparisons(
        groups=groups, n_metrics=M, n_treatments=T, met_idx=met_idx, mtype=mtype, direction=direction,
        role=metrics_table["role"].to_numpy()[met_idx], has_pre=metrics_table["cuped"].to_numpy()[met_idx],
        ctrl=ctrl, trt=trt, mean_c=np.where(conv, pc, mean_c), var_c=np.where(conv, vc, var_c),
        mean_t=np.where(conv, pt, mean_t), var_t=np.where(conv, vt, var_t),
        keys=np.asarray([f"{a}|{b}" for a, b in zip(mtype, direction, strict=True)], dtype=object),
    )  # fmt: skip


def _frequentist(cmp: _Comparisons, kw: dict[str, Any], mask: np.ndarray, key: str) -> dict[str, np.ndarray]:
    kind, good = key.split("|")
    n_c, n_t = cmp.ctrl["n"][mask], cmp.trt["n"][mask]
    if kind == "conversion":
        # gbstats' convention: Welch t on proportions; Fisher's exact test where the counts are small.
        r = abtest.conversion_ttest_arrays(
            n_c, cmp.ctrl["sum_y"][mask], n_t, cmp.trt["sum_y"][mask], direction=good, **kw
        )
    else:
        r = abtest.welch_ttest_arrays(
            n_c, cmp.mean_c[mask], cmp.var_c[mask], n_t, cmp.mean_t[mask], cmp.var_t[mask], direction=good, **kw
        )
    exact = r.exact if r.exact is not None else np.zeros(len(r), dtype=bool)
    approx = (
        small_counts.delta_method_unreliable(
            n_c, cmp.mean_c[mask], cmp.var_c[mask], n_t, cmp.mean_t[mask], cmp.var_t[mask]
        )
        & (n_c > 0)
        & (n_t > 0)
    )
    return {
        "exact_test": exact.astype(bool), "rel_small_counts": approx.astype(bool),
        "abs_lift": r.abs_lift, "abs_ci_low": r.abs_ci_low, "abs_ci_high": r.abs_ci_high,
        "rel_lift": r.rel_lift, "rel_ci_low": r.rel_ci_low, "rel_ci_high": r.rel_ci_high,
        "p_value": r.p_value, "ci_low": r.ci_low, "ci_high": r.ci_high, "estimate": r.estimate,
        "verdict": r.verdict.astype(object),
    }  # fmt: skip


def _sequential(
    cmp: _Comparisons, options: ReadoutOptions, kw: dict[str, Any], mask: np.ndarray, key: str
) -> dict[str, np.ndarray]:
    r = sequential.sequential_test_arrays(
        cmp.ctrl["n"][mask], cmp.mean_c[mask], cmp.var_c[mask], cmp.trt["n"][mask], cmp.mean_t[mask],
        cmp.var_t[mask], tuning_n=options.tuning_n, direction=key.split("|")[1], **kw,
    )  # fmt: skip
    return {"seq_ci_low": r.ci_low, "seq_ci_high": r.ci_high, "seq_p_value": r.p_value,
            "seq_verdict": r.verdict.astype(object)}  # fmt: skip


def _bayesian(
    cmp: _Comparisons, options: ReadoutOptions, kw: dict[str, Any], mask: np.ndarray, key: str
) -> dict[str, np.ndarray]:
    r = bayesian.bayesian_test_arrays(
        cmp.ctrl["n"][mask], cmp.mean_c[mask], cmp.var_c[mask], cmp.trt["n"][mask], cmp.mean_t[mask],
        cmp.var_t[mask], prior=options.prior, threshold=options.chance_to_win_threshold,
        direction=key.split("|")[1], **kw,
    )  # fmt: skip
    return {
        "bayes_estimate": r.estimate, "bayes_ci_low": r.ci_low, "bayes_ci_high": r.ci_high,
        "chance_to_win": r.chance_to_win, "risk_control": r.risk_control, "risk_treatment": r.risk_treatment,
        "bayes_verdict": r.verdict.astype(object),
    }  # fmt: skip


def _cuped(cmp: _Comparisons, kw: dict[str, Any], mask: np.ndarray, key: str) -> dict[str, np.ndarray]:
    sums_c = cuped.CupedSums(**{c: cmp.ctrl[c][mask] for c in SUMS[:-1]})
    sums_t = cuped.CupedSums(**{c: cmp.trt[c][mask] for c in SUMS[:-1]})
    r = cuped.cuped_arrays(sums_c, sums_t, direction=key.split("|")[1], **kw)
    a = r.adjusted
    return {
        "cuped_estimate": a.estimate, "cuped_ci_low": a.ci_low, "cuped_ci_high": a.ci_high,
        "cuped_p_value": a.p_value, "cuped_verdict": a.verdict.astype(object),
        "variance_reduction": r.variance_reduction, "theta": r.theta,
    }  # fmt: skip


def _readings(
    cmp: _Comparisons, options: ReadoutOptions, alpha: float, timings: dict[str, float]
) -> dict[str, np.ndarray]:
    """The four readings of every comparison (CUPED only where the metric has pre-period values)."""
    kw = {"alpha": alpha, "difference_type": options.difference_type}
    size, keys, has_pre = cmp.size, cmp.keys, cmp.has_pre
    t = time.perf_counter()
    out = _grouped(keys, lambda mask, key: _frequentist(cmp, kw, mask, key), size)
    for flag in ("exact_test", "rel_small_counts"):
        out[flag] = out[flag] == 1
    timings["frequentist"] = time.perf_counter() - t
    t = time.perf_counter()
    out.update(_grouped(keys, lambda mask, key: _sequential(cmp, options, kw, mask, key), size))
    timings["sequential"] = time.perf_counter() - t
    t = time.perf_counter()
    out.update(_grouped(keys, lambda mask, key: _bayesian(cmp, options, kw, mask, key), size))
    timings["bayesian"] = time.perf_counter() - t
    t = time.perf_counter()
    cuped_keys = np.where(has_pre, keys, "-")
    cuped_out = _grouped(cuped_keys, lambda mask, key: {} if key == "-" else _cuped(cmp, kw, mask, key), size)
    for name in ("cuped_estimate", "cuped_ci_low", "cuped_ci_high", "cuped_p_value", "variance_reduction", "theta"):
        out[name] = np.asarray(cuped_out.get(name, np.full(size, np.nan)), dtype=float)
        out[name][~has_pre] = np.nan
    verdict = np.asarray(cuped_out.get("cuped_verdict", np.full(size, None, dtype=object)), dtype=object)
    verdict[~has_pre] = None
    out["cuped_verdict"] = verdict
    timings["cuped"] = time.perf_counter() - t
    return out


def _correct(out: dict[str, np.ndarray], cmp: _Comparisons, options: ReadoutOptions, alpha: float) -> None:
    """Multiple testing across goal metrics x arms, per segment: fixed-horizon and CUPED p-values (in place)."""
    out["p_adjusted"] = np.full(cmp.size, np.nan)
    out["cuped_p_adjusted"] = np.full(cmp.size, np.nan)
    if not options.correction:
        return
    goal = np.isin(cmp.role, ("primary", "secondary"))
    shape = (len(cmp.groups), cmp.n_metrics * cmp.n_treatments)
    for p_name, adj_name, low, high, est, verdict_name in (
        ("p_value", "p_adjusted", "ci_low", "ci_high", "estimate", "verdict"),
        ("cuped_p_value", "cuped_p_adjusted", "cuped_ci_low", "cuped_ci_high", "cuped_estimate", "cuped_verdict"),
    ):
        p = np.where(goal, out[p_name].astype(float), np.nan).reshape(shape)
        res = multiple.adjust_p_values_arrays(p, method=options.correction, alpha=alpha)
        adj = res.adjusted_p_values.ravel()
        out[adj_name] = adj
        ci = multiple.adjusted_intervals(out[est], out[low], out[high], adj, alpha=alpha)
        sel = goal & ~np.isnan(adj)
        out[low] = np.where(sel, ci.ci_low, out[low])
        out[high] = np.where(sel, ci.ci_high, out[high])
        new = abtest_results.verdicts(adj < alpha, out[est], cmp.direction)
        out[verdict_name] = np.where(sel, new, out[verdict_name]).astype(object)


def _results_frame(
    cmp: _Comparisons, out: dict[str, np.ndarray], metric_names: list[str], variants: tuple[str, ...],
    sample: SampleProgress,
) -> pd.DataFrame:  # fmt: skip
    M, T = cmp.n_metrics, cmp.n_treatments
    n_c, n_t = cmp.ctrl["n"], cmp.trt["n"]
    # The experiment's one "% of planned sample" (services.experiments.progress), the same on every row.
    progress = np.full(cmp.size, np.nan if sample.fraction is None else sample.fraction)
    return pd.DataFrame(
        {
            "field": np.repeat(np.asarray([f for f, _ in cmp.groups], dtype=object), M * T),
            "segment": np.repeat(np.asarray([label for _, label in cmp.groups], dtype=object), M * T),
            "metric": np.asarray(metric_names, dtype=object)[cmp.met_idx],
            "role": cmp.role,
            "type": cmp.mtype,
            "direction": cmp.direction,
            "variant": np.tile(np.asarray(variants[1:], dtype=object), len(cmp.groups) * M),
            "n_control": n_c.astype(int),
            "n_treatment": n_t.astype(int),
            "mean_control": cmp.mean_c,
            "mean_treatment": cmp.mean_t,
            **{c: out[c] for c in RESULT_COLUMNS if c not in ("n_control", "n_treatment", "mean_control",
                                                              "mean_treatment", "progress")},
            "progress": progress,
            "cuped_p_adjusted": out["cuped_p_adjusted"],
            "estimate": out["estimate"],
        }
    )  # fmt: skip


def _arms(
    agg: Aggregates, variants: tuple[str, ...], allocation: np.ndarray, planned: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """The arms' table (planned share, units, share, planned units) and the units exposed to each arm."""
    V = len(variants)
    overall_exposures = agg.exposures[agg.exposures["field"] == ""] if len(agg.exposures) else agg.exposures
    units = overall_exposures.groupby("variant")["units"].sum() if len(agg.exposures) else pd.Series(dtype=float)
    arm_units = np.asarray([float(units.get(v, 0)) for v in variants])
    frame = pd.DataFrame(
        {
            "variant": variants,
            "planned_share": allocation / allocation.sum(),
            "units": arm_units.astype(int),
            "share": arm_units / arm_units.sum() if arm_units.sum() else np.zeros(V),
            "planned_units": [int(planned) if planned == planned else None] * V,
        }
    )
    return frame, arm_units


def compute(
    exp: Experiment, agg: Aggregates, options: ReadoutOptions = ReadoutOptions(), as_of: datetime | None = None
) -> Readout:
    """Every reading of every comparison from the aggregates (no database)."""
    options = options.check()
    t0 = time.perf_counter()
    control, variants, allocation = variants_of(exp)
    alpha = float(exp.alpha or 0.05)
    overall_cells = agg.cells[agg.cells["field"] == ""] if len(agg.cells) else agg.cells
    metrics_table = _metric_table(exp, overall_cells)
    metric_names = list(metrics_table["metric"])
    groups, seg_labels, mappings, cube = _segment_cube(agg, options, overall_cells, metric_names, variants)
    cmp = _flatten(cube, groups, metrics_table, len(variants))
    timings = {"prepare": time.perf_counter() - t0}
    out = _readings(cmp, options, alpha, timings)
    t = time.perf_counter()
    _correct(out, cmp, options, alpha)
    timings["correction"] = time.perf_counter() - t
    t = time.perf_counter()
    planned = float(exp.planned_sample_size) if exp.planned_sample_size else np.nan
    sample = sample_progress(exp, agg.units_total)
    results = _results_frame(cmp, out, metric_names, variants, sample)
    # Arms, health, alerts, the stopping rule and the bandit.
    arms, arm_units = _arms(agg, variants, allocation, planned)
    segment_srm = srm_by_segment(agg.exposures, mappings, seg_labels, variants, allocation)
    health = health_items(arm_units, allocation, agg, results, variants)
    alerts = alerts_of(exp, health, results)
    stopping = stop_advice(exp, results)
    arm_bandit = bandit_weights(exp, cube, metrics_table, variants, allocation)
    timings["rest"] = time.perf_counter() - t
    timings["statistics"] = time.perf_counter() - t0
    timings["sql"] = agg.seconds
    return Readout(
        experiment=exp, options=options, as_of=as_of or utcnow(), control=control, variants=variants, arms=arms,
        metrics=metrics_table, segments=seg_labels, results=results, segment_srm=segment_srm, health=health,
        alerts=alerts, stopping=stopping, bandit=arm_bandit, units_total=agg.units_total,
        multi_units=agg.multi_units, timings=timings, sample=sample,
    )  # fmt: skip


def _group_key(field: str, label: str) -> str:
    return f"{field}\x1f{label}"
