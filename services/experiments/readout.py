"""Reading an experiment: exposures and metric observations aggregated in SQL, then every comparison
(each treatment arm against control, for each metric, overall and per segment) read four ways with
the vectorised statistics of services.stats:

- frequentist fixed horizon: two-proportion z-test (0/1 metrics) or Welch t-test (other metrics),
  absolute and relative lift (delta method) with their CIs, p-value, verdict;
- sequential: always-valid confidence sequences (GrowthBook's formulation, N* = 5000);
- Bayesian: chance to beat control, risk, credible interval; flat prior unless a proper one is given;
- CUPED: regression adjustment on the pre-period value (metrics that have pre_value), with the
  variance reduction achieved and the unadjusted result beside it;
plus Holm / Benjamini-Hochberg across the goal metrics (off by default), health checks (SRM, too few
units, implausible lift, units in several arms), guardrail and SRM alerts that propose to stop, the
sequential rule's "may stop for a win", and Thompson-sampling weights for the arms.

Data conventions:
- A unit counts for a metric when it has an observation of it. Metrics arrive late (a 30-day
  retention is known 30 days after exposure), so exposed units without one are not counted as 0.
- Units exposed to more than one arm are left out of every metric (and counted in a health check).
- A metric whose values are all 0 or 1 is a conversion; any other metric is a mean.
- Good direction: higher for goal metrics; for a guardrail the opposite of its bad direction.
- Segments come from the exposures' cohort fields (Exposure.cohorts: platform, region, tier...; any
  number of them): for each field, its 20 largest values, the rest pooled as "(other)", units without
  the field as "(none)". The rollups keep the sums overall and per (field, value); "(none)" is the
  overall sums minus the field's values (the sums are additive). Results are keyed by (field,
  segment); the overall rows have field "" and segment "(all)".

This module holds the readout's vocabulary (options, results, segment labels); the work is in
- rollups: the SQL side (rollup tables kept up to date; `aggregate` reads them);
- analysis: `compute`, pure (no database; tests call both), every reading of every comparison;
- checks: health checks, alerts, the stopping advice and the bandit weights;
- readout_service: the entry points (`read_experiment`, `bandit_history`, `evidence`, `results_csv`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from services.core.errors import InvalidInput
from services.core.schema_experiments import Experiment
from services.experiments.progress import SampleProgress
from services.stats import bandit, bayesian, sequential

READINGS = ("frequentist", "sequential", "bayesian", "cuped")
CORRECTIONS = ("holm", "bh")
ALL = "(all)"
OTHER = "(other)"
NONE = "(none)"
TOP_SEGMENTS = 20
SUMS = ("n", "sum_y", "sum_y2", "sum_x", "sum_x2", "sum_xy", "n_pre")


# --- options and results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadoutOptions:
    """How to read. The prior is on the lift (relative or absolute, as `difference_type`); without
    `prior_sd` it is flat. `correction` adjusts the fixed-horizon and CUPED p-values across the goal
    metrics x treatment arms of each segment."""

    difference_type: str = "relative"
    correction: str | None = None
    prior_mean: float = 0.0
    prior_sd: float | None = None
    segments: bool = True
    tuning_n: float = sequential.DEFAULT_TUNING_N
    chance_to_win_threshold: float = bayesian.DEFAULT_CHANCE_TO_WIN_THRESHOLD

    def check(self) -> ReadoutOptions:
        if self.difference_type not in ("relative", "absolute"):
            raise InvalidInput("The lift is read relative or absolute.")
        if self.correction not in (None, *CORRECTIONS):
            raise InvalidInput(f"The correction is off, {' or '.join(CORRECTIONS)}.")
        if self.prior_sd is not None and not (math.isfinite(self.prior_sd) and self.prior_sd > 0):
            raise InvalidInput("The prior's standard deviation must be above 0 (or leave it empty for a flat prior).")
        if not math.isfinite(self.prior_mean):
            raise InvalidInput("The prior's mean must be a number.")
        return self

    @property
    def prior(self) -> bayesian.GaussianPrior:
        if self.prior_sd is None:
            return bayesian.FLAT_PRIOR
        return bayesian.GaussianPrior(mean=float(self.prior_mean), variance=float(self.prior_sd) ** 2, proper=True)


@dataclass(frozen=True, eq=False)
class Aggregates:
    """The sums a readout needs. `cells`: variant, field, segment, metric and the sums (y the value, x
    the pre-period value with NULL as 0), n_pre (units that have a pre value), min_y, max_y; field ""
    and segment "" is every unit, (field, NONE) the units without the field. `exposures`: variant,
    field, segment, units (every exposure row, for SRM), keyed the same way."""

    cells: pd.DataFrame
    exposures: pd.DataFrame
    units_total: int
    multi_units: int
    seconds: float


@dataclass(frozen=True)
class HealthItem:
    name: str  # srm, min_units, large_lift, multiple_exposure, small_counts, relative_lift
    title: str
    ok: bool
    message: str
    value: float


@dataclass(frozen=True)
class Alert:
    kind: str  # srm, guardrail
    message: str
    metric: str | None = None
    variant: str | None = None
    propose_stop: bool = True


@dataclass(frozen=True)
class StopAdvice:
    rule: str  # fixed, sequential
    may_stop_for_win: bool
    winners: tuple[str, ...]
    message: str


@dataclass(frozen=True, eq=False)
class Readout:
    experiment: Experiment
    options: ReadoutOptions
    as_of: datetime
    control: str
    variants: tuple[str, ...]
    arms: pd.DataFrame  # variant, planned share, units, share, planned per arm
    metrics: pd.DataFrame  # metric, role, type, direction, cuped (has pre values)
    segments: dict[str, tuple[str, ...]]  # cohort field -> its segment labels (top 20, OTHER, NONE); {} if none
    results: pd.DataFrame  # one row per (field, segment) x metric x treatment arm; see RESULT_COLUMNS
    segment_srm: pd.DataFrame  # field, segment, units, srm_p
    health: tuple[HealthItem, ...]
    alerts: tuple[Alert, ...]
    stopping: StopAdvice
    bandit: bandit.BanditWeights | None
    units_total: int
    multi_units: int
    timings: dict[str, float] = field(default_factory=dict)
    sample: SampleProgress | None = None  # the one "% of planned sample" (services.experiments.progress)

    @property
    def overall(self) -> pd.DataFrame:
        return self.results[self.results["segment"] == ALL]

    @property
    def comparisons(self) -> int:
        return len(self.results)

    @property
    def fields(self) -> tuple[str, ...]:
        """The cohort fields the results are broken down by."""
        return tuple(self.segments)

    def by_segment(self, field: str, segment: str = ALL) -> pd.DataFrame:
        """The results of one segment of a field (ALL: the overall rows)."""
        r = self.results
        if segment == ALL:
            return r[r["segment"] == ALL]
        return r[(r["field"] == field) & (r["segment"] == segment)]


NO_OBSERVATIONS = "No results yet: no metric observations for the exposed units."
NO_PRE_PERIOD = (
    "No metric has pre-period values: CUPED needs pre_value in the metric observations. The table shows the "
    "unadjusted results."
)


def why_empty(results: pd.DataFrame, reading: str) -> str | None:
    """Why a reading of these results has nothing to draw, or None when it has something.

    CUPED reads only the metrics that have pre-period values, so its reading can be empty while units have
    observations: that is "no pre-period values", never "no metric observations"."""
    if results is None or not len(results) or not ((results["n_control"] + results["n_treatment"]) > 0).any():
        return NO_OBSERVATIONS
    if reading == "cuped" and not results["cuped_verdict"].notna().any():
        return NO_PRE_PERIOD
    return None


def without_pre_period(results: pd.DataFrame) -> list[str]:
    """The metrics of these results that CUPED cannot adjust (no pre-period values), in order."""
    if results is None or not len(results):
        return []
    keep = results.groupby("metric", sort=False)["cuped_verdict"].apply(lambda v: v.notna().any())
    return [str(m) for m, has in keep.items() if not has]


# Columns of Readout.results (besides field, segment, metric, role, type, direction, variant):
RESULT_COLUMNS = (
    # frequentist fixed horizon
    "n_control", "n_treatment", "mean_control", "mean_treatment", "abs_lift", "abs_ci_low", "abs_ci_high",
    "rel_lift", "rel_ci_low", "rel_ci_high", "p_value", "p_adjusted", "ci_low", "ci_high", "verdict", "progress",
    # small counts: Fisher's exact test read the conversions (no normal CI); the relative lift's delta method is
    # unreliable (services.stats.small_counts)
    "exact_test", "rel_small_counts",
    # sequential
    "seq_ci_low", "seq_ci_high", "seq_p_value", "seq_verdict",
    # Bayesian
    "bayes_estimate", "bayes_ci_low", "bayes_ci_high", "chance_to_win", "risk_control", "risk_treatment",
    "bayes_verdict",
    # CUPED (NaN where the metric has no pre-period values)
    "cuped_estimate", "cuped_ci_low", "cuped_ci_high", "cuped_p_value", "cuped_verdict", "variance_reduction",
    "theta",
)  # fmt: skip
