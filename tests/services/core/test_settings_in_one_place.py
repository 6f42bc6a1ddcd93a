"""The settings the Settings screen edits, at the service level (SQLite and Postgres): new alert rules get
the admin's defaults (alerts.defaults) unless they say otherwise, a bad default is refused, and the server's
paths are for admins only."""

from __future__ import annotations

import pytest

from services.core import audit, settings
from services.core.errors import InvalidInput, PermissionDenied
from services.core.roles import Actor, Role
from services.monitoring import alerts
from tests.services import factories

ADMIN = Actor("root@example.com", Role.admin)
ANALYST = Actor("ana@example.com", Role.analyst)


def test_new_alert_rules_get_the_admins_defaults(engine):
    factories.model_version(engine, "churn", 1)
    assert alerts.rule_defaults(engine) == {"severity": "warning", "window": "7d"}
    first = alerts.create_rule(engine, ANALYST, name="a", model_name="churn", metric="accuracy", threshold=0.8)
    assert (first.severity, first.window) == ("warning", "7d")
    with pytest.raises(PermissionDenied):
        settings.set_value(engine, ANALYST, alerts.DEFAULTS_KEY, {"severity": "critical", "window": "28d"})
    settings.set_value(engine, ADMIN, alerts.DEFAULTS_KEY, {"severity": "critical", "window": "28d"})
    second = alerts.create_rule(engine, ANALYST, name="b", model_name="churn", metric="accuracy", threshold=0.8)
    assert (second.severity, second.window) == ("critical", "28d")
    third = alerts.create_rule(engine, ANALYST, name="c", model_name="churn", metric="accuracy", threshold=0.8,
                               window="1d", severity="info")  # fmt: skip
    assert (third.severity, third.window) == ("info", "1d")
    for bad in ({"severity": "panic", "window": "7d"}, {"severity": "info", "window": "3h"}, "critical"):
        with pytest.raises(InvalidInput):
            settings.set_value(engine, ADMIN, alerts.DEFAULTS_KEY, bad)
    events = audit.list_events(engine, audit.AuditFilter(action="setting.change"))
    assert list(events["subject_id"]) == [alerts.DEFAULTS_KEY]


def test_server_paths_are_for_admins_only(engine):
    for actor in (ANALYST, Actor("apo@example.com", Role.approver), Actor("v@example.com", Role.viewer)):
        with pytest.raises(PermissionDenied):
            settings.server_paths(engine, actor)
    paths = {p.setting: p.path for p in settings.server_paths(engine, ADMIN)}
    assert set(paths) == {"LOOPDECK_DATABASE_URL", "LOOPDECK_ARTIFACT_DIR", "LOOPDECK_ROUTING_DIR",
                          "LOOPDECK_AUDIT_KEY_FILE", "LOOPDECK_AUDIT_CHECKPOINT_FILE"}  # fmt: skip
    if engine.url.password:
        assert engine.url.password not in paths["LOOPDECK_DATABASE_URL"]
