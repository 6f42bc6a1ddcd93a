"""The foundation screens through AppTest: sign-in, navigation by role, Overview, Audit log, Admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app import nav, state
from services.core import audit, sessions, settings, users
from services.core import signin_throttle as throttle
from services.core.audit import AuditFilter
from services.core.errors import AuthenticationFailed
from services.core.roles import Role
from services.core.timeutil import utcnow
from tests.pages.conftest import PASSWORD, ROLES, app_test
from tests.services.core.audit_attack import as_attacker


def texts(elements) -> list[str]:
    """What the user reads: service messages are markdown-escaped before they are shown."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def fill_login(at, email: str, password: str):
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    at.button[0].click()
    return at.run()


# --- navigation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_each_role(signed_in, role):
    at = signed_in(role)
    assert not at.exception
    assert texts(at.title) == ["Overview"]
    for spec in nav.visible_pages(Role[role]):
        at.switch_page(spec.path).run()
        assert not at.exception, (spec.path, at.exception)
        assert not at.error, (spec.path, texts(at.error))
        assert texts(at.title) == [spec.title], spec.path


@pytest.mark.parametrize("role", ["viewer", "analyst", "approver"])
def test_admin_page_is_not_registered_for_non_admins(signed_in, role):
    at = signed_in(role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/admin/page.py")
    at.switch_page("pages/audit/page.py").run()
    assert texts(at.title) == ["Audit log"]


def test_sidebar_shows_who_is_signed_in(signed_in):
    at = signed_in("approver")
    assert "approver@loopdeck.test" in texts(at.sidebar.text)
    assert any(b.label == "Sign out" for b in at.sidebar.button)


def test_nav_lists_pages_by_role(tmp_path):
    for spec in nav.PAGES:
        (tmp_path / spec.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / spec.path).write_text("")
    titles = {role: [p.title for p in nav.visible_pages(role, root=tmp_path)] for role in Role}
    everyone = [
        "Overview",
        "Feedback",
        "Monitoring",
        "Experiments",
        "Models",
        "Backlog",
        "Approvals",
        "Audit log",
        "Schedules",
        "My account",
    ]
    assert titles[Role.viewer] == everyone
    assert titles[Role.analyst] == titles[Role.approver] == everyone[:1] + ["Data"] + everyone[1:]
    admin_only = ["Notifications", "Settings", "Admin"]
    assert titles[Role.admin] == everyone[:1] + ["Data"] + everyone[1:9] + admin_only + ["My account"]
    assert list(nav.sections(Role.admin, root=tmp_path)) == ["Loop", "Governance", "Account"]


def test_foundation_pages_exist():
    titles = [p.title for p in nav.visible_pages(Role.admin)]
    assert {"Overview", "Audit log", "Admin", "My account"} <= set(titles)


def test_a_planned_page_appears_once_its_file_exists(tmp_path):
    for screen in ("overview", "backlog"):
        (tmp_path / "pages" / screen).mkdir(parents=True)
    (tmp_path / "pages" / "overview" / "page.py").write_text("")
    assert [p.title for p in nav.visible_pages(Role.admin, root=tmp_path)] == ["Overview"]
    (tmp_path / "pages" / "backlog" / "page.py").write_text("")
    assert [p.title for p in nav.visible_pages(Role.viewer, root=tmp_path)] == ["Overview", "Backlog"]


# --- signing in ---------------------------------------------------------------------------------


def test_empty_database_offers_the_first_admin_form(page_db):
    at = app_test().run()
    assert not at.exception
    assert texts(at.subheader) == ["Create the first admin account"]
    at.text_input[0].input("root@loopdeck.test")
    at.text_input[1].input("Rooty")
    at.text_input[2].input(PASSWORD)
    at.text_input[3].input(PASSWORD)
    at.button[0].click()
    at.run()
    assert not at.exception
    assert texts(at.success) == ["Admin account root@loopdeck.test created. Sign in with it."]
    assert texts(at.subheader) == ["Sign in"]
    assert users.count_users(page_db) == 1
    assert audit.count_events(page_db, AuditFilter(action="user.create_first_admin")) == 1


def test_first_admin_form_shows_the_services_message(page_db):
    at = app_test().run()
    for box, value in zip(at.text_input, ["not-an-email", "X", PASSWORD, PASSWORD], strict=True):
        box.input(value)
    at.button[0].click()
    at.run()
    assert texts(at.error) == ["'not-an-email' is not a valid e-mail address."]
    assert users.count_users(page_db) == 0


def test_login_with_wrong_then_right_password(make_user, page_db):
    make_user("analyst")
    at = app_test().run()
    assert texts(at.subheader) == ["Sign in"]
    fill_login(at, "analyst@loopdeck.test", "not the password")
    assert texts(at.error) == [users.REFUSED]
    assert state.USER_ID not in at.session_state
    fill_login(at, "Analyst@Loopdeck.test", PASSWORD)
    assert not at.exception
    assert texts(at.title) == ["Overview"]
    assert at.session_state[state.USER_ID] == make_user("analyst")
    # a server-side session, and the one-time code the page hands the browser for its HttpOnly cookie
    current = sessions.check(page_db, at.session_state[state.SESSION_ID])
    assert current is not None and current.actor.user_id == make_user("analyst") and not current.cookie_issued
    assert at.session_state[state.HANDOFF]
    sessions.redeem(page_db, at.session_state[state.HANDOFF])  # what the browser's POST does
    at.run()
    assert state.HANDOFF not in at.session_state
    assert audit.count_events(page_db, AuditFilter(action="user.login", actor="analyst@loopdeck.test")) == 1


def test_failures_slow_down_with_the_same_message_for_every_refusal(make_user):
    make_user("viewer")
    at = app_test().run()
    for _ in range(throttle.FREE_FAILURES + 1):
        fill_login(at, "viewer@loopdeck.test", "nope nope")
    assert texts(at.error) == [users.REFUSED]
    fill_login(at, "viewer@loopdeck.test", PASSWORD)  # within the 1 s wait: refused, the same words
    assert texts(at.error) == [users.REFUSED]
    fill_login(at, "nobody@loopdeck.test", PASSWORD)
    assert texts(at.error) == [users.REFUSED]
    assert state.USER_ID not in at.session_state


def test_a_session_ended_elsewhere_signs_this_tab_out(make_user, page_db):
    make_user("analyst")
    at = app_test().run()
    fill_login(at, "analyst@loopdeck.test", PASSWORD)
    assert texts(at.title) == ["Overview"]
    boss = users.current_actor(page_db, make_user("admin"))
    users.set_password(page_db, boss, make_user("analyst"), "a new password for ann")  # ends her sessions
    at.run()
    assert texts(at.subheader) == ["Sign in"]
    assert "Your session has ended" in at.warning[0].value


def test_disabled_account_is_signed_out_on_the_next_run(signed_in, make_user, page_db):
    at = signed_in("analyst")
    boss = users.current_actor(page_db, make_user("admin"))
    users.set_disabled(page_db, boss, make_user("analyst"), True)
    at.run()
    assert texts(at.subheader) == ["Sign in"]
    assert texts(at.warning) == ["You were signed out: your account is disabled or no longer exists."]
    fill_login(at, "analyst@loopdeck.test", PASSWORD)
    assert texts(at.error) == [users.REFUSED]


def test_sign_out(signed_in):
    at = signed_in("viewer")
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    assert texts(at.subheader) == ["Sign in"]
    assert state.USER_ID not in at.session_state


def test_sign_out_revokes_the_session_on_the_server(make_user, page_db):
    make_user("viewer")
    at = app_test().run()
    fill_login(at, "viewer@loopdeck.test", PASSWORD)
    session_id = at.session_state[state.SESSION_ID]
    token = sessions.redeem(page_db, at.session_state[state.HANDOFF])
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    assert texts(at.subheader) == ["Sign in"]
    assert state.SESSION_ID not in at.session_state
    assert sessions.check(page_db, session_id) is None and sessions.resume(page_db, token) is None


SSO_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-secret",
        "client_id": "loopdeck",
        "client_secret": "shh",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
}


