"""The demo scenario: 90 days of a churn model in production, generated with numpy/pandas (no DB).

The story (every later screen of Loopdeck shows a part of it), anchored to fixed dates so it is the
same on every machine and in every test:

    2026-06-02 .. 07-31  history (not loaded): the data v1 is trained on
    2026-07-31           v1 (logistic regression) registered
    2026-08-01  day  0   v1 serves 100% (full). Window of loaded predictions starts.
    2026-08-04  day  3   experiment "retention-offer-v1" starts (control vs 10%-off offer, 50/50)
    2026-09-08  day 38   ... concluded: the offer wins on retained_30d, support_contacts flat
    2026-09-13  day 43   v2 (gradient boosting, parent v1) trained on history + days 0-42, registered
    2026-09-15  day 45   v2 canary at 10%
    2026-09-20  day 50   v2 full (90%): v2 took over. v1 keeps a 10% holdout as the control arm of the
                         running experiment "churn-model-v2-ab" (v1 vs v2 on retained_30d)
    2026-09-30  day 60   mobile app 5.0 (ios + android): a session-counting bug makes
                         sessions_per_week drop to about a third, and the app really is slower
                         (app_latency_ms x1.7). The models read low sessions as disengagement:
                         accuracy on mobile drops; web is unchanged. Feedback about logouts, missing
                         sessions and slowness jumps.
    2026-10-29  day 89   last day of predictions.  NOW = 2026-10-30 00:00 UTC: the snapshot.

Outcomes (did the customer churn) arrive 7-30 days after the prediction, so the last weeks are
mostly unlabelled. `build_scenario(scale)` scales every count (predictions, feedback, experiment
units); the story holds from scale 0.1 up. Same seed and scale -> identical data and models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from data import themes

SEED = 20261029
MODEL_NAME = "churn"
START = datetime(2026, 8, 1, tzinfo=UTC)  # day 0
DAYS = 90
NOW = START + timedelta(days=DAYS)  # 2026-10-30 00:00 UTC, the moment the snapshot is taken
HISTORY_DAYS = 60
RELEASE_DAY = 60  # mobile app 5.0
V2_TRAINED_DAY = 43
CANARY_DAY = 45
FULL_DAY = 50
CANARY_SHARE = 0.10
HOLDOUT_SHARE = 0.10  # v1's share after v2 took over (control arm of churn-model-v2-ab)
N_PREDICTIONS = 200_000
MAX_TRAIN_ROWS = 120_000
THRESHOLD = 0.5

NUMERIC_FEATURES = (
    "tenure_months",
    "monthly_spend",
    "sessions_per_week",
    "support_tickets",
    "days_since_last_login",
    "app_latency_ms",
    "discount_pct",
)
CATEGORICAL_FEATURES = ("plan", "payment_method")
COHORT_FIELDS = ("region", "platform", "tier")
REGIONS, REGION_P = ("NA", "EU", "APAC", "LATAM"), (0.35, 0.30, 0.22, 0.13)
PLATFORMS, PLATFORM_P = ("web", "ios", "android"), (0.45, 0.30, 0.25)
TIERS, TIER_P = ("free", "pro", "enterprise"), (0.55, 0.35, 0.10)
MOBILE = ("ios", "android")

# Feedback per day at scale 1 (mobile_app: before / after the release).
FEEDBACK_RATES = {
    "mobile_app": (2.0, 24.0),
    "pricing": (7.0, 7.0),
    "false_churn_alert": (5.0, 5.0),
    "support_response": (6.0, 6.0),
    "data_export": (3.5, 3.5),
    "onboarding_docs": (4.0, 4.0),
}


def day_start(day: float) -> datetime:
    return START + timedelta(days=day)


# --- the parts of a scenario ---------------------------------------------------------------------


@dataclass
class TrainedModel:
    version: int
    estimator: Pipeline
    trained_at: datetime
    feature_schema: dict[str, str]
    params: dict[str, Any]
    metrics: dict[str, float]
    training_data: dict[str, Any]
    model_card: dict[str, Any]
    parent_version: int | None = None
    trigger: str = "manual"


@dataclass(frozen=True)
class DeploymentSpec:
    version: int
    stage: str
    traffic_share: float
    started_at: datetime
    reason: str


@dataclass
class ExperimentSpec:
    key: str
    name: str
    hypothesis: str
    variants: list[dict[str, Any]]  # {key, model_version (number or None), allocation}
    primary_metric: str
    secondary_metrics: list[str]
    guardrail_metrics: list[dict[str, str]]
    metric_type: str
    mde: float
    alpha: float
    power: float
    planned_sample_size: int
    stopping_rule: str
    start_at: datetime
    status: str  # running | concluded
    end_at: datetime | None = None
    decision: str | None = None
    outcome: str | None = None  # ship | do-not-ship | iterate, for a concluded one


@dataclass(frozen=True)
class DemoUser:
    email: str
    role: str
    password: str
    name: str


DEMO_USERS = (
    DemoUser("admin@loopdeck.demo", "admin", "demo-admin-2026", "Ada Admin"),
    DemoUser("approver@loopdeck.demo", "approver", "demo-approver-2026", "Priya Approver"),
    DemoUser("analyst@loopdeck.demo", "analyst", "demo-analyst-2026", "Ana Analyst"),
    DemoUser("viewer@loopdeck.demo", "viewer", "demo-viewer-2026", "Victor Viewer"),
)


@dataclass
class Scenario:
    scale: float
    seed: int
    requests: pd.DataFrame  # one row per served prediction, with the truth (churn_prob, actual_label, outcome_ts)
    models: list[TrainedModel]
    deployments: list[DeploymentSpec]
    feedback: pd.DataFrame  # includes `theme`, the generator's truth (never imported)
    experiments: list[ExperimentSpec]
    exposures: pd.DataFrame
    metrics: pd.DataFrame
    users: tuple[DemoUser, ...] = DEMO_USERS
    facts: dict[str, Any] = field(default_factory=dict)

    # frames in the column layout of services.ingest.import_frame -------------------------------

    def predictions_frame(self) -> pd.DataFrame:
        r = self.requests
        frame = pd.DataFrame(
            {
                "request_id": r["request_id"],
                "model_name": MODEL_NAME,
                "model_version": r["model_version"].astype(int),
                "ts": r["ts"],
                "score": r["score"],
                "predicted_label": r["predicted_label"].astype(int),
            }
        )
        for name in NUMERIC_FEATURES + CATEGORICAL_FEATURES:
            frame[f"feature_{name}"] = r[name]
        for name in COHORT_FIELDS:
            frame[f"cohort_{name}"] = r[name]
        return frame

    def outcomes_frame(self) -> pd.DataFrame:
        r = self.requests[self.requests["labelled"]]
        return pd.DataFrame(
            {"request_id": r["request_id"], "ts": r["outcome_ts"], "actual_label": r["actual_label"].astype(int)}
        ).sort_values("ts", kind="stable", ignore_index=True)

    def feedback_frame(self) -> pd.DataFrame:
        return self.feedback.drop(columns=["theme"])

    def exposures_frame(self) -> pd.DataFrame:
        return self.exposures.copy()

    def metrics_frame(self) -> pd.DataFrame:
        return self.metrics.copy()


# --- generation ----------------------------------------------------------------------------------


def _choice(rng: np.random.Generator, values: tuple[str, ...], p, n: int) -> np.ndarray:
    return np.asarray(values, dtype=object)[rng.choice(len(values), size=n, p=p)]


def _conditional_choice(
    rng: np.random.Generator, key: np.ndarray, table: dict[str, tuple[float, ...]], values: tuple[str, ...]
) -> np.ndarray:
    """One draw per row from the distribution `table[key]`."""
    u = rng.random(len(key))
    out = np.empty(len(key), dtype=object)
    for k, probs in table.items():
        mask = key == k
        cuts = np.cumsum(probs)
        out[mask] = np.asarray(values, dtype=object)[np.minimum(np.searchsorted(cuts, u[mask]), len(values) - 1)]
    return out


def _daily_counts(rng: np.random.Generator, n: int, first_day: int, days: int) -> np.ndarray:
    day = np.arange(first_day, first_day + days)
    weekday = (START.weekday() + day) % 7
    weight = np.where(weekday >= 5, 0.75, 1.0) * (1.0 + 0.15 * (day - first_day) / days)
    return rng.multinomial(n, weight / weight.sum())


def generate_requests(rng: np.random.Generator, n: int, first_day: int, days: int) -> pd.DataFrame:
    """Prediction requests of `days` days from `first_day` (negative days: the history before the
    window), with observed features, cohorts and the truth: churn probability and label, and when
    the label arrives."""
    counts = _daily_counts(rng, n, first_day, days)
    n = int(counts.sum())
    day = np.repeat(np.arange(first_day, first_day + days), counts)
    offset = np.sort(day + rng.random(n))  # fractional day, sorted -> ts order
    day = np.floor(offset).astype(int)

    region = _choice(rng, REGIONS, REGION_P, n)
    platform = _choice(rng, PLATFORMS, PLATFORM_P, n)
    tier = _choice(rng, TIERS, TIER_P, n)
    mobile = np.isin(platform, MOBILE)
    post = mobile & (day >= RELEASE_DAY)

    plan = _conditional_choice(
        rng,
        tier,
        {"free": (0.3, 0.6, 0.1), "pro": (0.05, 0.6, 0.35), "enterprise": (0.0, 0.3, 0.7)},
        ("trial", "monthly", "annual"),
    )
    payment = _conditional_choice(
        rng,
        tier,
        {"free": (0.7, 0.28, 0.02, 0.0), "pro": (0.6, 0.2, 0.1, 0.1), "enterprise": (0.15, 0.0, 0.25, 0.6)},
        ("card", "paypal", "bank_transfer", "invoice"),
    )
    engagement = rng.normal(size=n)
    tenure = np.minimum(rng.gamma(1.4, 15.0, n), 120).astype(int)
    spend_median = np.select([tier == "free", tier == "pro"], [8.0, 49.0], 600.0)
    spend = np.round(spend_median * rng.lognormal(0.0, 0.35, n), 2)
    sessions_true = rng.poisson(np.exp(1.55 + 0.45 * engagement + 0.15 * mobile))
    days_since = rng.poisson(np.exp(1.2 - 0.55 * engagement))
    tickets = rng.poisson(0.45 + 0.35 * (tier == "enterprise") + 0.3 * (engagement < -1))
    latency = np.where(mobile, 290.0, 210.0) * np.select([region == "APAC", region == "LATAM"], [1.25, 1.15], 1.0)
    latency = latency * rng.lognormal(0.0, 0.28, n) * np.where(post, 1.7, 1.0)
    discount = np.asarray([0, 0, 0, 5, 10, 15, 20, 30])[rng.integers(0, 8, n)]

    # The truth: churn depends on real engagement (true sessions), not on what the app reports.
    logit = (
        2.3
        - 0.45 * np.minimum(sessions_true, 14)
        + 2.0 * (days_since > 9)
        - 1.0 * np.log1p(tenure)
        + 0.5 * tickets
        + 1.5 * ((tickets >= 2) & (tenure < 6))
        + 0.002 * (latency - 250.0)
        + 0.5 * (latency > 600.0)
        + np.select([plan == "trial", plan == "monthly"], [1.5, 0.4], -1.2)
        + np.select([payment == "paypal", payment == "invoice", payment == "bank_transfer"], [0.2, -0.5, -0.1], 0.0)
        + np.select([tier == "free", tier == "enterprise"], [0.4, -0.7], 0.0)
        - 0.05 * discount
        + 0.15 * (region == "LATAM")
    )
    churn_prob = 1.0 / (1.0 + np.exp(-logit))
    actual = (rng.random(n) < churn_prob).astype(np.int8)
    # What the app reports: after 5.0 it counts only about a third of the mobile sessions.
    sessions_seen = np.where(post, rng.binomial(sessions_true, 0.35), sessions_true)
    delay_days = 7.0 + 23.0 * rng.beta(2.0, 2.5, n)
    ts = pd.to_datetime(START) + pd.to_timedelta(np.round(offset * 86_400_000), unit="ms")
    outcome_ts = ts + pd.to_timedelta(np.round(delay_days * 86_400_000), unit="ms")
    lost = rng.random(n) < 0.02  # some labels never arrive
    return pd.DataFrame(
        {
            "ts": ts,
            "t": np.round(offset * 86_400_000) / 86_400_000,  # days since START (as ts, in ms)
            "day": day,
            "tenure_months": tenure,
            "monthly_spend": spend,
            "sessions_per_week": sessions_seen.astype(int),
            "support_tickets": tickets.astype(int),
            "days_since_last_login": days_since.astype(int),
            "app_latency_ms": np.round(latency).astype(int),
            "discount_pct": discount.astype(int),
            "plan": plan,
            "payment_method": payment,
            "region": region,
            "platform": platform,
            "tier": tier,
            "true_sessions_per_week": sessions_true.astype(int),
            "churn_prob": churn_prob,
            "actual_label": actual,
            "outcome_ts": outcome_ts,
            "label_lost": lost,
        }
    )


def make_pipeline(kind: str, seed: int = SEED) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), list(NUMERIC_FEATURES)),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), list(CATEGORICAL_FEATURES)),
        ]
    )
    if kind == "logreg":
        clf = LogisticRegression(C=1.0, max_iter=1000)
    else:
        clf = HistGradientBoostingClassifier(
            max_iter=80,
            learning_rate=0.1,
            max_leaf_nodes=31,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
    return Pipeline([("prep", prep), ("clf", clf)])


def feature_schema() -> dict[str, str]:
    schema = {name: "numeric" for name in NUMERIC_FEATURES}
    schema.update({name: "categorical" for name in CATEGORICAL_FEATURES})
    return schema


def _json_params(pipeline: Pipeline) -> dict[str, Any]:
    clf = pipeline.named_steps["clf"]
    params = {k: v for k, v in clf.get_params().items() if isinstance(v, (bool, int, float, str)) or v is None}
    return {"estimator": type(clf).__name__, "preprocessing": "StandardScaler + OneHotEncoder", **params}


def train_model(
    rows: pd.DataFrame, kind: str, version: int, trained_at: datetime, seed: int, parent: int | None
) -> TrainedModel:
    """Fit on 80% of the labelled rows (at most MAX_TRAIN_ROWS), measure on the other 20%."""
    if len(rows) > MAX_TRAIN_ROWS:
        rows = rows.sample(MAX_TRAIN_ROWS, random_state=seed)
    columns = list(NUMERIC_FEATURES + CATEGORICAL_FEATURES)
    x_train, x_test, y_train, y_test = train_test_split(
        rows[columns],
        rows["actual_label"].astype(int),
        test_size=0.2,
        stratify=rows["actual_label"],
        random_state=seed,
    )
    pipeline = make_pipeline(kind, seed).fit(x_train, y_train)
    proba = pipeline.predict_proba(x_test)[:, 1]
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, proba >= THRESHOLD)), 4),
        "roc_auc": round(float(roc_auc_score(y_test, proba)), 4),
        "log_loss": round(float(log_loss(y_test, proba)), 4),
        "brier": round(float(brier_score_loss(y_test, proba)), 4),
        "positive_rate": round(float(y_test.mean()), 4),
        "threshold": THRESHOLD,
    }
    window_start, window_end = rows["ts"].min(), rows["ts"].max()
    training_data = {
        "window_start": window_start.isoformat(),
        "window_end": window_end.isoformat(),
        "rows": int(len(x_train)),
        "holdout_rows": int(len(x_test)),
        "labels_known_by": trained_at.isoformat(),
        "churn_rate": round(float(rows["actual_label"].mean()), 4),
    }
    estimator_name = type(pipeline.named_steps["clf"]).__name__
    card = {
        "summary": f"Churn risk (probability of cancelling within 30 days), {estimator_name}.",
        "intended_use": "Rank active customers for retention outreach; label 1 = likely to churn (score >= 0.5).",
        "owner": "growth-ml@loopdeck.demo",
        "training_data": (
            f"{training_data['rows']:,} labelled requests from {window_start:%Y-%m-%d} to {window_end:%Y-%m-%d} "
            f"(labels known by {trained_at:%Y-%m-%d})."
        ),
        "evaluation": f"Random 20% holdout ({len(x_test):,} rows): "
        + ", ".join(f"{k} {metrics[k]}" for k in ("accuracy", "roc_auc", "log_loss", "brier")),
        "limitations": (
            "Relies on app-reported engagement (sessions_per_week, app_latency_ms): a change in how the "
            "apps report them changes the scores."
        ),
        "ethical_considerations": (
            "No protected attributes are used as features; region and tier are monitored as cohorts."
        ),
    }
    return TrainedModel(
        version=version,
        estimator=pipeline,
        trained_at=trained_at,
        feature_schema=feature_schema(),
        params=_json_params(pipeline),
        metrics=metrics,
        training_data=training_data,
        model_card=card,
        parent_version=parent,
        trigger="manual" if parent is None else "schedule",
    )


def _labelled_by(frame: pd.DataFrame, when: datetime) -> pd.DataFrame:
    return frame[(frame["outcome_ts"] <= pd.Timestamp(when)) & ~frame["label_lost"]]


def _serve(rng: np.random.Generator, requests: pd.DataFrame, models: dict[int, TrainedModel]) -> None:
    """Which version served each request (the deployment history), and its real score."""
    u = rng.random(len(requests))
    day = requests["day"].to_numpy()
    version = np.ones(len(requests), dtype=int)
    version[(day >= CANARY_DAY) & (day < FULL_DAY) & (u < CANARY_SHARE)] = 2
    version[(day >= FULL_DAY) & (u >= HOLDOUT_SHARE)] = 2
    score = np.empty(len(requests))
    columns = list(NUMERIC_FEATURES + CATEGORICAL_FEATURES)
    for v, model in models.items():
        mask = version == v
        if mask.any():
            score[mask] = model.estimator.predict_proba(requests.loc[mask, columns])[:, 1]
    requests["model_version"] = version
    requests["score"] = np.round(score, 6)
    requests["predicted_label"] = (requests["score"] >= THRESHOLD).astype(np.int8)


def _deployments() -> list[DeploymentSpec]:
    return [
        DeploymentSpec(1, "full", 1.0, day_start(0), "First churn model in production."),
        DeploymentSpec(
            2,
            "canary",
            CANARY_SHARE,
            day_start(CANARY_DAY),
            "v2 (gradient boosting) beats v1 offline on AUC and log loss: canary at 10%.",
        ),
        DeploymentSpec(
            2, "full", 1.0 - HOLDOUT_SHARE, day_start(FULL_DAY), "Canary healthy for 5 days: v2 takes over (90%)."
        ),
        DeploymentSpec(
            1,
            "canary",
            HOLDOUT_SHARE,
            day_start(FULL_DAY),
            "v1 keeps 10% as the holdout (control arm) of experiment churn-model-v2-ab.",
        ),
    ]


def _planned_per_arm(baseline: float, relative_mde: float, alpha: float, power: float) -> int:
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    effect = proportion_effectsize(baseline * (1 + relative_mde), baseline)
    return int(np.ceil(NormalIndPower().solve_power(effect, alpha=alpha, power=power, ratio=1.0)))


PRE_PERIOD_SEED = 20261207  # the pre-period covariates' own generator: every other number stays the same
PRE_PERIOD_RHO = 0.8  # latent correlation of a customer's retention before and during an experiment
PRE_PERIOD_RETAINED = 0.70  # share retained in the 30 days before exposure


def _pre_period(u: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each unit's retained_30d in the 30 days before its exposure (CUPED's covariate), 1.0 or 0.0.

    `u` are the uniform draws that decided retention in the experiment (retained when u < the arm's
    rate); the pre-period value shares a Gaussian latent with them (correlation PRE_PERIOD_RHO), so a
    customer who stayed before tends to stay again. It never sees the arm: the two arms' pre-periods
    differ by chance only, as randomisation promises."""
    latent = PRE_PERIOD_RHO * norm.ppf(u) + np.sqrt(1 - PRE_PERIOD_RHO**2) * rng.standard_normal(len(u))
    return (norm.cdf(latent) < PRE_PERIOD_RETAINED).astype(float)


