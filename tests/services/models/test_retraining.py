"""Retraining (SQLite and Postgres): a seeded clone of the base pipeline fitted on the window's labelled
predictions plus a feedback training set; deterministic; lineage, trigger and model card recorded;
progress reported; approved retrain requests executed with the registration; the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from services.core import audit, settings
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_monitoring import Alert, AlertRule
from services.feedback import edits, training_sets
from services.governance import approvals, executor
from services.models import registry, retraining
from services.overview import summary as overview

ANA = Actor("ana@test.io", Role.analyst)
APP = Actor("app@test.io", Role.approver)
ADMIN = Actor("root@test.io", Role.admin)
SCHEMA = {"x": "numeric", "y": "numeric", "plan": "categorical"}
T0 = datetime(2026, 8, 1, tzinfo=UTC)
N = 700


@pytest.fixture(autouse=True)
def artifacts(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(registry.ARTIFACT_DIR_ENV, str(tmp_path / "artifacts"))
    monkeypatch.setenv("LOOPDECK_ROUTING_DIR", str(tmp_path / "routing"))
    return tmp_path / "artifacts"


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n), "plan": rng.choice(["free", "pro"], n)})
    label = (x["x"] + 0.8 * (x["plan"] == "pro") + rng.normal(scale=0.7, size=n) > 0.3).astype(int).to_numpy()
    return x, label


def _pipeline(clf) -> Pipeline:
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["x", "y"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    return Pipeline([("prep", prep), ("clf", clf)])


def _setup(engine, clf=None) -> int:
    """A base version (trained before T0) and N predictions over 60 days from T0; outcomes for the
    first 600. Returns the base version id."""
    x0, y0 = _frame(400, 1)
    base = registry.register_model_version(
        engine, ANA, "churn", _pipeline(clf or LogisticRegression(max_iter=500)).fit(x0, y0),
        feature_schema=SCHEMA, params={"estimator": "LogisticRegression", "preprocessing": "scaler + one-hot"},
        metrics={"roc_auc": 0.8}, training_data={"window_start": "2026-06-01T00:00:00+00:00",
                                                 "window_end": "2026-07-31T00:00:00+00:00", "rows": 400},
        model_card={"summary": "Churn risk, logistic regression", "intended_use": "retention outreach",
                    "limitations": "Reads app-reported sessions."},
    )  # fmt: skip
    x, y = _frame(N, 2)
    with write_session(engine) as session:
        for i in range(N):
            rid = f"req-{i:05d}"
            session.add(
                Prediction(
                    request_id=rid, model_version_id=base.id, ts=T0 + timedelta(hours=2 * i), score=0.5,
                    predicted_label=1, features={"x": float(x.x[i]), "y": float(x.y[i]), "plan": x.plan[i]},
                    cohorts={"platform": ["web", "ios", "android"][i % 3], "region": ["EU", "NA"][i % 2]},
                )
            )  # fmt: skip
        session.flush()
        for i in range(600):
            session.add(Outcome(request_id=f"req-{i:05d}", ts=T0 + timedelta(hours=2 * i, days=10),
                                actual_label=int(y[i])))  # fmt: skip
    return base.id


WINDOW = (T0, T0 + timedelta(days=40))  # requests 0..479


def _scores(engine, version_id: int) -> np.ndarray:
    x, _ = _frame(200, 9)
    return registry.load_model(engine, version_id).predict_proba(x)[:, 1]


def test_retraining_is_deterministic_with_a_seed_and_records_its_lineage(engine):
    base = _setup(engine)
    seen: list[tuple[float, str]] = []
    one = retraining.retrain(engine, ANA, base, *WINDOW, seed=7, progress=lambda f, m: seen.append((f, m)))
    two = retraining.retrain(engine, ANA, base, *WINDOW, seed=7)
    other = retraining.retrain(engine, ANA, base, *WINDOW, seed=8)
    np.testing.assert_array_equal(_scores(engine, one.version.id), _scores(engine, two.version.id))
    assert one.version.params == two.version.params and one.metrics == two.metrics
    m1, m2 = (registry.load_model(engine, r.version.id).named_steps["clf"] for r in (one, two))
    np.testing.assert_array_equal(m1.coef_, m2.coef_)  # the same fitted model (the skops zip has timestamps)
    assert not np.array_equal(_scores(engine, other.version.id), _scores(engine, one.version.id))  # another split
    v = registry.get_version(engine, one.version.id)
    assert (v.version, v.parent_id, v.status, v.trigger, v.created_by) == (2, base, "candidate", "manual", ANA.label)
    t = v.training_data
    assert t["window_start"] == WINDOW[0].isoformat() and t["window_end"] == WINDOW[1].isoformat()
    assert t["rows"] + t["validation_rows"] == 480 == t["outcome_rows"] and t["seed"] == 7 and t["base_version"] == 1
    import sklearn

    assert t["code"]["scikit-learn"] == sklearn.__version__ and {"python", "skops", "loopdeck_commit"} <= set(t["code"])
    assert v.params["estimator"] == "LogisticRegression" and v.params["cloned_from"] == "v1" and v.params["seed"] == 7
    assert v.params["max_iter"] == 500  # the base's parameters, cloned
    assert set(v.metrics) >= {"accuracy", "roc_auc", "log_loss", "brier", "cohorts"}
    assert {"web", "android"} <= set(v.metrics["cohorts"]["platform"]) <= {"web", "ios", "android"}  # >= 30 rows
    card = v.model_card
    assert card["intended_use"] == "retention outreach" and "retrained from v1" in card["summary"]
    assert "Reads app-reported sessions." in card["limitations"] and card["metrics_by_cohort"]["region"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and "Registered churn v2" in seen[-1][1]
    events = audit.list_events(engine, audit.AuditFilter(action="model.register"))
    assert len(events) == 4 and audit.verify(engine).intact


def test_boosting_is_fitted_in_steps_with_the_same_result_as_one_fit(engine):
    base = _setup(engine, HistGradientBoostingClassifier(max_iter=30, early_stopping=False, random_state=0))
    seen = []
    result = retraining.retrain(engine, ANA, base, *WINDOW, seed=3, progress=lambda f, m: seen.append(m))
    assert sum("of 30 max iter" in m for m in seen) == retraining.STEPS
    data = retraining.training_set(engine, "churn", SCHEMA, *WINDOW)
    one_fit = retraining.seeded_clone(registry.load_model(engine, base), 3)
    idx = np.arange(data.rows)
    from sklearn.model_selection import train_test_split

    train_idx, _ = train_test_split(idx, test_size=0.2, stratify=data.labels, random_state=3)
    one_fit.fit(data.features.iloc[np.sort(train_idx)], data.labels[np.sort(train_idx)])
    x, _ = _frame(200, 9)
    np.testing.assert_array_equal(
        registry.load_model(engine, result.version.id).predict_proba(x), one_fit.predict_proba(x)
    )
    assert result.version.params["random_state"] == 3 and result.version.params["max_iter"] == 30
    assert clone(one_fit).get_params()["clf__warm_start"] is False


def _label_feedback(engine, request_ids: list[str], labels: list[int]) -> int:
    with write_session(engine) as session:
        for i, (rid, label) in enumerate(zip(request_ids, labels, strict=True)):
            session.add(Feedback(feedback_id=f"fb-{i}", request_id=rid, ts=T0 + timedelta(days=60), text="x",
                                 corrected_label=label))  # fmt: skip
    with engine.connect() as conn:
        versions = dict(conn.execute(sa.select(Feedback.id, Feedback.version)).all())
    edits.update_items(engine, ANA, versions, edits.Patch(status="labelled"))  # triage: labelled
    return training_sets.create_dataset(engine, ANA, "corrections").id


def test_a_feedback_training_set_corrects_and_adds_labels_inside_the_window(engine):
    base = _setup(engine)
    with engine.connect() as conn:
        outcome_of = dict(conn.execute(sa.select(Outcome.request_id, Outcome.actual_label)).all())
    # req-00010, -00011 have outcomes (one corrected to the other class, one confirmed); 00470 too;
    # req-00650 has no outcome yet but is in no window; req-00300 is outside a shorter window below.
    ids = ["req-00010", "req-00011", "req-00470", "req-00650"]
    labels = [1 - outcome_of["req-00010"], outcome_of["req-00011"], 1 - outcome_of["req-00470"], 1]
    dataset = _label_feedback(engine, ids, labels)
    data = retraining.training_set(engine, "churn", SCHEMA, *WINDOW, dataset_id=dataset)
    assert (data.feedback_overrides, data.feedback_confirmed, data.feedback_added) == (2, 1, 0)
    assert data.feedback_outside_window == 1 and data.rows == 480
    labels_by_id = dict(zip(data.request_ids, data.labels, strict=True))
    assert labels_by_id["req-00010"] == 1 - outcome_of["req-00010"]
    wide = retraining.training_set(engine, "churn", SCHEMA, T0, T0 + timedelta(days=60), dataset_id=dataset)
    assert wide.feedback_added == 1 and "req-00650" in set(wide.request_ids) and wide.rows == 601
    result = retraining.retrain(engine, ANA, base, *WINDOW, dataset, seed=1)
    info = registry.get_version(engine, result.version.id).training_data["feedback_dataset"]
    assert info["id"] == dataset and info["version"] == 1 and info["overrides"] == 2 and info["outside_window"] == 1
    assert len(info["sha256"]) == 64


def test_triggers_windows_and_roles(engine):
    base = _setup(engine)
    with pytest.raises(InvalidInput, match="trigger"):
        retraining.retrain(engine, ANA, base, *WINDOW, trigger="cron")
    with pytest.raises(NotFound, match="alert"):
        retraining.retrain(engine, ANA, base, *WINDOW, trigger="alert:99")
    with write_session(engine) as session:
        rule = AlertRule(name="mobile accuracy", model_name="churn", metric="accuracy", threshold=0.8)
        session.add(rule)
        session.flush()
        session.add(Alert(rule_id=rule.id))
    from_alert = retraining.retrain(engine, ANA, base, *WINDOW, trigger="alert:1")
    assert from_alert.version.trigger == "alert:1"
    assert retraining.retrain(engine, ANA, base, *WINDOW, trigger="schedule").version.trigger == "schedule"
    with pytest.raises(InvalidInput, match="end after"):
        retraining.retrain(engine, ANA, base, WINDOW[1], WINDOW[0])
    with pytest.raises(InvalidInput, match="future"):
        retraining.retrain(engine, ANA, base, T0, datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(InvalidInput, match="at least"):
        retraining.retrain(engine, ANA, base, T0, T0 + timedelta(days=2))
    with pytest.raises(PermissionDenied):
        retraining.retrain(engine, Actor("vic@test.io", Role.viewer), base, *WINDOW)
    suggestion = retraining.suggest_window(engine, "churn")
    assert suggestion.train_from == T0 and suggestion.train_to < suggestion.last_labelled


def test_an_approved_retrain_request_is_executed_with_the_registration(engine, monkeypatch):
    base = _setup(engine)
    payload = {"base_version_id": base, "train_from": WINDOW[0].isoformat(), "train_to": WINDOW[1].isoformat(),
               "seed": 5, "trigger": "schedule"}  # fmt: skip
    row = approvals.request_change(engine, ANA, "retrain", "churn", "weekly retrain", payload)
    with pytest.raises(Conflict, match="pending"):
        retraining.retrain_from_request(engine, ANA, row.id)
    approvals.decide(engine, APP, row.id, "approve")
    result = retraining.retrain_from_request(engine, ANA, row.id)
    view = approvals.get_request(engine, row.id)
    assert view.request.status == "executed" and view.request.executed_by == ANA.label
    assert view.request.result == {"model_version_id": result.version.id, "version": 2}
    assert result.version.trigger == "schedule" and result.version.training_data["approval_request_id"] == row.id
    with pytest.raises(Conflict, match="executed"):
        retraining.retrain_from_request(engine, ANA, row.id)
    # Two runs racing: both fit before either registers; the second is refused under the request's lock,
    # registers nothing, and its artifact file is removed again.
    again = approvals.request_change(engine, ANA, "retrain", "churn", "again", payload)
    approvals.decide(engine, APP, again.id, "approve")
    first = executor.execute(engine, ANA, again.id)
    monkeypatch.setattr(executor, "_precheck", lambda row: None)  # the second passed the early check
    files = {p for p in Path(first.prepared.version.artifact_uri).parent.iterdir()}
    with pytest.raises(Conflict, match="already executed"):
        executor.execute(engine, ANA, again.id)
    assert {p for p in Path(first.prepared.version.artifact_uri).parent.iterdir()} == files
    assert [v.version for v in registry.list_versions(engine, "churn")] == [1, 2, 3]
    actions = audit.list_events(engine)["action"].tolist()
    assert actions.count("approval.execute") == 2 and audit.verify(engine).intact
    # the Overview tells each executed retrain once, as a retrain, with its request
    decisions = [(d.kind, d.request_id, d.text) for d in overview.decisions(engine)]
    assert decisions == [
        ("retrain", again.id, f"Retrained: churn v3 registered (trigger schedule) (request #{again.id})"),
        ("retrain", row.id, f"Retrained: churn v2 registered (trigger schedule) (request #{row.id})"),
        ("model", None, "Registered churn v1"),
    ]


def test_retraining_from_an_alert_is_requested_with_the_alert_as_evidence(engine):
    """An alert prompts a retrain: requested with the alert attached, never approved by its requester,
    approved by an approver, then run; the version records the trigger and the request is executed."""
    base = _setup(engine)
    with write_session(engine) as session:
        rule = AlertRule(name="mobile accuracy", model_name="churn", metric="accuracy", threshold=0.8)
        session.add(rule)
        session.flush()
        alert = Alert(
            rule_id=rule.id,
            model_version_id=base,
            value=0.71,
            evidence={
                "model": "churn",
                "model_version": 1,
                "threshold": 0.8,
                "comparison": "<",
                "window": {"start": "2026-09-01", "end": "2026-09-07"},
                "cohort": {"platform": "ios"},
            },
        )
        session.add(alert)
        session.flush()
        alert_id = alert.id
    with pytest.raises(NotFound, match="alert"):
        retraining.request_retrain(engine, ANA, base, *WINDOW, trigger="alert:999", comment="x")
    with pytest.raises(InvalidInput, match="comment"):
        retraining.request_retrain(engine, ANA, base, *WINDOW, trigger=f"alert:{alert_id}", comment=" ")
    with pytest.raises(PermissionDenied):
        retraining.request_retrain(engine, Actor("vic@test.io", Role.viewer), base, *WINDOW, comment="x")
    row = retraining.request_retrain(engine, ANA, base, *WINDOW, seed=3, trigger=f"alert:{alert_id}",
                                     comment="iOS accuracy fell below 0.8")  # fmt: skip
    assert row.kind == "retrain" and row.subject_id == "churn" and row.required_approvals == 1
    assert row.evidence["kind"] == "alert" and row.evidence["alert_id"] == alert_id
    assert row.evidence["evidence"]["cohort"] == {"platform": "ios"} and "accuracy = 0.71" in row.evidence["summary"]
    assert row.payload["trigger"] == f"alert:{alert_id}" and row.payload["seed"] == 3
    with pytest.raises(Conflict, match="still pending"):
        retraining.request_retrain(engine, ANA, base, *WINDOW, trigger=f"alert:{alert_id}", comment="again")
    from services.core.errors import SelfApprovalError

    with pytest.raises(SelfApprovalError):
        approvals.decide(engine, Actor(ANA.label, Role.approver), row.id, "approve")
    approvals.decide(engine, APP, row.id, "approve")
    seen: list[float] = []
    result = retraining.retrain_from_request(engine, ANA, row.id, progress=lambda f, m: seen.append(f))
    assert result.version.trigger == f"alert:{alert_id}" and result.version.training_data["seed"] == 3
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert approvals.get_request(engine, row.id).request.status == "executed"
    events = audit.list_events(engine)
    assert {"approval.request", "approval.approve", "model.register", "approval.execute"} <= set(events["action"])


def test_cli_retrain_and_routing(engine, capsys, monkeypatch, tmp_path):
    from services.cli.main import main

    base = _setup(engine)
    registry.record_deployment(engine, ADMIN, base, "full", 1.0, started_at=T0)
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    settings.get(engine, "approvals.required")  # the schema is there
    code = main(["retrain", "--model", "churn", "--base-version", "1", "--train-from", "2026-08-01",
                 "--train-to", "2026-09-10", "--seed", "4", "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "Registered churn v2 (candidate, parent v1)" in out
    assert registry.find_version(engine, "churn", 2).training_data["seed"] == 4
    code = main(["retrain", "--model", "churn", "--base-version", "1", "--train-from", "2026-08-01",
                 "--train-to", "2026-09-10", "--trigger", "schedule"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and "Registered churn v3" in captured.out
    lines = captured.err.splitlines()  # not a terminal: progress as lines, in order, up to 100%
    assert len(lines) >= 5 and lines[-1].startswith("100%  Registered churn v3")
    assert registry.find_version(engine, "churn", 3).trigger == "schedule"
    v2, v3 = registry.find_version(engine, "churn", 2), registry.find_version(engine, "churn", 3)
    canary = registry.record_deployment(engine, ADMIN, v2.id, "canary", 0.25, started_at=T0 + timedelta(days=50))
    shadow = registry.record_deployment(engine, ADMIN, v3.id, "shadow", 0.0, started_at=T0 + timedelta(days=51))
    assert main(["routing", "--model", "churn", "--json"]) == 0
    routing = json.loads(capsys.readouterr().out)
    v1 = registry.get_version(engine, base)
    assert routing["model_name"] == "churn"
    champion = routing["champion"]
    assert (champion["version"], champion["model_version_id"], champion["stage"]) == (1, base, "full")
    assert champion["traffic_share"] == pytest.approx(0.75)  # the canary takes its 25% from the champion
    assert (champion["artifact_sha256"], champion["since"]) == (v1.artifact_sha256, T0.isoformat())
    assert [(c["version"], c["model_version_id"], c["stage"], c["traffic_share"], c["deployment_id"])
            for c in routing["challengers"]] == [(2, v2.id, "canary", 0.25, canary.id)]  # fmt: skip
    assert [(c["version"], c["stage"], c["traffic_share"], c["deployment_id"]) for c in routing["shadows"]] == [
        (3, "shadow", 0.0, shadow.id)
    ]
    assert champion["traffic_share"] + sum(c["traffic_share"] for c in routing["challengers"]) == pytest.approx(1.0)
    on_disk = json.loads((tmp_path / "routing" / "churn.json").read_text())  # the file production reads
    assert {k: v for k, v in on_disk.items() if k != "as_of"} == {k: v for k, v in routing.items() if k != "as_of"}
    assert main(["retrain", "--model", "churn", "--base-version", "9", "--train-from", "2026-08-01",
                 "--train-to", "2026-09-10"]) == 2  # fmt: skip
    assert "No version 9" in capsys.readouterr().err