def test_sso_button_only_when_configured(make_user):
    make_user("admin")
    at = app_test().run()
    assert "Sign in with SSO" not in [b.label for b in at.button]
    at = app_test()
    at.secrets = SSO_SECRETS
    at.user = {"is_logged_in": False}
    at.run()
    assert "Sign in with SSO" in [b.label for b in at.button]


def test_sso_identity_maps_to_the_account(make_user, page_db):
    analyst_id = make_user("analyst")
    at = app_test()
    at.secrets = SSO_SECRETS
    at.user = {"is_logged_in": True, "email": "analyst@loopdeck.test", "name": "Ann"}
    at.run()
    assert not at.exception
    assert texts(at.title) == ["Overview"]
    assert at.session_state[state.USER_ID] == analyst_id
    events = audit.list_events(page_db, AuditFilter(action="user.login"))
    assert list(events["payload"]) == ['{"method":"oidc"}']
    at.run()  # one login event per session, not per click
    assert audit.count_events(page_db, AuditFilter(action="user.login")) == 1


def test_sso_identity_without_an_account_is_refused(make_user):
    make_user("admin")
    at = app_test()
    at.secrets = SSO_SECRETS
    at.user = {"is_logged_in": True, "email": "stranger@elsewhere.test"}
    at.run()
    assert texts(at.subheader) == ["Sign in"]
    assert texts(at.error) == ["stranger@elsewhere.test has no Loopdeck account. Ask an admin to add it."]
    assert "Sign out of SSO" in [b.label for b in at.button]


