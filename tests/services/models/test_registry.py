"""Model registry: skops artifacts (round trip, checksum, no pickles, type allow-list), version numbers,
deployment history (never overwritten, one open full deployment), roles and audit events.
Also the minimal experiment registry (services/experiments/lifecycle.py)."""

from __future__ import annotations

import hashlib
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from services.core import audit
from services.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_models import ModelVersion
from services.experiments import lifecycle as experiments
from services.models import registry

ANALYST = Actor("ana@test.io", Role.analyst)
APPROVER = Actor("apo@test.io", Role.approver)
ADMIN = Actor("adm@test.io", Role.admin)  # deployments without an approval request: admins and the system
VIEWER = Actor("vic@test.io", Role.viewer)
SCHEMA = {"x": "numeric", "y": "numeric", "plan": "categorical"}
T0 = datetime(2026, 8, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def artifacts(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "artifacts"
    monkeypatch.setenv(registry.ARTIFACT_DIR_ENV, str(folder))
    monkeypatch.setenv("LOOPDECK_ROUTING_DIR", str(tmp_path / "routing"))
    return folder


def _data(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "plan": rng.choice(["free", "pro", "team"], n),
        }
    )
    y = (frame["x"] + 0.5 * (frame["plan"] == "pro") + rng.normal(scale=0.5, size=n) > 0).astype(int).to_numpy()
    return frame, y


def _pipeline(clf=None) -> Pipeline:
    frame, y = _data()
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["x", "y"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", clf or LogisticRegression())]).fit(frame, y)


def _register(engine, estimator=None, actor=ANALYST, **kw) -> ModelVersion:
    return registry.register_model_version(
        engine,
        actor,
        kw.pop("model_name", "churn"),
        estimator if estimator is not None else _pipeline(),
        feature_schema=kw.pop("feature_schema", SCHEMA),
        params={"C": 1.0},
        metrics={"roc_auc": 0.9},
        training_data={"window_start": "2026-06-01", "window_end": "2026-07-31", "rows": 300},
        model_card={"summary": "test model"},
        **kw,
    )


class Custom:
    """Not on the allow-list: an artifact holding it must not load."""

    def __init__(self):
        self.value = 1


# --- artifacts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "clf", [LogisticRegression(), HistGradientBoostingClassifier(max_iter=20, random_state=0)], ids=["logreg", "hgb"]
)
def test_skops_round_trip(engine, artifacts, clf):
    model = _pipeline(clf)
    row = _register(engine, model)
    assert row.version == 1 and row.status == "candidate" and row.created_by == ANALYST.label
    path = Path(row.artifact_uri)
    assert path.is_file() and path.is_relative_to(artifacts.resolve()) and path.suffix == ".skops"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row.artifact_sha256
    loaded = registry.load_model(engine, row.id)
    frame, _ = _data()
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    stored = registry.get_version(engine, row.id)
    assert stored.feature_schema == SCHEMA and stored.metrics == {"roc_auc": 0.9}
    assert stored.training_data["rows"] == 300 and stored.model_card == {"summary": "test model"}


def test_versions_are_numbered_per_model_with_lineage(engine):
    v1 = _register(engine)
    v2 = _register(engine, parent_id=v1.id, trigger="schedule", created_at=T0)
    other = _register(engine, model_name="fraud")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v2.parent_id == v1.id and v2.trigger == "schedule"
    assert registry.get_version(engine, v2.id).created_at.replace(tzinfo=UTC) == T0
    assert [v.version for v in registry.list_versions(engine, "churn")] == [1, 2]
    assert len(registry.list_versions(engine)) == 3
    assert registry.find_version(engine, "churn", 2).id == v2.id
    with pytest.raises(InvalidInput, match="belongs to churn"):
        _register(engine, model_name="fraud", parent_id=v1.id)
    with pytest.raises(NotFound):
        _register(engine, parent_id=9999)


def test_checksum_mismatch_is_refused(engine):
    row = _register(engine)
    path = Path(row.artifact_uri)
    # Replace the file by another valid skops model: only the checksum can tell.
    other = _register(engine, _pipeline(LogisticRegression(C=0.01)))
    path.write_bytes(Path(other.artifact_uri).read_bytes())
    with pytest.raises(InvalidInput, match="checksum"):
        registry.load_model(engine, row.id)


def test_a_pickle_is_never_loaded(engine):
    row = _register(engine)
    path = Path(row.artifact_uri)
    payload = pickle.dumps(_pipeline())
    path.write_bytes(payload)
    # Even with a matching checksum (someone edited the row too), the format check refuses it.
    with engine.begin() as conn:
        conn.execute(
            sa.update(ModelVersion.__table__)
            .where(ModelVersion.__table__.c.id == row.id)
            .values(artifact_sha256=hashlib.sha256(payload).hexdigest())
        )
    with pytest.raises(InvalidInput, match="not a skops file"):
        registry.load_model(engine, row.id)
    with pytest.raises(InvalidInput, match="not a skops file"):
        registry.loads_artifact(payload, None)


def test_types_outside_the_allow_list_are_refused(engine):
    import skops.io as sio

    data = sio.dumps({"thing": Custom()})
    with pytest.raises(InvalidInput, match="not allowed"):
        registry.loads_artifact(data, hashlib.sha256(data).hexdigest())
    # ... and such a model is not registered in the first place (nothing written).
    with pytest.raises(InvalidInput):
        _register(engine, Pipeline([("f", FunctionTransformer(Custom)), ("clf", LogisticRegression())]))
    assert registry.list_versions(engine) == []


def test_missing_artifact_and_unknown_version(engine):
    row = _register(engine)
    Path(row.artifact_uri).unlink()
    with pytest.raises(NotFound, match="missing"):
        registry.load_model(engine, row.id)
    with pytest.raises(NotFound):
        registry.load_model(engine, 4242)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"model_name": "../etc"}, "not valid"),
        ({"model_name": ""}, "not valid"),
        ({"feature_schema": {"x": "float"}}, "numeric"),
        ({"feature_schema": {}}, "at least one"),
    ],
)
def test_invalid_registrations(engine, artifacts, kw, message):
    with pytest.raises(InvalidInput, match=message):
        _register(engine, **kw)
    assert registry.list_versions(engine) == []
    assert not any(artifacts.rglob("*.skops")) if artifacts.exists() else True