def _experiments(rng: np.random.Generator, scale: float) -> tuple[list[ExperimentSpec], pd.DataFrame, pd.DataFrame]:
    planned = _planned_per_arm(0.70, 0.03, 0.05, 0.8)
    offer = ExperimentSpec(
        key="retention-offer-v1",
        name="Retention offer: 10% off for customers at churn risk",
        hypothesis=(
            "Offering 10% off for three months to customers the churn model flags raises 30-day retention "
            "by at least 3% (relative) without more support contacts."
        ),
        variants=[
            {"key": "control", "model_version": None, "allocation": 0.5},
            {"key": "treatment", "model_version": None, "allocation": 0.5},
        ],
        primary_metric="retained_30d",
        secondary_metrics=["revenue_30d"],
        guardrail_metrics=[{"metric": "support_contacts", "bad_direction": "increase"}],
        metric_type="conversion",
        mde=0.03,
        alpha=0.05,
        power=0.8,
        planned_sample_size=planned,
        stopping_rule="fixed",
        start_at=day_start(3),
        status="concluded",
        end_at=day_start(38) + timedelta(hours=10),
        decision=(
            "Ship the offer to all flagged customers: retained_30d up about 5% relative, revenue_30d up "
            "(CUPED-adjusted), support_contacts flat."
        ),
        outcome="ship",
    )
    model_ab = ExperimentSpec(
        key="churn-model-v2-ab",
        name="Churn model v2 vs v1 (holdout)",
        hypothesis=(
            "Retention outreach driven by v2's scores keeps more customers for 30 days than outreach driven by "
            "v1's scores."
        ),
        variants=[
            {"key": "control", "model_version": 1, "allocation": HOLDOUT_SHARE},
            {"key": "treatment", "model_version": 2, "allocation": 1.0 - HOLDOUT_SHARE},
        ],
        primary_metric="retained_30d",
        secondary_metrics=[],
        guardrail_metrics=[{"metric": "support_contacts", "bad_direction": "increase"}],
        metric_type="conversion",
        mde=0.03,
        alpha=0.05,
        power=0.8,
        planned_sample_size=planned,
        stopping_rule="sequential",
        start_at=day_start(FULL_DAY),
        status="running",
    )

    exposures, metrics = [], []
    # retention-offer-v1: ~20k customers exposed over days 3-10, read out 30 days later.
    n = max(200, round(20_000 * scale))
    ts = pd.to_datetime(day_start(3)) + pd.to_timedelta(np.sort(rng.random(n)) * 7 * 86_400, unit="s").round("s")
    treated = rng.random(n) < 0.5
    units = np.asarray([f"cust-{100_001 + i}" for i in range(n)], dtype=object)
    exposures.append(
        pd.DataFrame(
            {
                "experiment_key": offer.key,
                "unit_id": units,
                "variant": np.where(treated, "treatment", "control"),
                "ts": ts,
            }
        )
    )
    pre_rng = np.random.default_rng(PRE_PERIOD_SEED)
    u = rng.random(n)
    retained = u < np.where(treated, 0.735, 0.70)
    pre_retained = _pre_period(u, pre_rng)
    pre_revenue = np.round(rng.lognormal(np.log(45.0), 0.8, n), 2)
    revenue = np.round(
        pre_revenue * rng.lognormal(0.0, 0.3, n) * np.where(treated, 1.04, 1.0) * np.where(retained, 1.0, 0.5), 2
    )
    contacts = rng.poisson(np.where(treated, 0.81, 0.80))
    read_at = ts + pd.Timedelta(days=30)
    for metric, value, pre in (
        ("retained_30d", retained.astype(float), pre_retained),
        ("revenue_30d", revenue, pre_revenue),
        ("support_contacts", contacts.astype(float), None),
    ):
        metrics.append(
            pd.DataFrame(
                {
                    "experiment_key": offer.key,
                    "unit_id": units,
                    "metric": metric,
                    "value": value,
                    "pre_value": pre if pre is not None else np.nan,
                    "ts": read_at,
                }
            )
        )

    # churn-model-v2-ab: ~300 customers a day from day 50; only those exposed 30+ days ago are read out.
    per_day = rng.poisson(300 * scale, DAYS - FULL_DAY)
    n = int(per_day.sum())
    offsets = np.repeat(np.arange(FULL_DAY, DAYS), per_day) + rng.random(n)
    ts = pd.to_datetime(START) + pd.to_timedelta(np.sort(offsets) * 86_400, unit="s").round("s")
    treated = rng.random(n) >= HOLDOUT_SHARE
    units = np.asarray([f"cust-{300_001 + i}" for i in range(n)], dtype=object)
    exposures.append(
        pd.DataFrame(
            {
                "experiment_key": model_ab.key,
                "unit_id": units,
                "variant": np.where(treated, "treatment", "control"),
                "ts": ts,
            }
        )
    )
    read_at = ts + pd.Timedelta(days=30)
    ready = np.asarray(read_at <= pd.Timestamp(NOW))
    u = rng.random(n)
    retained = u < np.where(treated, 0.715, 0.70)
    pre_retained = _pre_period(u, pre_rng)
    contacts = rng.poisson(0.8, n)
    for metric, value, pre in (
        ("retained_30d", retained.astype(float), pre_retained),
        ("support_contacts", contacts.astype(float), np.full(n, np.nan)),
    ):
        metrics.append(
            pd.DataFrame(
                {
                    "experiment_key": model_ab.key,
                    "unit_id": units[ready],
                    "metric": metric,
                    "value": value[ready],
                    "pre_value": pre[ready],
                    "ts": read_at[ready],
                }
            )
        )
    # Each unit's cohort fields (platform, region, tier) on its exposure, for results by segment; drawn from
    # their own generator so the rest of the story (and every number it produces) stays the same.
    cohort_rng = np.random.default_rng(20261122)
    for frame in exposures:
        for name, values, p in (("platform", PLATFORMS, PLATFORM_P), ("region", REGIONS, REGION_P),
                                ("tier", TIERS, TIER_P)):  # fmt: skip
            frame[f"cohort_{name}"] = _choice(cohort_rng, values, p, len(frame))
    return [offer, model_ab], pd.concat(exposures, ignore_index=True), pd.concat(metrics, ignore_index=True)