# --- Overview -----------------------------------------------------------------------------------


def test_overview_shows_the_loop_counts(signed_in):
    at = signed_in("viewer")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Predictions": "0",
        "Outcomes": "0",
        "Feedback": "0",
        "Model versions": "0",
        "Champion": "—",
    }
    assert at.info  # the empty-loop hint


# --- Audit log ----------------------------------------------------------------------------------


def _open_audit(signed_in, role="viewer"):
    return signed_in(role, "pages/audit/page.py")


def test_audit_lists_and_filters_events(signed_in, make_user):
    for role in ("viewer", "analyst", "approver"):
        make_user(role)
    at = _open_audit(signed_in)
    frame = at.dataframe[0].value
    assert list(frame["action"]) == ["user.add", "user.add", "user.add", "user.create_first_admin"]
    assert list(frame["id"]) == [4, 3, 2, 1]  # newest first
    assert frame["payload"].iloc[-1] == '{"email":"admin@loopdeck.test","role":"admin"}'
    at.selectbox(key="audit_action").select("user.create_first_admin").run()
    assert list(at.dataframe[0].value["id"]) == [1]
    assert "1 matching event(s), newest first." in [m.value for m in at.markdown]
    at.selectbox(key="audit_action").select("").run()
    at.text_input(key="audit_subject_id").input("3").run()
    assert list(at.dataframe[0].value["id"]) == [3]


def test_audit_verify_chain(signed_in, make_user, page_db):
    make_user("analyst")
    at = _open_audit(signed_in)
    at.button(key="audit_verify").click().run()
    assert texts(at.success) == [audit.verify(page_db).message()]
    with as_attacker(page_db) as conn:  # the audit triggers refuse plain SQL; an attacker drops them first
        conn.exec_driver_sql("UPDATE audit_event SET actor = 'mallory' WHERE id = 2")
    at.button(key="audit_verify").click().run()
    assert at.error and at.error[0].value.startswith("Audit chain BROKEN at event 2")


def test_audit_paginates(signed_in, make_user, page_db):
    boss = users.current_actor(page_db, make_user("admin"))
    for _ in range(60):
        users.unlock(page_db, boss, boss.user_id)
    at = _open_audit(signed_in, "admin")
    total = audit.count_events(page_db)
    assert total == 61
    assert list(at.dataframe[0].value["id"]) == list(range(61, 11, -1))
    assert at.pagination[0].value == 1
    at.pagination[0].set_value(2).run()
    assert list(at.dataframe[0].value["id"]) == list(range(11, 0, -1))
    at.selectbox(key="audit_action").select("user.unlock").run()  # a new filter starts at page 1
    assert at.pagination[0].value == 1
    assert list(at.dataframe[0].value["id"]) == list(range(61, 11, -1))


def test_audit_csv_download_is_offered(signed_in):
    at = _open_audit(signed_in)
    assert [b.label for b in at.download_button] == ["Download CSV"]


# --- Admin --------------------------------------------------------------------------------------


def _open_admin(signed_in):
    return signed_in("admin", "pages/admin/page.py")


def _add_user(at, email, name, role, password="", sso_only=False):
    at.text_input(key="add_user_0_email").input(email)
    at.text_input(key="add_user_0_name").input(name)
    at.selectbox(key="add_user_0_role").select(role)
    at.checkbox(key="add_user_0_sso").set_value(sso_only)
    at.text_input(key="add_user_0_password").input(password)
    next(b for b in at.button if b.label == "Add user").click()
    return at.run()