def test_non_json_metrics_and_non_estimators_are_refused(engine):
    with pytest.raises(InvalidInput, match="plain JSON"):
        registry.register_model_version(
            engine,
            ANALYST,
            "churn",
            _pipeline(),
            feature_schema=SCHEMA,
            params={},
            metrics={"auc": float("nan")},
            training_data={},
            model_card={},
        )
    with pytest.raises(InvalidInput, match="predict"):
        _register(engine, {"not": "a model"})


# --- deployments -------------------------------------------------------------------------------


def test_deployment_history_is_never_overwritten(engine):
    v1, v2 = _register(engine), _register(engine)
    d1 = registry.record_deployment(engine, ADMIN, v1.id, "full", 1.0, started_at=T0, reason="first")
    c2 = registry.record_deployment(engine, ADMIN, v2.id, "canary", 0.1, started_at=T0 + timedelta(days=45))
    assert registry.get_version(engine, v2.id).status == "challenger"
    c2b = registry.record_deployment(engine, ADMIN, v2.id, "canary", 0.25, started_at=T0 + timedelta(days=47))
    f2 = registry.record_deployment(engine, ADMIN, v2.id, "full", 1.0, started_at=T0 + timedelta(days=50))
    history = {d.id: d for d in registry.list_deployments(engine, "churn")}
    assert list(history) == [d1.id, c2.id, c2b.id, f2.id]

    def ended(d):
        return history[d.id].ended_at.replace(tzinfo=UTC) if history[d.id].ended_at else None

    assert ended(d1) == T0 + timedelta(days=50)  # the new full deployment ended the old one
    assert ended(c2) == T0 + timedelta(days=47)  # a new share at the same stage ended the old share
    assert ended(c2b) == T0 + timedelta(days=50)  # going full ended the version's canary
    assert ended(f2) is None
    assert [d.stage for d in history.values() if d.ended_at is None] == ["full"]
    assert registry.get_version(engine, v1.id).status == "archived"
    assert registry.get_version(engine, v2.id).status == "champion"
    assert history[d1.id].reason == "first" and history[d1.id].started_by == ADMIN.label