def _feedback(rng: np.random.Generator, scale: float, requests: pd.DataFrame) -> pd.DataFrame:
    keys, days = [], []
    for key, (before, after) in FEEDBACK_RATES.items():
        rate = np.where(np.arange(DAYS) >= RELEASE_DAY, after, before) * scale
        counts = rng.poisson(rate)
        keys.append(np.repeat(key, counts.sum()))
        days.append(np.repeat(np.arange(DAYS), counts))
    theme = np.concatenate(keys).astype(object)
    offset = np.concatenate(days) + rng.random(len(theme))
    order = np.argsort(offset, kind="stable")
    theme, offset = theme[order], np.round(offset[order] * 86_400) / 86_400  # whole seconds
    n = len(theme)

    texts = [
        themes.compose(themes.THEMES[key], rng, themes.BEFORE_RELEASE.get(key) if t < RELEASE_DAY else None)
        for key, t in zip(theme, offset, strict=True)
    ]
    for i in rng.choice(n, size=min(n, max(5, round(0.015 * n))), replace=False):
        texts[i] = themes.add_pii(texts[i], rng)
    for j, i in enumerate(sorted(rng.choice(n, size=min(n, max(6, round(0.002 * n))), replace=False))):
        texts[i] = themes.add_markup(texts[i], j)
    ratings = np.empty(n, dtype=int)
    sources = np.empty(n, dtype=object)
    for key, spec in themes.THEMES.items():
        rows = np.flatnonzero(theme == key)
        ratings[rows] = 1 + rng.choice(5, size=len(rows), p=spec.ratings)
        sources[rows] = np.asarray(list(spec.sources), dtype=object)[
            rng.choice(len(spec.sources), size=len(rows), p=list(spec.sources.values()))
        ]

    # Link some items to the prediction they are about (made within the 14 days before).
    request_id = np.full(n, None, dtype=object)
    platform = np.full(n, None, dtype=object)  # the linked prediction's platform
    corrected = np.full(n, -1)
    req_t = requests["t"].to_numpy()
    req_ids = requests["request_id"].to_numpy(dtype=object)
    req_platform = requests["platform"].to_numpy(dtype=object)
    predicted = requests["predicted_label"].to_numpy()
    mobile = requests["platform"].isin(MOBILE).to_numpy()
    after_release = requests["day"].to_numpy() >= RELEASE_DAY
    loyal_flagged = (predicted == 1) & (requests["tenure_months"].to_numpy() >= 24)
    everyone = np.ones(len(requests), dtype=bool)
    # Which predictions an item can be about: (before the release, from a day after it).
    pools = {"mobile_app": (mobile, mobile & after_release), "false_churn_alert": (loyal_flagged, loyal_flagged)}
    link_p = {"mobile_app": 0.6, "false_churn_alert": 0.8}
    for key in themes.THEMES:
        linkable = (theme == key) & (rng.random(n) < link_p.get(key, 0.4))
        late = offset >= RELEASE_DAY + 1
        halves = (linkable & ~late, linkable & late)
        for pool_mask, rows in zip(pools.get(key, (everyone, everyone)), halves, strict=True):
            pool, rows = np.flatnonzero(pool_mask), np.flatnonzero(rows)
            hi = np.searchsorted(req_t[pool], offset[rows], side="right")
            lo = np.searchsorted(req_t[pool], offset[rows] - 14.0)
            ok = hi > lo
            pick = pool[lo[ok] + (rng.random(int(ok.sum())) * (hi[ok] - lo[ok])).astype(int)]
            linked = rows[ok]
            request_id[linked] = req_ids[pick]
            platform[linked] = req_platform[pick]
            if key == "false_churn_alert":
                corrected[linked[rng.random(len(linked)) < 0.7]] = 0
            elif key == "mobile_app":
                corrected[linked[(predicted[pick] == 1) & (rng.random(len(linked)) < 0.25)]] = 0
    # A text names the platform of the prediction it is linked to (an iOS customer writes about the iOS app).
    texts = [themes.match_platform(text, p) for text, p in zip(texts, platform, strict=True)]
    return pd.DataFrame(
        {
            "feedback_id": [f"fb-{i + 1:05d}" for i in range(n)],
            "ts": pd.to_datetime(START) + pd.to_timedelta(np.round(offset * 86_400), unit="s"),
            "request_id": request_id,
            "source": sources,
            "rating": ratings,
            "text": texts,
            "corrected_label": pd.array(np.where(corrected < 0, None, corrected), dtype="Int64"),
            "category": None,
            "theme": theme,
        }
    )