def test_admin_adds_a_user_and_it_is_audited(signed_in, page_db):
    at = _open_admin(signed_in)
    _add_user(at, "new.analyst@loopdeck.test", "Nia", "analyst", PASSWORD)
    assert not at.exception
    assert texts(at.success) == ["Added new.analyst@loopdeck.test as analyst."]
    assert "new.analyst@loopdeck.test" in list(at.dataframe[0].value["email"])
    events = audit.list_events(page_db, AuditFilter(action="user.add"))
    assert list(events["actor"]) == ["admin@loopdeck.test"]
    assert '"email":"new.analyst@loopdeck.test"' in events["payload"].iloc[0]
    assert at.text_input(key="add_user_1_email").value == ""  # a fresh form after success
    assert users.authenticate(page_db, "new.analyst@loopdeck.test", PASSWORD).role == Role.analyst


def test_admin_add_user_errors_are_shown(signed_in, page_db):
    at = _open_admin(signed_in)
    _add_user(at, "admin@loopdeck.test", "Dup", "viewer", PASSWORD)
    assert texts(at.error) == ["A user with e-mail admin@loopdeck.test already exists."]
    assert at.text_input(key="add_user_0_email").value == "admin@loopdeck.test"  # kept for correcting


def test_admin_adds_an_sso_only_user(signed_in, page_db):
    at = _open_admin(signed_in)
    _add_user(at, "sso@loopdeck.test", "Sam", "approver", sso_only=True)
    assert texts(at.success) == ["Added sso@loopdeck.test as approver."]
    assert users.actor_for_sso(page_db, "sso@loopdeck.test").role == Role.approver


def _choose(at, email):
    box = at.selectbox(key="admin_account")
    user_id = next(o for o in box.options if o.startswith(email))
    return box.select_index(box.options.index(user_id)).run()


def test_admin_changes_role_unlocks_and_resets_password(signed_in, make_user, page_db):
    viewer_id = make_user("viewer")
    at = _open_admin(signed_in)
    _choose(at, "viewer@loopdeck.test")
    at.selectbox(key=f"admin_role_{viewer_id}").select("approver").run()
    at.button(key="admin_change_role").click().run()
    assert texts(at.success) == ["viewer@loopdeck.test is now approver."]
    assert users.current_actor(page_db, viewer_id).role == Role.approver

    _choose(at, "viewer@loopdeck.test")
    at.button(key="admin_unlock").click().run()
    assert texts(at.success) == ["viewer@loopdeck.test is unlocked."]

    _choose(at, "viewer@loopdeck.test")
    at.text_input(key="reset_password_0_password").input("brand new password")
    next(b for b in at.button if b.label == "Reset password").click()
    at.run()
    assert texts(at.success) == ["New password set for viewer@loopdeck.test."]
    assert users.authenticate(page_db, "viewer@loopdeck.test", "brand new password").user_id == viewer_id
    actions = list(audit.list_events(page_db)["action"])[:4]
    assert actions == ["user.login", "user.set_password", "user.unlock", "user.change_role"]


def test_admin_sees_waiting_accounts_unlocks_them_and_sets_session_limits(signed_in, make_user, page_db):
    make_user("viewer")
    for _ in range(throttle.FREE_FAILURES + 1):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(page_db, "viewer@loopdeck.test", "nope nope", now=utcnow() + timedelta(minutes=5))
    at = _open_admin(signed_in)
    assert list(at.dataframe[1].value["email"]) == ["viewer@loopdeck.test"]
    at.button(key="admin_signin_wait_unlock").click().run()
    assert texts(at.success) == ["viewer@loopdeck.test can sign in again."]
    assert "No account waits after failed sign-ins." in texts(at.info)
    at.number_input(key="admin_session_limits_0_idle_hours").set_value(4)
    at.number_input(key="admin_session_limits_0_max_hours").set_value(12)
    next(b for b in at.button if b.label == "Save session limits").click()
    at.run()
    assert texts(at.success) == ["Session limits saved."]
    assert (
        settings.get(page_db, "auth.idle_timeout_hours") == 4 and settings.get(page_db, "auth.session_max_hours") == 12
    )


