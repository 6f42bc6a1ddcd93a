"""AppTest of the Settings screen: admins only (the sidebar, the page's own role check, the services);
each setting saves through its service (audited) and is what the feature then uses; the server's paths
are shown to admins only. The old places (Feedback, Approvals, Models' Judge) point here."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app import nav
from pages.settings import keys
from services.core import audit, settings, users
from services.core.errors import PermissionDenied
from services.core.roles import Actor, Role
from services.models import judge
from services.monitoring import alerts
from tests.pages.helpers import ok

PAGE = "pages/settings/page.py"


def open_settings(signed_in, role: str = "admin") -> AppTest:
    return ok(signed_in(role, PAGE))


def section(at: AppTest, name: str) -> AppTest:
    return ok(at.segmented_control(key=keys.SECTION).set_value(name).run())


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def changed(engine) -> list[str]:
    return sorted(audit.list_events(engine, audit.AuditFilter(action="setting.change"))["subject_id"])


@pytest.mark.parametrize("role", ["viewer", "analyst", "approver"])
def test_below_admin_the_page_is_not_there(signed_in, role):
    assert PAGE not in [p.path for p in nav.visible_pages(Role[role])]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        signed_in(role).switch_page(PAGE)


def test_an_admin_demoted_while_on_the_page_sees_no_setting(signed_in, make_user, page_db):
    """Every run re-reads the account: once demoted, the page shows none of its settings."""
    at = open_settings(signed_in)
    assert at.title[0].value == "Settings" and at.number_input(key=keys.SLA)
    boss = users.current_actor(page_db, make_user("admin"))
    other = make_user("admin", "second@loopdeck.test")
    at.session_state["loopdeck_user_id"] = other
    at = ok(at.run())
    assert at.title[0].value == "Settings"
    users.change_role(page_db, boss, other, "analyst")
    at = at.run()
    assert not [t for t in at.title if t.value == "Settings"]
    assert not [n for n in at.number_input if n.key == keys.SLA]
    analyst = Actor("second@loopdeck.test", Role.analyst)
    with pytest.raises(PermissionDenied):
        settings.server_paths(page_db, analyst)
    with pytest.raises(PermissionDenied):
        settings.set_value(page_db, analyst, alerts.DEFAULTS_KEY, {"severity": "info", "window": "1d"})


def test_feedback_sla_and_categories_save(signed_in, page_db):
    at = open_settings(signed_in)
    at.number_input(key=keys.SLA).set_value(5)
    at = ok(button(at, "Save SLA").click().run())
    assert settings.get(page_db, "feedback.sla_days") == 5
    at.text_area(key=keys.CATEGORIES).set_value("bug\nlogin, billing")
    at = ok(button(at, "Save categories").click().run())
    assert settings.get(page_db, "feedback.categories") == ["bug", "login", "billing"]
    assert changed(page_db) == ["feedback.categories", "feedback.sla_days"]


def test_approvals_per_kind_and_request_expiry_save(signed_in, page_db):
    at = section(open_settings(signed_in), "Approvals")
    table = at.data_editor(key=keys.APPROVALS_EDITOR).value
    assert dict(zip(table["kind"], table["approvals"], strict=True))["promote"] == 2
    row = list(table["kind"]).index("promote")
    at.session_state[keys.APPROVALS_EDITOR] = {
        "edited_rows": {row: {"approvals": 3}},
        "added_rows": [],
        "deleted_rows": [],
    }  # fmt: skip  (a cell edit, as the browser sends it)
    at = ok(at.button(key=keys.APPROVALS_SAVE).click().run())
    assert settings.get(page_db, "approvals.required")["promote"] == 3
    at.number_input(key=keys.EXPIRY).set_value(30)
    at = ok(button(at, "Save expiry").click().run())
    assert settings.get(page_db, "approvals.expiry_days") == 30
    assert changed(page_db) == ["approvals.expiry_days", "approvals.required"]


def test_judge_gates_save_and_a_bad_gate_is_refused(signed_in, page_db):
    at = section(open_settings(signed_in), "Judge gates")
    table = at.data_editor(key=keys.GATES_EDITOR).value
    row = list(table["metric"]).index("accuracy")
    at.session_state[keys.GATES_EDITOR] = {"edited_rows": {row: {"min_absolute_change": -0.05}}, "added_rows": [],
                                           "deleted_rows": []}  # fmt: skip
    at = ok(at.button(key=keys.GATES_SAVE).click().run())
    assert settings.get(page_db, judge.SETTING_KEY)["overall"]["accuracy"]["min_absolute_change"] == -0.05
    assert judge.config_from_settings(page_db).thresholds["accuracy"].min_absolute_change == -0.05
    saved = settings.get(page_db, judge.SETTING_KEY)
    at.session_state[keys.GATES_EDITOR] = {"edited_rows": {row: {"scope": "everywhere"}}, "added_rows": [],
                                           "deleted_rows": []}  # fmt: skip
    at = at.button(key=keys.GATES_SAVE).click().run()
    assert at.error and "Scope is overall or cohort" in at.error[0].value
    assert settings.get(page_db, judge.SETTING_KEY) == saved


def test_alert_defaults_save_and_new_rules_get_them(signed_in, page_db):
    at = section(open_settings(signed_in), "Alerts")
    at.selectbox(key=keys.ALERT_SEVERITY).set_value("critical")
    at.selectbox(key=keys.ALERT_WINDOW).set_value("28d")
    at = ok(button(at, "Save alert defaults").click().run())
    assert alerts.rule_defaults(page_db) == {"severity": "critical", "window": "28d"}
    assert changed(page_db) == [alerts.DEFAULTS_KEY]


def test_server_paths_are_shown_to_admins(signed_in, page_db):
    at = section(open_settings(signed_in), "Server")
    paths = at.dataframe[0].value
    assert list(paths["set by"]) == ["LOOPDECK_DATABASE_URL", "LOOPDECK_ARTIFACT_DIR", "LOOPDECK_ROUTING_DIR",
                                     "LOOPDECK_AUDIT_KEY_FILE", "LOOPDECK_AUDIT_CHECKPOINT_FILE"]  # fmt: skip
    assert paths["path"].iloc[0] == page_db.url.database
    assert paths["path"].iloc[1].endswith("artifacts")