def test_every_deployment_change_rewrites_the_routing_file(engine, tmp_path):
    import json

    v1, v2 = _register(engine), _register(engine)
    path = tmp_path / "routing" / "churn.json"
    registry.record_deployment(engine, ADMIN, v1.id, "full", 1.0, started_at=T0)
    assert json.loads(path.read_text())["champion"]["version"] == 1
    canary = registry.record_deployment(engine, ADMIN, v2.id, "canary", 0.1, started_at=T0 + timedelta(days=1))
    routing = json.loads(path.read_text())
    assert routing["champion"]["traffic_share"] == pytest.approx(0.9)
    assert [(c["version"], c["traffic_share"]) for c in routing["challengers"]] == [(2, 0.1)]
    registry.end_deployment(engine, ADMIN, canary.id, ended_at=T0 + timedelta(days=2), reason="enough")
    routing = json.loads(path.read_text())
    assert routing["challengers"] == [] and routing["champion"]["traffic_share"] == 1.0
    assert [p.name for p in path.parent.iterdir()] == ["churn.json"]  # no temporary file left behind


def test_old_champion_serving_a_holdout_is_a_challenger(engine):
    v1, v2 = _register(engine), _register(engine)
    registry.record_deployment(engine, ADMIN, v1.id, "full", 1.0, started_at=T0)
    registry.record_deployment(engine, ADMIN, v2.id, "full", 0.9, started_at=T0 + timedelta(days=50))
    registry.record_deployment(engine, ADMIN, v1.id, "canary", 0.1, started_at=T0 + timedelta(days=50))
    assert registry.get_version(engine, v1.id).status == "challenger"
    open_ = [d for d in registry.list_deployments(engine) if d.ended_at is None]
    assert sorted((d.model_version_id, d.stage) for d in open_) == sorted([(v2.id, "full"), (v1.id, "canary")])


def test_deployment_rules(engine):
    v1 = _register(engine)
    registry.record_deployment(engine, ADMIN, v1.id, "full", 1.0, started_at=T0)
    with pytest.raises(InvalidInput, match="already serves full"):
        registry.record_deployment(engine, ADMIN, v1.id, "canary", 0.1)
    v2 = _register(engine)
    with pytest.raises(InvalidInput, match="cannot end before it started"):
        registry.record_deployment(engine, ADMIN, v2.id, "full", 1.0, started_at=T0 - timedelta(days=1))
    for stage, share, message in (
        ("blue", 0.5, "Unknown stage"),
        ("canary", 1.5, "between 0 and 1"),
        ("canary", 0.0, "above 0"),
        ("canary", "lots", "number"),
    ):
        with pytest.raises(InvalidInput, match=message):
            registry.record_deployment(engine, ADMIN, v2.id, stage, share)
    with pytest.raises(NotFound):
        registry.record_deployment(engine, ADMIN, 999, "full", 1.0)
    shadow = registry.record_deployment(engine, ADMIN, v2.id, "shadow", 0.0, started_at=T0 + timedelta(days=1))
    ended = registry.end_deployment(engine, ADMIN, shadow.id, ended_at=T0 + timedelta(days=2), reason="done")
    assert ended.ended_at is not None
    with pytest.raises(Conflict, match="already ended"):
        registry.end_deployment(engine, ADMIN, shadow.id)


# --- roles and audit ---------------------------------------------------------------------------


def test_roles(engine):
    with pytest.raises(PermissionDenied, match="analyst"):
        _register(engine, actor=VIEWER)
    row = _register(engine, actor=ANALYST)
    for actor in (ANALYST, APPROVER):  # four-eyes: a lone approver does not change what serves
        with pytest.raises(PermissionDenied, match="admin"):
            registry.record_deployment(engine, actor, row.id, "full", 1.0)
    deployment = registry.record_deployment(engine, ADMIN, row.id, "full", 1.0)
    canary = registry.record_deployment(engine, ADMIN, _register(engine).id, "canary", 0.1)
    for actor in (ANALYST, APPROVER):
        with pytest.raises(PermissionDenied, match="admin"):
            registry.end_deployment(engine, actor, canary.id)
    assert registry.aliases(engine, "churn").champion.id == row.id and deployment.ended_at is None
    assert [d.id for d in registry.list_deployments(engine) if d.ended_at is None] == [deployment.id, canary.id]
    with pytest.raises(PermissionDenied):
        experiments.register_experiment(engine, VIEWER, "exp", "Exp", "", _variants(), "converted")


