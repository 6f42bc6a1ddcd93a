"""Experiment readout: 6 arms (control + 5 treatments) x 20 metrics x 20 segments = 2,000 comparisons,
all four readings (frequentist, sequential, Bayesian, CUPED) from 1,000,000 simulated exposures.

Target: the readout in under 2 s, from summary statistics. The aggregation from exposures to those
summaries (a pandas groupby) is timed separately, as is the per-comparison scalar API for contrast.

.venv/bin/python bench/bench_experiment_stats.py [--exposures 1000000] [--seed 6]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.stats.abtest import (  # noqa: E402
    conversion_summary,
    summary_from_sums,
    two_proportion_ztest_arrays,
    welch_ttest,
    welch_ttest_arrays,
)
from services.stats.bayesian import BayesianArrays, bayesian_test_arrays  # noqa: E402
from services.stats.cuped import CupedArrays, CupedSums, cuped_arrays  # noqa: E402
from services.stats.multiple import adjust_p_values_arrays  # noqa: E402
from services.stats.sequential import SequentialArrays, sequential_test_arrays  # noqa: E402
from services.stats.srm import srm_p_values  # noqa: E402

ARMS, SEGMENTS, METRICS = 6, 20, 20
CONVERSION_METRICS = 10  # metrics 0-9 are conversions, 10-19 are means (revenue-like)


@dataclass(frozen=True, eq=False)
class Readout:
    timings: dict[str, float]
    summaries: tuple[np.ndarray, ...]  # n_c, mean_c, var_c, n_t, mean_t, var_t per comparison
    p_value: np.ndarray
    sequential: SequentialArrays
    bayesian: BayesianArrays
    cuped: CupedArrays
    srm_p: np.ndarray
    holm_p: np.ndarray


def simulate(n: int, seed: int) -> pd.DataFrame:
    """Exposures with an arm, a segment and, per metric, the in-experiment value y and pre-period x."""
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, ARMS, n).astype(np.int8)
    seg_share = 1.0 / np.arange(1, SEGMENTS + 1)  # Zipf-like segment sizes: the tail segments are small
    segment = rng.choice(SEGMENTS, n, p=seg_share / seg_share.sum()).astype(np.int8)
    cols: dict[str, np.ndarray] = {"arm": arm, "segment": segment}
    lift = 1.0 + 0.02 * arm  # each treatment arm a little better than the last
    for m in range(METRICS):
        if m < CONVERSION_METRICS:
            base = 0.05 + 0.01 * m
            propensity = rng.beta(2, 2 / base - 2, n)  # unit-level propensity: pre and post correlate
            x = rng.random(n) < propensity
            y = rng.random(n) < np.minimum(propensity * lift, 1.0)
            cols[f"y{m}"], cols[f"x{m}"] = y.astype(np.float32), x.astype(np.float32)
        else:
            level = rng.lognormal(2.0, 0.8, n)
            cols[f"x{m}"] = (level * rng.lognormal(0, 0.5, n)).astype(np.float32)
            cols[f"y{m}"] = (level * lift * rng.lognormal(0, 0.5, n)).astype(np.float32)
    return pd.DataFrame(cols)


def aggregate(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per (arm, segment, metric): n, sum y, sum x, sum y^2, sum x^2, sum xy. Arrays of shape (arm, seg, metric).

    One pandas groupby over every column. For 0/1 conversions y^2 = y and x^2 = x, so only the
    cross product is added for them.
    """
    key = df["arm"].to_numpy().astype(np.int16) * SEGMENTS + df["segment"].to_numpy()
    cols: dict[str, np.ndarray] = {}
    for m in range(METRICS):
        y = df[f"y{m}"].to_numpy(np.float64)
        x = df[f"x{m}"].to_numpy(np.float64)
        cols[f"sy{m}"], cols[f"sx{m}"], cols[f"sxy{m}"] = y, x, x * y
        if m >= CONVERSION_METRICS:
            cols[f"syy{m}"], cols[f"sxx{m}"] = y * y, x * x
    frame = pd.DataFrame(cols, copy=False)
    frame["n"] = 1.0
    cells = range(ARMS * SEGMENTS)
    sums = frame.groupby(key, sort=True).sum().reindex(cells, fill_value=0.0)

    def grid(prefix: str, fallback: str | None = None) -> np.ndarray:
        names = [f"{prefix}{m}" if f"{prefix}{m}" in sums else f"{fallback}{m}" for m in range(METRICS)]
        return sums[names].to_numpy().reshape(ARMS, SEGMENTS, METRICS)

    n = np.broadcast_to(sums["n"].to_numpy().reshape(ARMS, SEGMENTS, 1), (ARMS, SEGMENTS, METRICS)).astype(float)
    return {
        "n": n,
        "sy": grid("sy"),
        "sx": grid("sx"),
        "syy": grid("syy", "sy"),
        "sxx": grid("sxx", "sx"),
        "sxy": grid("sxy"),
    }