def build_scenario(scale: float = 1.0, seed: int = SEED) -> Scenario:
    """The whole story as DataFrames and fitted models. Deterministic for a given (scale, seed)."""
    if not 0.01 <= scale <= 10:
        raise ValueError("scale must be between 0.01 and 10")
    # One thread: the same result everywhere, and several times faster than OpenMP on a busy box.
    with threadpool_limits(limits=1):
        return _build(scale, seed)


def _build(scale: float, seed: int) -> Scenario:
    rng = np.random.default_rng(seed)
    n = max(2_000, round(N_PREDICTIONS * scale))
    history = generate_requests(rng, round(n * HISTORY_DAYS / DAYS * 0.95), -HISTORY_DAYS, HISTORY_DAYS)
    requests = generate_requests(rng, n, 0, DAYS)

    v1_at = day_start(0) - timedelta(hours=14)
    v2_at = day_start(V2_TRAINED_DAY) + timedelta(hours=10)
    v1 = train_model(_labelled_by(history, v1_at), "logreg", 1, v1_at, seed, None)
    v2_rows = pd.concat([history, requests[requests["day"] < V2_TRAINED_DAY]], ignore_index=True)
    v2 = train_model(_labelled_by(v2_rows, v2_at), "hgb", 2, v2_at, seed, 1)
    models = {1: v1, 2: v2}

    _serve(rng, requests, models)
    requests.insert(0, "request_id", np.char.add("req-", np.char.zfill(np.arange(1, len(requests) + 1).astype(str), 7)))
    requests["labelled"] = (requests["outcome_ts"] < pd.Timestamp(NOW)) & ~requests["label_lost"]

    experiments, exposures, metrics = _experiments(rng, scale)
    feedback = _feedback(rng, scale, requests)
    scenario = Scenario(
        scale=scale,
        seed=seed,
        requests=requests,
        models=[v1, v2],
        deployments=_deployments(),
        feedback=feedback,
        experiments=experiments,
        exposures=exposures,
        metrics=metrics,
    )
    scenario.facts = story_facts(scenario)
    return scenario


