"""Role x mutating action: each action is allowed from its minimum role up and refused below it,
and a refused action changes nothing (no row, no audit event). Feature areas add rows to ACTIONS."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from services import ingest
from services.backlog import evidence as backlog_evidence
from services.backlog import items as backlog
from services.core import audit, settings, users
from services.core.db import write_session
from services.core.errors import PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_monitoring import Alert
from services.experiments import lifecycle as experiments
from services.feedback import edits as feedback_edits
from services.feedback import themes, training_sets
from services.governance import approvals
from services.ingest import erasure
from services.models import judge, registry, retraining
from services.monitoring import alerts, overrides, retention
from tests.services import factories


@dataclass(frozen=True)
class Action:
    name: str
    minimum: Role
    run: Callable  # (engine, actor, setup) -> None
    setup: Callable = lambda engine, admin: None  # (engine, admin) -> anything the action needs


def _target(engine, admin):
    return users.add_user(engine, admin, "target@example.com", "analyst", "password-123")


def _feedback_item(engine, admin):
    return factories.feedback(engine, 1)[0]


def _texts(engine, admin):
    words = ["app slow login", "price too high", "export broken csv", "support never answers"]
    for i, text in enumerate(words * 5):
        factories.feedback(engine, 1, text=f"{text} {i}", source=f"s{i}")


def _labelled(engine, admin):
    mv = factories.model_version(engine)
    request_ids = factories.predictions(engine, mv, 1)
    factories.feedback(engine, 1, request_ids, status="labelled", corrected_label=1)


def _model(engine, admin):
    return factories.model_version(engine)


def _retained(engine, admin):
    mv = factories.model_version(engine)
    factories.predictions(engine, mv, 3)
    retention.set_retention(engine, admin, "churn", 30)


def _erasable(engine, admin):
    return factories.predictions(engine, factories.model_version(engine), 3)[1]


def _canary(engine, admin):
    mv = factories.model_version(engine)
    return registry.record_deployment(engine, admin, mv, "canary", 0.1).id


def _request(engine, admin):
    mv = factories.model_version(engine)
    return approvals.request_change(engine, Actor("requester@example.com", Role.analyst), "canary", mv, "why")


def _item(engine, admin):
    return backlog.create_item(engine, admin, kind="tech_debt", title="Pin versions").id


def _item_in_progress(engine, admin):
    item_id = _item(engine, admin)
    backlog.transition(engine, admin, item_id, "in_progress")
    return item_id


def _fitted():
    return DummyClassifier().fit([[0.0], [1.0]], [0, 1])


def _prediction_frame(engine, admin):
    factories.model_version(engine)
    return pd.DataFrame(
        {"request_id": ["r1"], "model_name": ["churn"], "model_version": [1], "ts": ["2026-01-01T00:00:00"],
         "score": [0.4], "predicted_label": [0]}
    )  # fmt: skip


def _rule(engine, admin):
    factories.model_version(engine)
    return alerts.create_rule(engine, admin, name="accuracy", model_name="churn", metric="accuracy", threshold=0.8).id


def _alert(engine, admin):
    rule_id = _rule(engine, admin)
    with write_session(engine) as session:
        alert = Alert(rule_id=rule_id, state="open", value=0.7, evidence={"metric": "accuracy", "model": "churn"})
        session.add(alert)
        session.flush()
        return alert.id


def _override(engine, admin):
    factories.model_version(engine)
    overrides.set_override(engine, admin, "churn", "x", "psi", 0.2)


ACTIONS = [
    Action("add user", Role.admin, lambda e, a, s: users.add_user(e, a, "new@example.com", "viewer", "password-123")),
    Action("change role", Role.admin, lambda e, a, s: users.change_role(e, a, s.id, "approver"), _target),
    Action("disable user", Role.admin, lambda e, a, s: users.set_disabled(e, a, s.id, True), _target),
    Action("unlock user", Role.admin, lambda e, a, s: users.unlock(e, a, s.id), _target),
    Action(
        "reset another's password", Role.admin, lambda e, a, s: users.set_password(e, a, s.id, "other-pass-1"), _target
    ),
    Action("list users", Role.admin, lambda e, a, s: users.list_users(e, a)),
    Action("change a setting", Role.admin, lambda e, a, s: settings.set_value(e, a, "feedback.sla_days", 5)),
    Action(
        "import data",
        Role.analyst,
        lambda e, a, s: ingest.import_frame(e, a, "predictions", s, "t.csv"),
        _prediction_frame,
    ),
    Action(
        "triage feedback",
        Role.analyst,
        lambda e, a, s: feedback_edits.update_items(e, a, {s: 1}, feedback_edits.Patch(priority="high")),
        _feedback_item,
    ),
    Action("cluster themes", Role.analyst, lambda e, a, s: themes.run_clustering(e, a, n_themes=2), _texts),
    Action("create training set", Role.analyst, lambda e, a, s: training_sets.create_dataset(e, a, "x"), _labelled),
    Action(
        "create backlog item",
        Role.analyst,
        lambda e, a, s: backlog.create_item(e, a, kind="tech_debt", title="Refactor"),
    ),
    Action("edit backlog item", Role.analyst, lambda e, a, s: backlog.update_item(e, a, s, {"effort": 2}), _item),
    Action("plan backlog item", Role.analyst, lambda e, a, s: backlog.transition(e, a, s, "planned"), _item),
    Action(
        "close backlog item",
        Role.analyst,
        lambda e, a, s: backlog.close(e, a, s, metric="accuracy", before=0.7, after=0.8),
        _item_in_progress,
    ),
    Action(
        "link backlog evidence",
        Role.analyst,
        lambda e, a, s: backlog.add_evidence(e, a, s, backlog_evidence.EvidenceRef("alert", "7")),
        _item,
    ),
    Action(
        "register model version",
        Role.analyst,
        lambda e, a, s: registry.register_model_version(
            e,
            a,
            "churn",
            _fitted(),
            feature_schema={"x": "numeric"},
            params={},
            metrics={},
            training_data={},
            model_card={},
        ),
    ),
    Action(  # without an approved request: admin (or the system) only; approvers go through rollout
        "record deployment", Role.admin, lambda e, a, s: registry.record_deployment(e, a, s, "canary", 0.1), _model
    ),
    Action(
        "register experiment",
        Role.analyst,
        lambda e, a, s: experiments.register_experiment(
            e,
            a,
            "exp",
            "Exp",
            "h",
            [{"key": "control", "allocation": 0.5}, {"key": "treatment", "allocation": 0.5}],
            "conversion",
        ),
    ),
    Action(
        "request approval", Role.analyst, lambda e, a, s: approvals.request_change(e, a, "canary", s, "because"), _model
    ),
    Action("approve a request", Role.approver, lambda e, a, s: approvals.decide(e, a, s.id, "approve"), _request),
    Action("set a drift test", Role.analyst, lambda e, a, s: overrides.set_override(e, a, "churn", "x", "ks"), _model),
    Action("reset a drift test", Role.analyst, lambda e, a, s: overrides.clear_override(e, a, "churn", "x"), _override),
    Action(
        "create alert rule",
        Role.analyst,
        lambda e, a, s: alerts.create_rule(e, a, name="r", model_name="churn", metric="drift_share", threshold=0.5),
        _model,
    ),
    Action("pause alert rule", Role.analyst, lambda e, a, s: alerts.set_rule_enabled(e, a, s, False), _rule),
    Action("change alert threshold", Role.analyst, lambda e, a, s: alerts.update_rule_threshold(e, a, s, 0.7), _rule),
    Action("evaluate alert rules", Role.analyst, lambda e, a, s: alerts.evaluate_rules(e, a), _rule),
    Action("acknowledge alert", Role.analyst, lambda e, a, s: alerts.acknowledge(e, a, s, "on it"), _alert),
    Action("resolve alert", Role.analyst, lambda e, a, s: alerts.resolve(e, a, s), _alert),
    Action("file alert to backlog", Role.analyst, lambda e, a, s: alerts.to_backlog(e, a, s), _alert),
    Action(
        "request retraining",
        Role.analyst,
        lambda e, a, s: retraining.request_retrain(
            e, a, s, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC), comment="weekly"
        ),
        _model,
    ),
    Action(
        "edit model card", Role.analyst, lambda e, a, s: registry.update_model_card(e, a, s, {"owner": "ml"}), _model
    ),
    Action("end a canary", Role.admin, lambda e, a, s: registry.end_deployment(e, a, s, reason="done"), _canary),
    Action("set a model's retention", Role.admin, lambda e, a, s: retention.set_retention(e, a, "churn", 7), _model),
    Action("purge raw rows past retention", Role.admin, lambda e, a, s: retention.purge(e, a, "churn"), _retained),
    Action("erase a request", Role.admin, lambda e, a, s: erasure.erase_request(e, a, s, "DSR-1"), _erasable),
    Action(
        "set the judge's gates",
        Role.admin,
        lambda e, a, s: settings.set_value(e, a, judge.SETTING_KEY, judge.default_thresholds_setting()),
    ),
]


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.name)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_role_table(engine, action: Action, role: Role):
    root = Actor("root@example.com", Role.admin)
    subject = action.setup(engine, root)
    actor = Actor(f"{role.name}@example.com", role, user_id=None)
    before = audit.count_events(engine)
    if role >= action.minimum:
        action.run(engine, actor, subject)
    else:
        with pytest.raises(PermissionDenied, match=action.minimum.name):
            action.run(engine, actor, subject)
        assert audit.count_events(engine) == before
