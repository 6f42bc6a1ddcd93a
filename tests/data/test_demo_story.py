"""The demo story holds on the loaded database (SQLite and Postgres), read back from the tables the
screens read: the mobile cohort degrades after app 5.0 and nothing else does, outcomes arrive late,
feedback carries the themes (PII redacted, markup kept as text), both model versions load and
reproduce their stored scores, the deployment history is consistent, the experiments are there,
one account per role signs in, and the audit chain is intact.

The demo is loaded once per backend (scale 0.1: 20,000 predictions) into its own database."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from data import demo_loop as loop
from data import scenario as sc
from data.demo import load_demo
from services.core import audit, users
from services.core.errors import Conflict
from services.core.schema_accounts import User
from services.core.schema_experiments import Exposure, MetricObservation
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.experiments import lifecycle as experiments
from services.models import registry
from services.overview import summary as overview
from services.stats.text_themes import purity
from tests.data.conftest import SCALE, Demo  # noqa: F401  (the demo fixtures live in conftest, shared)

RELEASE = pd.Timestamp(sc.day_start(sc.RELEASE_DAY))


def _read(engine, query) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True)  # SQLite gives naive UTC values back


@pytest.fixture(scope="module")
def labelled(demo) -> pd.DataFrame:
    """Predictions joined with their outcomes, as the monitoring screens will read them."""
    p, o = Prediction.__table__, Outcome.__table__
    frame = _read(
        demo.engine,
        sa.select(
            p.c.request_id,
            p.c.ts,
            p.c.model_version_id,
            p.c.score,
            p.c.predicted_label,
            p.c.cohorts,
            p.c.features,
            o.c.actual_label,
            o.c.ts.label("outcome_ts"),
        ).join(o, o.c.request_id == p.c.request_id),
    )
    frame["ts"], frame["outcome_ts"] = _utc(frame["ts"]), _utc(frame["outcome_ts"])
    for field in sc.COHORT_FIELDS:
        frame[field] = [c[field] for c in frame["cohorts"]]
    frame["group"] = np.where(frame["platform"].isin(sc.MOBILE), "mobile", "web")
    frame["period"] = np.where(frame["ts"] >= RELEASE, "after", "before")
    frame["correct"] = (frame["predicted_label"] == frame["actual_label"]).astype(float)
    return frame


# --- the story ---------------------------------------------------------------------------------


def test_mobile_accuracy_drops_after_the_release_and_web_does_not(demo, labelled):
    acc = labelled.groupby(["group", "period"])["correct"].agg(["mean", "size"])
    assert (acc["size"] >= 1000).all(), acc
    mobile_before, mobile_after = acc.loc[("mobile", "before"), "mean"], acc.loc[("mobile", "after"), "mean"]
    web_before, web_after = acc.loc[("web", "before"), "mean"], acc.loc[("web", "after"), "mean"]
    assert mobile_after <= mobile_before - 0.06, acc
    assert mobile_after <= web_after - 0.05, acc
    assert abs(web_after - web_before) <= 0.03, acc
    assert abs(mobile_before - web_before) <= 0.03, acc
    # The database says exactly what the generator meant.
    facts = demo.summary.facts["accuracy"]
    for (group, period), row in acc.iterrows():
        assert row["mean"] == pytest.approx(facts[f"{group}_{period}"], abs=1e-4)


def test_web_cohorts_are_stable_and_every_mobile_cohort_degrades(labelled):
    for field in ("region", "tier"):
        acc = labelled.groupby(["group", field, "period"])["correct"].mean().unstack("period")
        change = acc["after"] - acc["before"]
        assert (change.loc["web"].abs() <= 0.06).all(), change
        assert (change.loc["mobile"] <= -0.04).all(), change


def test_the_release_shifts_two_mobile_features_only(labelled):
    features = pd.DataFrame(list(labelled["features"]))
    assert set(features.columns) == set(sc.NUMERIC_FEATURES + sc.CATEGORICAL_FEATURES)
    mobile, after = (labelled["group"] == "mobile").to_numpy(), (labelled["period"] == "after").to_numpy()
    for name in sc.NUMERIC_FEATURES:
        for is_mobile in (True, False):
            rows = mobile == is_mobile
            before_mean = features.loc[rows & ~after, name].mean()
            ratio = features.loc[rows & after, name].mean() / before_mean
            if is_mobile and name == "sessions_per_week":
                assert ratio < 0.5, (name, ratio)
            elif is_mobile and name == "app_latency_ms":
                assert ratio > 1.5, (name, ratio)
            else:
                assert 0.9 < ratio < 1.1, (name, is_mobile, ratio)


def test_outcomes_arrive_7_to_30_days_later_and_recent_weeks_are_mostly_unlabelled(demo, labelled):
    delay = (labelled["outcome_ts"] - labelled["ts"]).dt.total_seconds() / 86_400
    assert delay.min() >= 7 and delay.max() <= 30
    p = Prediction.__table__
    everything = _read(demo.engine, sa.select(p.c.request_id, p.c.ts))
    all_ts = _utc(everything["ts"])
    is_labelled = everything["request_id"].isin(labelled["request_id"])
    now = pd.Timestamp(sc.NOW)

    def share(lo_days, hi_days):
        window = (all_ts >= now - pd.Timedelta(days=hi_days)) & (all_ts < now - pd.Timedelta(days=lo_days))
        return is_labelled[window].mean()

    assert share(0, 7) == 0
    assert share(0, 21) < 0.4
    assert share(31, 90) > 0.95


def test_feedback_carries_the_themes(demo):
    f = Feedback.__table__
    stored = _read(
        demo.engine,
        sa.select(
            f.c.feedback_id,
            f.c.ts,
            f.c.text,
            f.c.redactions,
            f.c.request_id,
            f.c.corrected_label,
            f.c.category,
            f.c.theme_id,
            f.c.source,
            f.c.rating,
        ),
    )
    truth = demo.scenario.feedback.set_index("feedback_id")["theme"]
    assert len(stored) == len(truth)
    stored["theme"] = stored["feedback_id"].map(truth)
    counts = stored["theme"].value_counts()
    assert set(counts.index) == set(sc.themes.THEMES) and counts.min() >= 15, counts
    # The truth stays with the generator: nothing in the database names it. The loader's clustering
    # run finds the planted themes from the texts alone. Categories are what triage gave (test_demo_loop).
    assert stored["theme_id"].notna().all()
    assert purity(stored["theme_id"].to_numpy(), stored["theme"].to_numpy()) >= 0.8
    assert not stored["text"].str.contains("mobile_app|false_churn_alert|onboarding_docs").any()
    # The mobile theme jumps after the release.
    stored["ts"] = _utc(stored["ts"])
    mobile = stored[stored["theme"] == "mobile_app"]
    per_day_before = (mobile["ts"] < RELEASE).sum() / sc.RELEASE_DAY
    per_day_after = (mobile["ts"] >= RELEASE).sum() / (sc.DAYS - sc.RELEASE_DAY)
    assert per_day_after >= 5 * per_day_before
    # PII redacted on import, markup stored verbatim (the UI shows it as text).
    assert stored["redactions"].sum() >= 5
    assert not stored["text"].str.contains(r"@example\.com|555[ -]01\d\d", regex=True).any()
    assert stored["text"].str.contains("<b>Urgent:</b>", regex=False).any()
    assert stored["text"].str.contains("[screenshot](http://example.com/screenshot.png)", regex=False).any()
    # Some items point at a prediction and correct its label.
    assert stored["request_id"].notna().mean() > 0.3
    assert (stored["corrected_label"] == 0).sum() >= 10
    assert set(stored["source"]) == {"in-app", "email", "support"} and stored["rating"].between(1, 5).all()


def test_feedback_themes_can_be_found_by_clustering(demo):
    text_themes = pytest.importorskip("services.stats.text_themes")
    f = demo.scenario.feedback
    result = text_themes.cluster_texts(f["text"].tolist(), n_themes=len(sc.themes.THEMES))
    assert text_themes.purity(result.labels, f["theme"].to_numpy()) >= 0.8


def test_both_model_versions_load_and_reproduce_their_scores(demo, labelled):
    versions = registry.list_versions(demo.engine, sc.MODEL_NAME)
    assert [v.version for v in versions] == [1, 2]
    v1, v2 = versions
    assert v2.parent_id == v1.id and v2.metrics["roc_auc"] > v1.metrics["roc_auc"]
    columns = list(sc.NUMERIC_FEATURES + sc.CATEGORICAL_FEATURES)
    for v in versions:
        assert set(v.metrics) >= {"accuracy", "roc_auc", "log_loss", "brier"}
        assert v.feature_schema == sc.feature_schema()
        assert set(v.training_data) >= {"window_start", "window_end", "rows"} and v.training_data["rows"] > 1000
        assert v.model_card["intended_use"] and v.params["estimator"]
        assert Path(v.artifact_uri).is_relative_to(demo.artifacts.resolve())
        model = registry.load_model(demo.engine, v.id)
        served = labelled[labelled["model_version_id"] == v.id].head(300)
        features = pd.DataFrame(list(served["features"]))[columns]
        np.testing.assert_allclose(model.predict_proba(features)[:, 1], served["score"], atol=2e-6)
        assert ((served["score"] >= sc.THRESHOLD).astype(int) == served["predicted_label"]).all()
    assert v1.params["estimator"] == "LogisticRegression"
    assert v2.params["estimator"] == "HistGradientBoostingClassifier"


def test_deployment_history_is_consistent(demo):
    ids = demo.summary.model_version_ids
    history = registry.list_deployments(demo.engine, sc.MODEL_NAME)
    rows = [
        (
            d.model_version_id,
            d.stage,
            d.traffic_share,
            d.started_at.replace(tzinfo=UTC),
            d.ended_at.replace(tzinfo=UTC) if d.ended_at else None,
        )
        for d in history
    ]
    full_day, canary_day = sc.day_start(sc.FULL_DAY), sc.day_start(sc.CANARY_DAY)
    assert rows == [
        (ids[1], "full", 1.0, sc.day_start(0), full_day),
        (ids[2], "canary", sc.CANARY_SHARE, canary_day, full_day),
        (ids[2], "full", 1 - sc.HOLDOUT_SHARE, full_day, None),
        (ids[1], "canary", sc.HOLDOUT_SHARE, full_day, None),
    ]
    open_full = [d for d in history if d.ended_at is None and d.stage == "full"]
    assert len(open_full) == 1 and open_full[0].model_version_id == ids[2]
    assert overview.loop_counts(demo.engine).champion == "churn v2"
    statuses = {v.version: v.status for v in registry.list_versions(demo.engine, sc.MODEL_NAME)}
    assert statuses == {1: "challenger", 2: "champion"}


def test_predictions_were_served_by_the_deployed_versions(demo):
    p = Prediction.__table__
    frame = _read(demo.engine, sa.select(p.c.ts, p.c.model_version_id))
    frame["ts"] = _utc(frame["ts"])
    v2 = frame["model_version_id"] == demo.summary.model_version_ids[2]
    canary = pd.Timestamp(sc.day_start(sc.CANARY_DAY))
    full = pd.Timestamp(sc.day_start(sc.FULL_DAY))
    assert not v2[frame["ts"] < canary].any()
    assert v2[(frame["ts"] >= canary) & (frame["ts"] < full)].mean() == pytest.approx(sc.CANARY_SHARE, abs=0.04)
    assert (~v2[frame["ts"] >= full]).mean() == pytest.approx(sc.HOLDOUT_SHARE, abs=0.03)
    assert len(frame) == len(demo.scenario.requests) == demo.summary.counts["predictions"]


def test_experiments_are_loaded_with_exposures_and_metrics(demo):
    offer = experiments.get_experiment(demo.engine, "retention-offer-v1")
    model_ab = experiments.get_experiment(demo.engine, "churn-model-v2-ab")
    assert offer.status == "concluded" and offer.decision and offer.end_at is not None
    assert model_ab.status == "running" and model_ab.end_at is None
    ids = demo.summary.model_version_ids
    assert [v["model_version_id"] for v in model_ab.variants] == [ids[1], ids[2]]
    e, m = Exposure.__table__, MetricObservation.__table__
    exposures = _read(
        demo.engine,
        sa.select(e.c.experiment_id, e.c.variant, sa.func.count().label("n")).group_by(e.c.experiment_id, e.c.variant),
    )
    n = exposures.set_index(["experiment_id", "variant"])["n"]
    assert n.loc[offer.id].sum() >= 0.9 * 20_000 * SCALE
    assert n.loc[offer.id].min() / n.loc[offer.id].sum() > 0.45  # 50/50, no sample-ratio mismatch
    # Still collecting: the smaller arm is far from the planned sample.
    assert n.loc[(model_ab.id, "control")] < model_ab.planned_sample_size
    metrics = _read(
        demo.engine, sa.select(m.c.experiment_id, m.c.unit_id, m.c.metric, m.c.value, m.c.pre_value, m.c.ts)
    )
    offer_metrics = metrics[metrics["experiment_id"] == offer.id]
    assert set(offer_metrics["metric"]) == {"retained_30d", "revenue_30d", "support_contacts"}
    assert offer_metrics.loc[offer_metrics["metric"] == "revenue_30d", "pre_value"].notna().all()
    variant = _read(demo.engine, sa.select(e.c.unit_id, e.c.variant).where(e.c.experiment_id == offer.id))
    retained = offer_metrics[offer_metrics["metric"] == "retained_30d"].merge(variant, on="unit_id")
    rate = retained.groupby("variant")["value"].mean()
    assert rate["treatment"] - rate["control"] > 0.015  # the offer wins
    assert _utc(metrics["ts"]).max() <= pd.Timestamp(sc.NOW)
    assert metrics[metrics["experiment_id"] == model_ab.id]["unit_id"].nunique() < n.loc[model_ab.id].sum()


def test_one_demo_account_per_role_signs_in(demo):
    u = User.__table__
    accounts = _read(demo.engine, sa.select(u.c.email, u.c.role))
    assert sorted(accounts["role"]) == ["admin", "analyst", "approver", "viewer"]
    text = "\n".join(demo.output)
    for account in sc.DEMO_USERS:
        actor = users.authenticate(demo.engine, account.email, account.password)
        assert actor.role.name == account.role
        assert account.email in text and account.password in text


def test_audit_chain_is_intact_and_names_the_loader(demo):
    assert audit.verify(demo.engine).intact
    events = audit.list_events(demo.engine, audit.AuditFilter(actor="demo-loader"), limit=5000)
    actions = events["action"].value_counts()
    # the data arrives in nightly (feedback) and weekly imports (data/demo_loop.py): one import event each
    s = demo.scenario
    weekly = (s.predictions_frame(), s.outcomes_frame(), s.exposures_frame(), s.metrics_frame())
    imports = sum(loop.import_cut(frame["ts"], loop.WEEKLY_CUTS).nunique() for frame in weekly)
    imports += loop.feedback_cut(s).nunique()
    assert actions["data.import"] == imports > 60
    assert actions["model.register"] == 2 and actions["model.deploy"] == 4
    assert actions["user.add"] == 4 and actions["experiment.register"] == 2 and actions["experiment.conclude"] == 1


def test_monitoring_blocks_are_built_with_the_demo(demo, monkeypatch):
    """The first Overview and Monitoring views show the story without asking for a refresh; the day
    summaries and the raw store are current too."""
    from services.monitoring import block_build, summary_admin
    from services.monitoring import blocks as md

    assert not block_build.needs_refresh(demo.engine)  # the blocks and the day summaries
    champion = demo.summary.model_version_ids[2]
    assert len(md.block_index(demo.engine, champion)) > 0
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(demo.artifacts.parent / "raw"))
    checked = summary_admin.check_version(demo.engine, champion)
    assert checked.ok and checked.rows > 0, checked.summary()
    assert any(line.strip().startswith("monitoring blocks") for line in demo.output)
    with demo.engine.connect() as conn:  # the Overview's monitoring tile is saved for the first visitor
        keys = [r[0] for r in conn.exec_driver_sql("SELECT key FROM derived_summary")]
    assert keys == [f"overview.monitoring:{champion}:accuracy"]


def test_loading_twice_is_refused(demo):
    before = audit.count_events(demo.engine)
    with pytest.raises(Conflict, match="already"):
        load_demo(demo.engine, echo=lambda _: None, scale=SCALE)
    assert audit.count_events(demo.engine) == before
    with demo.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ModelVersion.__table__)).scalar() == 2


# --- the generator on its own (no database) ----------------------------------------------------


def test_the_generator_is_deterministic():
    a, b = sc.build_scenario(0.02), sc.build_scenario(0.02)
    pd.testing.assert_frame_equal(a.predictions_frame(), b.predictions_frame())
    pd.testing.assert_frame_equal(a.feedback, b.feedback)
    pd.testing.assert_frame_equal(a.metrics, b.metrics)
    assert a.facts == b.facts
    assert not a.predictions_frame().equals(sc.build_scenario(0.02, seed=1).predictions_frame())


def test_frames_have_the_import_columns():
    s = sc.build_scenario(0.02)
    assert list(s.outcomes_frame().columns) == ["request_id", "ts", "actual_label"]
    assert "theme" not in s.feedback_frame().columns
    predictions = s.predictions_frame()
    assert {"request_id", "model_name", "model_version", "ts", "score", "predicted_label"} <= set(predictions)
    assert {f"cohort_{c}" for c in sc.COHORT_FIELDS} <= set(predictions)
    assert predictions["request_id"].is_unique and s.feedback["feedback_id"].is_unique
    assert predictions["ts"].min() >= pd.Timestamp(sc.START) and predictions["ts"].max() < pd.Timestamp(sc.NOW)
    assert (s.outcomes_frame()["ts"] < pd.Timestamp(sc.NOW)).all()
    linked = s.feedback.dropna(subset=["request_id"]).merge(
        predictions[["request_id", "ts"]], on="request_id", suffixes=("", "_prediction")
    )
    assert (linked["ts"] >= linked["ts_prediction"]).all()
    assert (linked["ts"] - linked["ts_prediction"] <= timedelta(days=14)).all()


@pytest.mark.slow
def test_full_scale_story():
    s = sc.build_scenario(1.0)
    facts = s.facts
    assert facts["predictions"] == 200_000 and 2_700 <= facts["feedback"] <= 3_400
    assert facts["accuracy"]["mobile_after"] <= facts["accuracy"]["mobile_before"] - 0.08
    assert abs(facts["accuracy"]["web_after"] - facts["accuracy"]["web_before"]) <= 0.02
