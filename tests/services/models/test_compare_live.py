"""Models connect to what happens live (SQLite and Postgres): a canary's live metrics read through the
monitoring services next to the champion's over the same days, a shadow's paired with the champion's on
the same requests, each equal to scikit-learn on the rows behind it; two versions compared side by side
(recorded metrics per cohort, calibration and the judge's gates for each, B's gates equal to judging B
against A)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline

from services.core.db import write_session
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role
from services.core.schema_ingest import Outcome, Prediction
from services.models import compare, judge, live, registry, rollout
from services.monitoring import blocks
from services.monitoring.refresh import refresh_monitoring

ANA = Actor("ana@test.io", Role.analyst)
ADMIN = Actor("root@test.io", Role.admin)
T0 = datetime(2026, 8, 1, tzinfo=UTC)
CANARY_AT = T0 + timedelta(days=10)
SCHEMA = {"x": "numeric", "y": "numeric"}
DAYS, PER_DAY = 20, 120


@pytest.fixture(autouse=True)
def folders(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(registry.ARTIFACT_DIR_ENV, str(tmp_path / "artifacts"))
    monkeypatch.setenv(rollout.ROUTING_DIR_ENV, str(tmp_path / "routing"))
    blocks.clear_caches()
    return tmp_path


def _model(seed: int, noise: float) -> Pipeline:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x": rng.normal(size=400), "y": rng.normal(size=400)})
    label = (x["x"] + noise * x["y"] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    return Pipeline([("clf", LogisticRegression())]).fit(x, label)


def _register(engine, seed: int, noise: float, metrics: dict) -> tuple[int, Pipeline]:
    model = _model(seed, noise)
    vid = registry.register_model_version(
        engine, ANA, "churn", model, feature_schema=SCHEMA, params={}, metrics=metrics,
        training_data={"window_end": "2026-07-31T00:00:00+00:00"}, model_card={},
    ).id  # fmt: skip
    return vid, model


@pytest.fixture
def story(engine):
    """v1 full from T0; v2 a 30% canary and v3 a shadow from day 10; 20 days of labelled predictions."""
    m1 = {
        "accuracy": 0.80,
        "roc_auc": 0.85,
        "rows": 500,
        "cohorts": {"platform": {"web": {"rows": 300, "accuracy": 0.82}, "ios": {"rows": 200, "accuracy": 0.77}}},
    }
    m2 = {
        "accuracy": 0.83,
        "roc_auc": 0.88,
        "rows": 500,
        "cohorts": {"platform": {"web": {"rows": 300, "accuracy": 0.83}, "ios": {"rows": 200, "accuracy": 0.84}}},
    }
    (v1, model1), (v2, model2) = _register(engine, 0, 0.0, m1), _register(engine, 1, 0.8, m2)
    v3, _ = _register(engine, 2, -0.8, {"accuracy": 0.7})
    registry.record_deployment(engine, ADMIN, v1, "full", 1.0, started_at=T0, reason="first")
    canary = registry.record_deployment(engine, ADMIN, v2, "canary", 0.3, started_at=CANARY_AT, reason="try v2")
    shadow = registry.record_deployment(engine, ADMIN, v3, "shadow", 0.0, started_at=CANARY_AT, reason="watch v3")
    rng = np.random.default_rng(7)
    n = DAYS * PER_DAY
    ts = [T0 + timedelta(days=i // PER_DAY, minutes=(i % PER_DAY) * 10) for i in range(n)]
    x, y = rng.normal(size=n), rng.normal(size=n)
    label = (x + 0.8 * y + rng.normal(scale=0.5, size=n) > 0).astype(int)
    on_v2 = np.asarray([t >= CANARY_AT for t in ts]) & (rng.random(n) < 0.3)
    frame = pd.DataFrame({"x": x, "y": y})
    score = np.where(on_v2, model2.predict_proba(frame)[:, 1], model1.predict_proba(frame)[:, 1])
    platform = np.where(rng.random(n) < 0.5, "web", "ios")
    with write_session(engine) as session:
        session.execute(sa.insert(Prediction.__table__), [
            {"request_id": f"r{i:05d}", "model_version_id": v2 if on_v2[i] else v1, "ts": ts[i],
             "score": float(score[i]), "predicted_label": int(score[i] >= 0.5),
             "features": {"x": float(x[i]), "y": float(y[i])}, "cohorts": {"platform": str(platform[i])}}
            for i in range(n)
        ])  # fmt: skip
        session.execute(sa.insert(Outcome.__table__), [
            {"request_id": f"r{i:05d}", "ts": ts[i] + timedelta(days=1), "actual_label": int(label[i])}
            for i in range(n)
        ])  # fmt: skip
    assert rollout.record_shadow_scores(engine, ANA, "churn") == sum(t >= CANARY_AT for t in ts)
    refresh_monitoring(engine)
    truth = pd.DataFrame({"ts": ts, "v2": on_v2, "score": score, "label": label, "x": x, "y": y})
    return {"v1": v1, "v2": v2, "v3": v3, "canary": canary.id, "shadow": shadow.id, "truth": truth}


def test_a_canary_next_to_the_champion_over_the_same_days(engine, story):
    lc = live.live_comparison(engine, story["canary"])
    assert (lc.stage, lc.version, lc.champion_version, lc.source) == ("canary", 2, 1, "monitoring")
    assert (lc.start.isoformat(), lc.end.isoformat()) == ("2026-08-11", "2026-08-20")
    t = story["truth"]
    after = t[t["ts"] >= CANARY_AT]
    for key, part in (("challenger", after[after["v2"]]), ("champion", after[~after["v2"]])):
        frame = lc.frame().set_index("metric")
        pred = (part["score"] >= 0.5).astype(int)
        assert frame.loc["accuracy", key] == pytest.approx(accuracy_score(part["label"], pred), abs=1e-12)
        # from the day summaries' histograms: within the bound reported beside it (and the bound is small)
        auc = roc_auc_score(part["label"], part["score"])
        assert abs(frame.loc["roc_auc", key] - auc) <= lc.bounds["roc_auc"] + 1e-12
        assert frame.loc["log_loss", key] == pytest.approx(log_loss(part["label"], part["score"]),
                                                          abs=lc.bounds["log_loss"] + 1e-12)  # fmt: skip
        assert frame.loc["brier", key] == pytest.approx(brier_score_loss(part["label"], part["score"]),
                                                       abs=lc.bounds["brier"] + 1e-12)  # fmt: skip
        assert frame.loc["accuracy", f"{key}_low"] < frame.loc["accuracy", key] < frame.loc["accuracy", f"{key}_high"]
    assert lc.rows == (int(after["v2"].sum()), int((~after["v2"]).sum()))
    assert lc.bounds["accuracy"] == 0.0 and 0.0 < lc.bounds["roc_auc"] < 5e-3
    assert "ROC AUC within" in live.bounds_note(lc.bounds)
    assert lc.metrics[0].difference == pytest.approx(lc.metrics[0].challenger - lc.metrics[0].champion)


def test_a_shadow_is_paired_with_the_champion_on_the_same_requests(engine, story):
    sc = live.live_comparison(engine, story["shadow"])
    assert (sc.stage, sc.version, sc.source) == ("shadow", 3, "shadow scores") and sc.note == live.PAIRED
    t = story["truth"]
    served = t[(t["ts"] >= CANARY_AT) & ~t["v2"]]
    assert sc.rows == (len(served), len(served))
    shadow_model = registry.load_model(engine, story["v3"])
    shadow_score = shadow_model.predict_proba(served[["x", "y"]])[:, 1]
    frame = sc.frame().set_index("metric")
    assert frame.loc["accuracy", "challenger"] == pytest.approx(
        accuracy_score(served["label"], shadow_score >= 0.5), abs=1e-12
    )
    assert frame.loc["accuracy", "champion"] == pytest.approx(
        accuracy_score(served["label"], served["score"] >= 0.5), abs=1e-12
    )
    assert frame.loc["accuracy", "challenger"] < frame.loc["accuracy", "champion"]  # v3 learnt the wrong sign
    stages = live.stage_deployments(engine, "churn")
    assert {d.id for d, _ in stages} == {story["canary"], story["shadow"]}
    full = registry.list_deployments(engine, "churn")[0]
    with pytest.raises(InvalidInput, match="only a canary or shadow"):
        live.live_comparison(engine, full.id)


def test_two_versions_side_by_side(engine, story):
    config = judge.JudgeConfig(n_resamples=100)
    cmp = compare.compare_versions(engine, story["v2"], story["v1"], config=config)
    assert (cmp.a.version, cmp.b.version, cmp.problem) == (2, 1, None)
    rec = cmp.recorded.set_index(["scope", "metric"])
    assert rec.loc[("overall", "accuracy"), "difference"] == pytest.approx(0.03)
    assert rec.loc[("platform=ios", "accuracy"), ["A", "B"]].tolist() == [0.84, 0.77]
    assert rec.loc[("platform=ios", "accuracy"), "rows A"] == 200
    # Calibration of both on one holdout: every labelled prediction after both training windows.
    assert cmp.panel.holdout.rows == DAYS * PER_DAY
    assert set(cmp.panel.calibration) == {"candidate", "champion"}
    # The gates for each: A's against B (the judge's own), B's against A equal to judging B against A.
    gates = cmp.gates
    assert list(gates.columns) == compare.GATE_COLUMNS and len(gates) == len(cmp.panel.gates)
    assert gates["A result"].tolist() == [judge.result_text(g.passed) for g in cmp.panel.gates]
    reverse = judge.judge(engine, story["v1"], story["v2"], config=config)
    assert gates["B result"].tolist() == [judge.result_text(g.passed) for g in reverse.gates]
    assert "fail" in set(gates["B result"]) and cmp.passed("A")[0] > cmp.passed("B")[0]
    assert cmp.passed("A")[1] == int((gates["A result"] != "not checked").sum())
    assert gates["rule"].iloc[0] == "accuracy >= the other - 0.01" and "champion" not in "".join(gates["rule"])


def test_what_cannot_be_compared(engine, story):
    with pytest.raises(InvalidInput, match="two different"):
        compare.compare_versions(engine, story["v1"], story["v1"])
    recorded_only = compare.compare_versions(engine, story["v2"], story["v1"], measure=False)
    assert recorded_only.panel is None and recorded_only.problem and recorded_only.gates.empty
    assert len(recorded_only.recorded) == 4  # overall accuracy and ROC AUC, accuracy on web and ios


def test_a_canary_reads_day_summaries_not_rows(engine, story, monkeypatch):
    """At 10M predictions a week of a version is ~800,000 rows: the live view reads no day block of rows."""
    from services.monitoring import blocks, frames

    frames.clear_caches()

    def no_rows(blob):
        raise AssertionError("a day block of rows was decoded")

    monkeypatch.setattr(blocks, "_decode", no_rows)
    lc = live.live_comparison(engine, story["canary"])
    assert lc.rows[0] > 0 and lc.metrics[0].challenger is not None