def test_audit_events(engine):
    row = _register(engine)
    deployment = registry.record_deployment(engine, ADMIN, row.id, "full", 1.0, started_at=T0)
    events = audit.list_events(engine)
    by_action = {e.action: e for e in events.itertuples()}
    assert by_action["model.register"].subject_id == str(row.id)
    assert by_action["model.register"].actor == ANALYST.label
    assert row.artifact_sha256 in by_action["model.register"].payload
    assert by_action["model.deploy"].subject_id == str(deployment.id)
    assert '"stage":"full"' in by_action["model.deploy"].payload
    assert audit.verify(engine).intact
    # A refused action writes nothing.
    before = audit.count_events(engine)
    with pytest.raises(InvalidInput):
        registry.record_deployment(engine, ADMIN, row.id, "canary", 0.1)
    assert audit.count_events(engine) == before


def test_in_session_deployments_need_an_approved_request_about_this_model(engine):
    """deploy_in_session/end_in_session (what services/rollout calls) take an approver only while the
    governance executor carries out an approved request of a matching kind about the same model; without
    one, an admin. Holding an approved request is not enough for a direct call."""
    from services.core.db import write_session
    from services.governance import approvals

    v1, v2 = _register(engine), _register(engine)
    other = _register(engine, model_name="fraud")
    registry.record_deployment(engine, ADMIN, v1.id, "full", 1.0, started_at=T0)
    canary = registry.record_deployment(engine, ADMIN, v2.id, "canary", 0.1, started_at=T0 + timedelta(days=1))
    pending = approvals.request_change(engine, ANALYST, "promote", v2.id, "v2 is better")
    elsewhere = approvals.request_change(engine, ANALYST, "promote", other.id, "fraud v1")
    approvals.decide(engine, APPROVER, elsewhere.id, "approve")
    approvals.decide(engine, Actor("apo2@test.io", Role.approver), elsewhere.id, "approve")
    before = audit.count_events(engine)
    refusals = [
        (PermissionDenied, "admin", lambda s: registry.deploy_in_session(s, APPROVER, v2.id, "full", 1.0)),
        (PermissionDenied, "admin", lambda s: registry.end_in_session(s, APPROVER, canary.id)),
        (Conflict, r"\(promote, pending\)", lambda s: registry.deploy_in_session(
            s, APPROVER, v2.id, "full", 1.0, approval_request_id=pending.id)),
        (Conflict, "not churn v2", lambda s: registry.deploy_in_session(
            s, APPROVER, v2.id, "full", 1.0, approval_request_id=elsewhere.id)),
        (Conflict, r"\(promote, approved\)", lambda s: registry.end_in_session(
            s, APPROVER, canary.id, approval_request_id=elsewhere.id)),
        (NotFound, "#999", lambda s: registry.end_in_session(s, APPROVER, canary.id, approval_request_id=999)),
    ]  # fmt: skip
    for error, message, call in refusals:
        with pytest.raises(error, match=message), write_session(engine) as session:
            call(session)
    assert audit.count_events(engine) == before
    assert registry.aliases(engine, "churn").champion.id == v1.id
    # the approved request about this version: a direct call is still refused; the executor carries it out
    from services.governance import executor

    approvals.decide(engine, APPROVER, pending.id, "approve")
    approvals.decide(engine, Actor("apo2@test.io", Role.approver), pending.id, "approve")
    with pytest.raises(PermissionDenied, match="only the governance executor"), write_session(engine) as session:
        registry.deploy_in_session(session, APPROVER, v2.id, "full", 1.0, approval_request_id=pending.id)
    assert registry.aliases(engine, "churn").champion.id == v1.id
    executor.execute(engine, APPROVER, pending.id)
    assert registry.aliases(engine, "churn").champion.id == v2.id


