"""A streaming generator of the demo's churn story at any size (10M predictions and beyond), one day at a
time: nothing but one day's rows is ever in memory. Separate from data/scenario.py (the demo story that
data/demo.py loads through the services), whose generator holds every row and stops at scale 10 (2M).

    .venv/bin/python -m data.scale_gen --rows 10000000 --out bench/out/scale-10m
    .venv/bin/python -m data.scale_gen --rows 1000000 --days 90 --out /tmp/scale-1m --no-outcomes

Each day is drawn from its own seed (seed, day), so any day can be regenerated alone and the same
arguments give the same rows. The story is data/scenario.py's: 90 days of a churn model's predictions
(7 numeric and 2 categorical features, cohorts region, platform and tier); from day 60 the mobile app
reports about a third of the sessions and is slower, so sessions_per_week and app_latency_ms drift and
the model's accuracy drops on mobile only. Outcomes arrive 7-30 days after the prediction (2% never),
so the last weeks are mostly unlabelled at the snapshot (NOW, the end of the last day). The score is a
fixed logistic formula of the observed features (no sklearn fit: generating must stay per-row cheap).

Written as Parquet (zstd), partitioned the Hive way so DuckDB, Spark, Trino and ClickHouse read it
unchanged (docs/scale.md):

    <out>/predictions/model=<name>/version=<v>/day=<YYYY-MM-DD>/part-0.parquet
    <out>/outcomes/model=<name>/version=<v>/day=<YYYY-MM-DD>/part-0.parquet   (by the prediction's day)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SEED = 20261207
START = datetime(2026, 8, 1, tzinfo=UTC)
DAYS = 90
RELEASE_DAY = 60
MODEL_NAME = "churn"
VERSION = 1
MAX_ROWS = 1_000_000_000  # a bounded cost: 1e9 rows is 100x the 10M target
NUMERIC_FEATURES = ("tenure_months", "monthly_spend", "sessions_per_week", "support_tickets",
                    "days_since_last_login", "app_latency_ms", "discount_pct")  # fmt: skip
CATEGORICAL_FEATURES = ("plan", "payment_method")
COHORT_FIELDS = ("region", "platform", "tier")
REGIONS, REGION_P = ("NA", "EU", "APAC", "LATAM"), (0.35, 0.30, 0.22, 0.13)
PLATFORMS, PLATFORM_P = ("web", "ios", "android"), (0.45, 0.30, 0.25)
TIERS, TIER_P = ("free", "pro", "enterprise"), (0.55, 0.35, 0.10)
PLANS = ("trial", "monthly", "annual")
PAYMENTS = ("card", "paypal", "bank_transfer", "invoice")
PREDICTION_COLUMNS = ("request_id", "ts", "score", "predicted_label", *NUMERIC_FEATURES, *CATEGORICAL_FEATURES,
                      *COHORT_FIELDS)  # fmt: skip


@dataclass(frozen=True)
class ScaleSpec:
    rows: int
    days: int = DAYS
    seed: int = SEED
    model: str = MODEL_NAME
    version: int = VERSION

    def __post_init__(self) -> None:
        if not 1 <= self.rows <= MAX_ROWS:
            raise ValueError(f"rows must be between 1 and {MAX_ROWS:,}")
        if not 1 <= self.days <= 3660:
            raise ValueError("days must be between 1 and 3660")

    @property
    def now(self) -> datetime:
        """The snapshot: the end of the last day. Outcomes due later are not known yet."""
        return START + timedelta(days=self.days)

    def day_date(self, day: int) -> date:
        return (START + timedelta(days=day)).date()

    def daily_counts(self) -> np.ndarray:
        """Rows per day: weekends at 75%, 15% growth over the period; sums to `rows` exactly."""
        day = np.arange(self.days)
        weekday = (START.weekday() + day) % 7
        weight = np.where(weekday >= 5, 0.75, 1.0) * (1.0 + 0.15 * day / self.days)
        return np.random.default_rng(self.seed).multinomial(self.rows, weight / weight.sum())


def _choice(rng: np.random.Generator, values: tuple[str, ...], p, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(rng.choice(len(values), size=n, p=p), categories=list(values))


def _conditional(rng: np.random.Generator, given: pd.Categorical, table: dict[str, tuple], values) -> pd.Categorical:
    """For each row, a value drawn with the probabilities of its `given` category (inverse CDF per row)."""
    cdf = np.cumsum(np.asarray([table[c] for c in given.categories], dtype=np.float64), axis=1)
    rows = cdf[given.codes]
    codes = (rng.random(given.size)[:, None] > rows).sum(axis=1)
    return pd.Categorical.from_codes(np.minimum(codes, len(values) - 1), categories=list(values))


def generate_day(spec: ScaleSpec, day: int, n: int) -> pd.DataFrame:
    """One day's predictions with the truth: `label` (NaN until its outcome has arrived by spec.now),
    `outcome_ts` (NaT when never), and the prediction columns. Vectorised; about 1 us a row."""
    rng = np.random.default_rng([spec.seed, day])
    offset = np.sort(rng.random(n))
    ts = pd.Timestamp(START + timedelta(days=day)) + pd.to_timedelta(np.round(offset * 86_400_000), unit="ms")
    region = _choice(rng, REGIONS, REGION_P, n)
    platform = _choice(rng, PLATFORMS, PLATFORM_P, n)
    tier = _choice(rng, TIERS, TIER_P, n)
    t = np.asarray(tier.codes)
    mobile = np.asarray(platform.codes) > 0
    post = mobile & (day >= RELEASE_DAY)
    plan = _conditional(rng, tier, {"free": (0.3, 0.6, 0.1), "pro": (0.05, 0.6, 0.35),
                                    "enterprise": (0.0, 0.3, 0.7)}, PLANS)  # fmt: skip
    payment = _conditional(rng, tier, {"free": (0.7, 0.28, 0.02, 0.0), "pro": (0.6, 0.2, 0.1, 0.1),
                                       "enterprise": (0.15, 0.0, 0.25, 0.6)}, PAYMENTS)  # fmt: skip
    engagement = rng.normal(size=n)
    tenure = np.minimum(rng.gamma(1.4, 15.0, n), 120).astype(np.int64)
    spend = np.round(np.asarray([8.0, 49.0, 600.0])[t] * rng.lognormal(0.0, 0.35, n), 2)
    sessions_true = rng.poisson(np.exp(1.55 + 0.45 * engagement + 0.15 * mobile))
    days_since = rng.poisson(np.exp(1.2 - 0.55 * engagement))
    tickets = rng.poisson(0.45 + 0.35 * (t == 2) + 0.3 * (engagement < -1))
    region_codes = np.asarray(region.codes)
    latency = np.where(mobile, 290.0, 210.0) * np.asarray([1.0, 1.0, 1.25, 1.15])[region_codes]
    latency = np.round(latency * rng.lognormal(0.0, 0.28, n) * np.where(post, 1.7, 1.0)).astype(np.int64)
    discount = np.asarray([0, 0, 0, 5, 10, 15, 20, 30])[rng.integers(0, 8, n)]
    plan_term = np.asarray([1.5, 0.4, -1.2])[np.asarray(plan.codes)]
    tier_term = np.asarray([0.4, 0.0, -0.7])[t]
    base = (2.3 + 2.0 * (days_since > 9) - 1.0 * np.log1p(tenure) + 0.5 * tickets + plan_term + tier_term
            - 0.05 * discount + 0.002 * (latency - 250.0))  # fmt: skip
    actual = rng.random(n) < 1.0 / (1.0 + np.exp(-(base - 0.45 * np.minimum(sessions_true, 14))))
    sessions_seen = np.where(post, rng.binomial(sessions_true, 0.35), sessions_true)
    # The model reads the sessions the app reports: after the release, mobile looks disengaged.
    score = 1.0 / (1.0 + np.exp(-(0.9 * base - 0.4 * np.minimum(sessions_seen, 14) + rng.normal(0, 0.3, n))))
    delay = pd.to_timedelta(np.round((7.0 + 23.0 * rng.beta(2.0, 2.5, n)) * 86_400_000), unit="ms")
    outcome_ts = pd.Series(ts + delay).where(rng.random(n) >= 0.02)
    known = (outcome_ts <= pd.Timestamp(spec.now)).to_numpy()
    return pd.DataFrame({
        "request_id": _request_ids(f"{spec.model}-{spec.version}-{day}-", n),
        "ts": ts, "score": score, "predicted_label": (score >= 0.5).astype(np.int8),
        "tenure_months": tenure, "monthly_spend": spend, "sessions_per_week": sessions_seen.astype(np.int64),
        "support_tickets": tickets.astype(np.int64), "days_since_last_login": days_since.astype(np.int64),
        "app_latency_ms": latency, "discount_pct": discount.astype(np.int64), "plan": plan,
        "payment_method": payment, "region": region, "platform": platform, "tier": tier,
        "label": np.where(known, actual.astype(np.float64), np.nan), "outcome_ts": outcome_ts,
    })  # fmt: skip


def _request_ids(prefix: str, n: int) -> pd.Series:
    """prefix + 0..n-1 as a string column, built in Arrow (a Python loop costs 1.6 us a row)."""
    ids = pc.binary_join_element_wise(prefix, pc.cast(pa.array(np.arange(n)), pa.string()), "")
    return ids.to_pandas()


def iter_days(spec: ScaleSpec) -> Iterator[tuple[int, pd.DataFrame]]:
    """(day, that day's rows) for each day in order; one day in memory at a time."""
    for day, n in enumerate(spec.daily_counts()):
        yield day, generate_day(spec, day, int(n))


def partition_dir(root: Path, kind: str, spec: ScaleSpec, day: int) -> Path:
    return root / kind / f"model={spec.model}" / f"version={spec.version}" / f"day={spec.day_date(day).isoformat()}"


def write_day(root: Path, spec: ScaleSpec, day: int, frame: pd.DataFrame, outcomes: bool = True) -> int:
    """Writes one day's predictions (and the outcomes known by spec.now) as Parquet; returns bytes written."""
    written = 0
    pred = pa.Table.from_pandas(frame[list(PREDICTION_COLUMNS)], preserve_index=False)
    target = partition_dir(root, "predictions", spec, day)
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(pred, target / "part-0.parquet", compression="zstd", row_group_size=256 * 1024)
    written += (target / "part-0.parquet").stat().st_size
    if outcomes:
        known = frame[frame["label"].notna()]
        out = pa.Table.from_pandas(
            pd.DataFrame({"request_id": known["request_id"], "label": known["label"].astype(np.int8),
                          "ts": known["outcome_ts"]}), preserve_index=False)  # fmt: skip
        target = partition_dir(root, "outcomes", spec, day)
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(out, target / "part-0.parquet", compression="zstd")
        written += (target / "part-0.parquet").stat().st_size
    return written


def write_dataset(root: Path, spec: ScaleSpec, outcomes: bool = True, echo=print) -> tuple[int, int]:
    """Writes every day; returns (rows, bytes). Peak memory is one day's rows, whatever spec.rows is."""
    rows = size = 0
    started = time.perf_counter()
    for day, frame in iter_days(spec):
        size += write_day(root, spec, day, frame, outcomes)
        rows += len(frame)
        if echo and (day % 10 == 9 or day == spec.days - 1):
            echo(f"  day {day + 1}/{spec.days}: {rows:,} rows, {size / 2**20:,.0f} MiB, "
                 f"{rows / (time.perf_counter() - started):,.0f} rows/s")  # fmt: skip
    return rows, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", required=True, help="folder for the Parquet partitions")
    parser.add_argument("--no-outcomes", action="store_true", help="predictions only")
    args = parser.parse_args(argv)
    spec = ScaleSpec(args.rows, args.days, args.seed)
    rows, size = write_dataset(Path(args.out), spec, outcomes=not args.no_outcomes)
    print(f"wrote {rows:,} predictions ({size / 2**20:,.0f} MiB of Parquet) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
