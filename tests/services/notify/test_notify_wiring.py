"""The services publish their events in the same transaction as the change (issue 16 point 3): a request,
a decision, an executed promotion and rollback, a deployment, an alert opened and resolved; and a
subscribed webhook receives them signed."""

from __future__ import annotations

import sqlalchemy as sa

from services.core import settings
from services.core.roles import Actor, Role
from services.governance import approvals, executor
from services.monitoring import alerts
from services.notify import channels, delivery
from services.notify.schema import NotifyEvent
from tests.services import factories
from tests.services.models.test_rollout import APP1, APP2
from tests.services.models.test_rollout import churn as churn  # noqa: F401  (the fixture)
from tests.services.models.test_rollout import folders as folders  # noqa: F401  (the autouse fixture)
from tests.services.notify.test_notify_webhooks import SECRET, Receiver

ANA = Actor("ana@example.com", Role.analyst)


def _types(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(NotifyEvent.type).order_by(NotifyEvent.id)).scalars())


def test_governance_and_deployments_publish_their_events(engine, admin, churn):  # noqa: F811
    v1, v2, _ = churn
    settings.set_value(engine, admin, "approvals.required", {"promote": 1, "rollback": 1})
    before = len(_types(engine))
    row = approvals.request_change(engine, ANA, "promote", v2, "beats v1", payload={"stage": "full"})
    approvals.decide(engine, APP1, row.id, "approve")
    executor.execute(engine, APP2, row.id)
    types = _types(engine)[before:]
    assert types == ["approval.requested", "approval.decided", "deployment.changed", "request.executed"]
    back = approvals.request_change(engine, ANA, "rollback", "churn", "v2 hurts mobile")
    approvals.decide(engine, APP1, back.id, "approve")
    executor.execute(engine, APP2, back.id)
    assert _types(engine)[-2:] == ["request.executed", "deployment.rollback"]


def test_an_alert_reaches_a_subscribed_webhook_signed(engine, admin):
    receiver = Receiver()
    try:
        channels.add_channel(engine, admin, "webhook", receiver.url, ["alert.opened", "alert.resolved"],
                             secret=SECRET, allow_private=True)  # fmt: skip
        mv = factories.model_version(engine, "churn", 1)
        for rid in factories.predictions(engine, mv, 40):
            factories.outcome(engine, rid, 0)  # scores say 1 about half the time: accuracy far below 0.99
        alerts.create_rule(engine, ANA, name="accuracy", model_name="churn", metric="accuracy", threshold=0.99)
        [alert] = alerts.evaluate_rules(engine, ANA, "churn")
        alerts.resolve(engine, ANA, alert.id, "fixed")
        assert delivery.deliver_due(engine)["delivered"] == 2
        assert [(r["event"], r["valid"]) for r in receiver.requests] == [
            ("alert.opened", True),
            ("alert.resolved", True),
        ]
        assert receiver.requests[0]["body"]["data"]["alert_id"] == alert.id
    finally:
        receiver.close()