# --- experiments (minimal) ---------------------------------------------------------------------


def _variants(model_ids=(None, None)):
    return [
        {"key": "control", "model_version_id": model_ids[0], "allocation": 0.5},
        {"key": "treatment", "model_version_id": model_ids[1], "allocation": 0.5},
    ]


def test_experiment_lifecycle(engine):
    v1, v2 = _register(engine), _register(engine)
    exp = experiments.register_experiment(
        engine,
        ANALYST,
        "churn-model-ab",
        "v1 vs v2",
        "v2 keeps more customers",
        _variants((v1.id, v2.id)),
        "retained_30d",
        ["revenue_30d"],
        ["support_contacts", {"metric": "nps", "bad_direction": "decrease"}],
        "conversion",
        0.03,
        0.05,
        0.8,
        7320,
        "sequential",
        T0,
    )
    assert exp.status == "draft" and exp.planned_sample_size == 7320
    assert exp.guardrail_metrics == [
        {"metric": "support_contacts", "bad_direction": "increase"},
        {"metric": "nps", "bad_direction": "decrease"},
    ]
    assert [v["model_version_id"] for v in exp.variants] == [v1.id, v2.id]
    running = experiments.set_status(engine, ANALYST, exp.id, "running", at=T0 + timedelta(days=1))
    assert running.status == "running" and running.start_at.replace(tzinfo=UTC) == T0 + timedelta(days=1)
    with pytest.raises(InvalidInput, match="decision"):
        experiments.conclude(engine, ANALYST, exp.id, "  ")
    with pytest.raises(Conflict, match="approved stop request"):  # an analyst: the stop needs four eyes
        experiments.conclude(engine, ANALYST, exp.id, "Ship v2", at=T0 + timedelta(days=30))
    done = experiments.conclude(engine, Actor.system("loader"), exp.id, "Ship v2", at=T0 + timedelta(days=30))
    assert done.status == "concluded" and done.decision == "Ship v2"
    assert done.end_at.replace(tzinfo=UTC) == T0 + timedelta(days=30)
    with pytest.raises(Conflict):
        experiments.set_status(engine, ANALYST, exp.id, "running")
    assert experiments.get_experiment(engine, "churn-model-ab").id == exp.id
    assert [e.key for e in experiments.list_experiments(engine, "concluded")] == ["churn-model-ab"]
    actions = set(audit.list_events(engine)["action"])
    assert {"experiment.register", "experiment.status", "experiment.conclude"} <= actions


@pytest.mark.parametrize(
    "kw, error",
    [
        ({"key": "Bad Key"}, InvalidInput),
        ({"variants": [{"key": "a", "allocation": 1.0}]}, InvalidInput),
        ({"variants": [{"key": "a", "allocation": 0.5}, {"key": "a", "allocation": 0.5}]}, InvalidInput),
        ({"variants": [{"key": "a", "allocation": 0.6}, {"key": "b", "allocation": 0.6}]}, InvalidInput),
        (
            {"variants": [{"key": "a", "allocation": 0.5, "model_version_id": 999}, {"key": "b", "allocation": 0.5}]},
            NotFound,
        ),
        ({"metric_type": "ratio"}, InvalidInput),
        ({"alpha": 0.9}, InvalidInput),
        ({"planned_sample_size": -5}, InvalidInput),
        ({"guardrail_metrics": [{"metric": "x", "bad_direction": "sideways"}]}, InvalidInput),
    ],
)
def test_experiment_validation(engine, kw, error):
    args = {"key": "exp-1", "name": "Exp", "hypothesis": "", "variants": _variants(), "primary_metric": "converted"}
    args.update(kw)
    with pytest.raises(error):
        experiments.register_experiment(engine, ANALYST, **args)
    assert experiments.list_experiments(engine) == []


def test_experiment_keys_are_unique(engine):
    experiments.register_experiment(engine, ANALYST, "exp-1", "Exp", "", _variants(), "converted")
    with pytest.raises(Conflict):
        experiments.register_experiment(engine, ANALYST, "exp-1", "Again", "", _variants(), "converted")
