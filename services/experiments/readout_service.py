"""The readout's service entry points: read an experiment, its bandit weights over time, the evidence
snapshot for an approval request, and the CSV export."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.schema_experiments import Exposure, MetricObservation
from services.experiments import lifecycle as experiments
from services.experiments.analysis import compute, variants_of
from services.experiments.readout import Readout, ReadoutOptions
from services.experiments.rollups import aggregate
from services.stats import abtest, bandit

# --- the service entry points -------------------------------------------------------------------


def read_experiment(engine: Engine, key: str | int, options: ReadoutOptions = ReadoutOptions()) -> Readout:
    """The whole readout of one experiment (anybody signed in may read)."""
    exp = experiments.find_experiment(engine, key)
    options = options.check()
    agg = aggregate(engine, exp.id)
    return compute(exp, agg, options)


def bandit_history(engine: Engine, key: str | int, freq: str = "D") -> pd.DataFrame:
    """Thompson weights recomputed from the data up to the end of each day (or week, freq="W") on the
    primary metric, by exposure time: columns period, variant, units, weight, updated."""
    exp = experiments.find_experiment(engine, key)
    control, variants, allocation = variants_of(exp)
    e, m = Exposure.__table__, MetricObservation.__table__
    day = sa.func.date(e.c.ts).label("day")
    q = (
        sa.select(
            day,
            e.c.variant,
            sa.func.count().label("n"),
            sa.func.sum(m.c.value).label("s"),
            sa.func.sum(m.c.value * m.c.value).label("s2"),
            sa.func.min(m.c.value).label("lo"),
            sa.func.max(m.c.value).label("hi"),
        )  # fmt: skip
        .select_from(e.join(m, sa.and_(m.c.experiment_id == e.c.experiment_id, m.c.unit_id == e.c.unit_id)))
        .where(e.c.experiment_id == exp.id, m.c.metric == exp.primary_metric)
        .group_by(day, e.c.variant)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).all(), columns=["day", "variant", "n", "s", "s2", "lo", "hi"])
    columns = ["period", "variant", "units", "weight", "updated"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["period"] = pd.to_datetime(frame["day"].astype(str)).dt.to_period(freq).dt.start_time
    binary = frame["lo"].min() >= 0 and frame["hi"].max() <= 1 and np.isclose(frame["s"].sum(), frame["s2"].sum())
    per = frame.groupby(["period", "variant"])[["n", "s", "s2"]].sum()
    periods = sorted(per.index.get_level_values(0).unique())
    cum = np.zeros((3, len(variants)))
    rows = []
    for period in periods:
        chunk = per.loc[period].reindex(list(variants), fill_value=0)
        cum += chunk[["n", "s", "s2"]].to_numpy(dtype=float).T
        n, s, s2 = cum
        if np.any(n == 0):
            weights, updated = allocation / allocation.sum(), False
        elif binary:
            w = bandit.thompson_weights_conversion(n.astype(int).tolist(), s.round().astype(int).tolist(),
                                                   current_weights=allocation)  # fmt: skip
            weights, updated = np.asarray(w.weights), w.updated
        else:
            mean, var = abtest.summary_from_sums(n, s, s2)
            w = bandit.thompson_weights_mean(n.tolist(), mean.tolist(), np.nan_to_num(var).tolist(),
                                             current_weights=allocation)  # fmt: skip
            weights, updated = np.asarray(w.weights), w.updated
        for v, units, weight in zip(variants, n, weights, strict=True):
            rows.append({"period": period, "variant": v, "units": int(units), "weight": float(weight),
                         "updated": bool(updated)})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _clean(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), 10)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _sample(readout: Readout) -> dict[str, Any] | None:
    """The one "% of planned sample" (services.experiments.progress) as plain values."""
    sample = readout.sample
    if sample is None:
        return None
    return {"units": sample.units, "planned_total": sample.planned_total, "fraction": _clean(sample.fraction),
            "text": sample.text()}  # fmt: skip


def evidence(readout: Readout, reading: str = "frequentist") -> dict[str, Any]:
    """A JSON-ready snapshot for an approval request: health, alerts, and the overall results of the
    primary and guardrail metrics as they were read."""
    overall = readout.overall
    keep = overall[overall["role"].isin(("primary", "guardrail"))]
    columns = ["metric", "role", "variant", "n_control", "n_treatment", "mean_control", "mean_treatment",
               "rel_lift", "rel_ci_low", "rel_ci_high", "p_value", "verdict", "seq_ci_low", "seq_ci_high",
               "seq_verdict", "chance_to_win"]  # fmt: skip
    return {
        "experiment": readout.experiment.key,
        "read_at": readout.as_of.isoformat(),
        "reading": reading,
        "difference_type": readout.options.difference_type,
        "units": {r.variant: int(r.units) for r in readout.arms.itertuples()},
        "planned_sample": _sample(readout),
        "health": [{"check": h.name, "ok": h.ok, "message": h.message} for h in readout.health],
        "alerts": [{"kind": a.kind, "message": a.message} for a in readout.alerts],
        "results": [{c: _clean(getattr(r, c)) for c in columns} for r in keep.itertuples()],
        "stopping": readout.stopping.message,
    }


def results_csv(readout: Readout) -> bytes:
    """All comparisons as CSV (UTF-8), for the export button."""
    frame = readout.results.drop(columns=["estimate"], errors="ignore")
    return frame.to_csv(index=False).encode("utf-8")