# --- the story in numbers (used by tests, the loader's summary and the README) ---------------------


def cohort_accuracy(requests: pd.DataFrame) -> pd.DataFrame:
    """Accuracy on labelled predictions, mobile vs web, before vs after the release."""
    r = requests[requests["labelled"]]
    period = np.where(r["day"] >= RELEASE_DAY, "after", "before")
    group = np.where(r["platform"].isin(MOBILE), "mobile", "web")
    correct = (r["predicted_label"] == r["actual_label"]).astype(float)
    return (
        pd.DataFrame({"group": group, "period": period, "correct": correct})
        .groupby(["group", "period"])["correct"]
        .agg(["mean", "size"])
        .rename(columns={"mean": "accuracy", "size": "labelled"})
    )


def story_facts(s: Scenario) -> dict[str, Any]:
    acc = cohort_accuracy(s.requests)
    r = s.requests
    return {
        "predictions": len(r),
        "outcomes": int(r["labelled"].sum()),
        "feedback": len(s.feedback),
        "exposures": len(s.exposures),
        "metric_observations": len(s.metrics),
        "accuracy": {f"{g}_{p}": round(float(acc.loc[(g, p), "accuracy"]), 4) for g, p in acc.index},
        "labelled": {f"{g}_{p}": int(acc.loc[(g, p), "labelled"]) for g, p in acc.index},
        "model_metrics": {f"v{m.version}": m.metrics for m in s.models},
        "feedback_by_theme": s.feedback["theme"].value_counts().to_dict(),
    }