def readout(agg: dict[str, np.ndarray]) -> Readout:
    """All four readings for every treatment arm x segment x metric, plus SRM and Holm across metrics."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def pair(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Control (arm 0) broadcast against the 5 treatment arms, flattened to 2,000 comparisons.
        return np.broadcast_to(a[:1], a[1:].shape).ravel(), a[1:].ravel()

    n_c, n_t = pair(agg["n"])
    sy_c, sy_t = pair(agg["sy"])
    metric = np.broadcast_to(np.arange(METRICS), agg["n"][1:].shape).ravel()
    is_conv = metric < CONVERSION_METRICS
    mean_c, var_c = summary_from_sums(n_c, sy_c, pair(agg["syy"])[0])
    mean_t, var_t = summary_from_sums(n_t, sy_t, pair(agg["syy"])[1])
    # Conversions use p(1-p) per unit (GrowthBook's ProportionStatistic); means the sample variance.
    p_c, pv_c = conversion_summary(n_c, sy_c)
    p_t, pv_t = conversion_summary(n_t, sy_t)
    mean_c, var_c = np.where(is_conv, p_c, mean_c), np.where(is_conv, pv_c, var_c)
    mean_t, var_t = np.where(is_conv, p_t, mean_t), np.where(is_conv, pv_t, var_t)
    timings["summaries"] = time.perf_counter() - t0

    t = time.perf_counter()
    z = two_proportion_ztest_arrays(n_c[is_conv], sy_c[is_conv], n_t[is_conv], sy_t[is_conv])
    w = welch_ttest_arrays(
        n_c[~is_conv], mean_c[~is_conv], var_c[~is_conv], n_t[~is_conv], mean_t[~is_conv], var_t[~is_conv]
    )
    p_value = np.empty(n_c.size)
    p_value[is_conv], p_value[~is_conv] = z.p_value, w.p_value
    timings["frequentist"] = time.perf_counter() - t

    t = time.perf_counter()
    seq = sequential_test_arrays(n_c, mean_c, var_c, n_t, mean_t, var_t)
    timings["sequential"] = time.perf_counter() - t

    t = time.perf_counter()
    bayes = bayesian_test_arrays(n_c, mean_c, var_c, n_t, mean_t, var_t)
    timings["bayesian"] = time.perf_counter() - t

    t = time.perf_counter()
    sums = {k: pair(agg[k]) for k in ("n", "sy", "sx", "syy", "sxx", "sxy")}
    cuped = cuped_arrays(CupedSums(*(sums[k][0] for k in sums)), CupedSums(*(sums[k][1] for k in sums)))
    timings["cuped"] = time.perf_counter() - t

    t = time.perf_counter()
    srm = srm_p_values(agg["n"][:, :, 0].T)  # one SRM test per segment, 6 arms
    # Holm across the 20 goal metrics, one family per (arm, segment): 100 families in one call.
    holm = adjust_p_values_arrays(p_value.reshape(-1, METRICS), method="holm").adjusted_p_values
    timings["srm+holm"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return Readout(
        timings=timings,
        summaries=(n_c, mean_c, var_c, n_t, mean_t, var_t),
        p_value=p_value,
        sequential=seq,
        bayesian=bayes,
        cuped=cuped,
        srm_p=srm,
        holm_p=holm,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exposures", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()

    t = time.perf_counter()
    df = simulate(args.exposures, args.seed)
    print(f"simulated {len(df):,} exposures x {METRICS} metrics (pre + post) in {time.perf_counter() - t:.2f} s")

    t, cpu = time.perf_counter(), time.process_time()
    agg = aggregate(df)
    t_agg = time.perf_counter() - t
    # CPU time beside wall time: on a shared machine the wall clock includes waiting for a core.
    print(
        f"aggregate (pandas groupby -> n, sums, sums of squares and products): {t_agg:.3f} s "
        f"(cpu {time.process_time() - cpu:.3f} s)"
    )

    readout(agg)  # warm-up: scipy/statsmodels lazy imports and first-call set-up
    cpu = time.process_time()
    res = readout(agg)
    cpu_readout = time.process_time() - cpu
    n_c, mean_c, var_c, n_t, mean_t, var_t = res.summaries
    print(f"readout of {n_c.size:,} comparisons (5 arms x {SEGMENTS} segments x {METRICS} metrics), 4 readings each:")
    for k, v in res.timings.items():
        print(f"  {k:<12} {v * 1000:8.1f} ms")
    total = res.timings["total"]
    status = "OK" if total < 2.0 else "OVER TARGET"
    print(
        f"readout total: {total:.3f} s (cpu {cpu_readout:.3f} s; target < 2 s: {status}); "
        f"with aggregation: {total + t_agg:.3f} s"
    )

    # For contrast: the scalar API, one Python call per comparison (frequentist reading only).
    t = time.perf_counter()
    for i in range(n_c.size):
        welch_ttest(n_c[i], mean_c[i], var_c[i], n_t[i], mean_t[i], var_t[i])
    print(
        f"scalar API, one welch_ttest call per comparison x {n_c.size:,}: {time.perf_counter() - t:.3f} s "
        "(one reading; the vectorised path does all four)"
    )
    print(
        f"sanity: significant (p < 0.05) {int(np.sum(res.p_value < 0.05))}, "
        f"after Holm {int(np.sum(res.holm_p < 0.05))}, "
        f"sequential may-stop-for-win {int(np.sum(res.sequential.may_stop_for_win))}, "
        f"Bayesian wins {int(np.sum(res.bayesian.verdict == 'win'))}, "
        f"CUPED median variance reduction {np.nanmedian(res.cuped.variance_reduction):.1%}, "
        f"segments with SRM {int(np.sum(res.srm_p < 0.001))}"
    )


if __name__ == "__main__":
    main()