def test_admin_disables_after_confirming_and_enables_again(signed_in, make_user, page_db):
    analyst_id = make_user("analyst")
    at = _open_admin(signed_in)
    _choose(at, "analyst@loopdeck.test")
    at.button(key="admin_disable").click().run()
    assert users.current_actor(page_db, analyst_id) is not None  # nothing happens before confirming
    at.button(key="admin_disable_confirm").click().run()
    assert not at.exception
    assert texts(at.success) == ["analyst@loopdeck.test is disabled."]
    assert users.current_actor(page_db, analyst_id) is None
    _choose(at, "analyst@loopdeck.test")
    at.button(key="admin_enable").click().run()
    assert texts(at.success) == ["analyst@loopdeck.test is enabled."]
    assert users.current_actor(page_db, analyst_id) is not None


def test_the_last_admin_cannot_disable_themselves(signed_in, page_db):
    at = _open_admin(signed_in)
    _choose(at, "admin@loopdeck.test")
    at.button(key="admin_disable").click().run()
    at.button(key="admin_disable_confirm").click().run()
    assert texts(at.error) == ["This is the last active admin; it cannot be disabled."]


# --- My account ---------------------------------------------------------------------------------


def test_change_own_password(signed_in, make_user, page_db):
    at = signed_in("viewer", "pages/account/page.py")
    at.text_input[0].input("short")
    at.text_input[1].input("short")
    next(b for b in at.button if b.label == "Change password").click()
    at.run()
    assert texts(at.error) == [f"The password must have at least {users.MIN_PASSWORD_LENGTH} characters."]
    at.text_input[0].input("a much longer one")
    at.text_input[1].input("a much longer one")
    next(b for b in at.button if b.label == "Change password").click()
    at.run()
    assert texts(at.success) == ["Password changed."]
    assert users.authenticate(page_db, "viewer@loopdeck.test", "a much longer one").role == Role.viewer


def test_no_page_script_sits_directly_in_pages():
    """Streamlit's legacy pages/ convention serves pages/<stem>.py at /<stem> without the gate on a
    server's first run; each screen is a folder, so there is no such script to serve."""
    assert not list((nav.ROOT / "pages").glob("*.py"))
    assert all(p.path.startswith("pages/") and p.path.endswith("/page.py") for p in nav.PAGES)
    assert len({p.url_path for p in nav.PAGES}) == len(nav.PAGES)


def test_cancelling_the_disable_confirmation_changes_nothing(signed_in, make_user, page_db):
    analyst_id = make_user("analyst")
    at = _open_admin(signed_in)
    _choose(at, "analyst@loopdeck.test")
    at.button(key="admin_disable").click().run()
    at.button(key="admin_disable_cancel").click().run()
    assert not at.exception
    assert not [b for b in at.button if b.key == "admin_disable_confirm"]
    assert users.current_actor(page_db, analyst_id) is not None


def test_an_unmigrated_database_gets_a_clear_message(tmp_path, monkeypatch):
    from tests.pages.conftest import app_test

    monkeypatch.setenv("LOOPDECK_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    at = app_test().run()
    assert not at.exception
    assert "init-db" in at.error[0].value


def test_my_account_opts_in_to_personal_email(signed_in, make_user, page_db, monkeypatch):
    """Without a mail server the choice is disabled; with one, an approver ticks what to receive and the
    service keeps it (an analyst is not offered the requests to decide: they cannot decide any)."""
    from services.notify import personal

    at = signed_in("approver", "pages/account/page.py")
    assert at.checkbox(key="account_email_approval.requested").disabled
    assert any("No mail server is configured" in c.value for c in at.caption)
    monkeypatch.setenv("LOOPDECK_SMTP_URL", "mailto://127.0.0.1:2525?from=loopdeck@example.com")
    at.run()
    at.checkbox(key="account_email_approval.requested").check()
    next(b for b in at.button if b.label == "Save").click()
    at.run()
    assert not at.exception and texts(at.success) == ["Saved: you will get these e-mails."]
    me = users.current_actor(page_db, make_user("approver"))
    view = personal.get_personal(page_db, me)
    assert view.enabled and view.events == ("approval.requested",)
    assert at.checkbox(key="account_email_approval.requested").value
    analyst = signed_in("analyst", "pages/account/page.py")
    assert [c.key for c in analyst.checkbox] == ["account_email_approval.decided"]
