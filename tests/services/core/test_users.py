"""Accounts: first admin, sign-in, lockout and unlock, disabled accounts, last-admin protection."""

from datetime import timedelta

import pytest

from services.core import audit, users
from services.core.errors import (
    AccountDisabled,
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
)
from services.core.roles import Role
from services.core.timeutil import utcnow

PASSWORD = "correct horse"


@pytest.fixture
def first_admin(engine):
    users.create_first_admin(engine, "Root@Example.com", "Root", PASSWORD)
    return users.authenticate(engine, "root@example.com", PASSWORD)


def test_first_admin_only_on_an_empty_install(engine):
    view = users.create_first_admin(engine, "root@example.com", "Root", PASSWORD)
    assert view.role == "admin" and view.email == "root@example.com"
    with pytest.raises(Conflict):
        users.create_first_admin(engine, "other@example.com", "Other", PASSWORD)
    assert users.count_users(engine) == 1


def test_passwords_are_argon2_hashed(engine, first_admin):
    from sqlmodel import Session, select

    from services.core.schema_accounts import User

    with Session(engine) as session:
        stored = session.exec(select(User.password_hash)).one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_sign_in_right_and_wrong(engine, first_admin):
    assert first_admin.role == Role.admin and first_admin.label == "root@example.com"
    with pytest.raises(AuthenticationFailed, match="Wrong e-mail or password"):
        users.authenticate(engine, "root@example.com", "wrong password")
    with pytest.raises(AuthenticationFailed, match="Wrong e-mail or password"):
        users.authenticate(engine, "nobody@example.com", PASSWORD)


def test_five_failures_lock_for_fifteen_minutes(engine, first_admin):
    users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed) as info:
            users.authenticate(engine, "ana@example.com", "nope-nope")
        assert not isinstance(info.value, AccountLocked)
    with pytest.raises(AccountLocked):
        users.authenticate(engine, "ana@example.com", "nope-nope")
    # Even the right password is refused while locked...
    with pytest.raises(AccountLocked, match="locked"):
        users.authenticate(engine, "ana@example.com", PASSWORD)
    # ...and accepted once the 15 minutes have passed.
    later = utcnow() + timedelta(minutes=15, seconds=1)
    assert users.authenticate(engine, "ana@example.com", PASSWORD, now=later).role == Role.analyst
    actions = set(audit.list_events(engine)["action"])
    assert {"user.login_failed", "user.locked", "user.login"} <= actions


def test_a_success_resets_the_failure_count(engine, first_admin):
    users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(engine, "ana@example.com", "nope-nope")
    users.authenticate(engine, "ana@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed) as info:
            users.authenticate(engine, "ana@example.com", "nope-nope")
        assert not isinstance(info.value, AccountLocked)


def test_admin_unlocks(engine, first_admin):
    ana = users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(engine, "ana@example.com", "nope-nope")
    users.unlock(engine, first_admin, ana.id)
    assert users.authenticate(engine, "ana@example.com", PASSWORD).label == "ana@example.com"


def test_disabled_account_cannot_sign_in_and_loses_its_session(engine, first_admin):
    ana = users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    signed_in = users.authenticate(engine, "ana@example.com", PASSWORD)
    assert users.current_actor(engine, signed_in.user_id) is not None
    users.set_disabled(engine, first_admin, ana.id, True)
    with pytest.raises(AccountDisabled):
        users.authenticate(engine, "ana@example.com", PASSWORD)
    assert users.current_actor(engine, signed_in.user_id) is None
    users.set_disabled(engine, first_admin, ana.id, False)
    assert users.authenticate(engine, "ana@example.com", PASSWORD)


def test_last_admin_cannot_be_demoted_or_disabled(engine, first_admin):
    with pytest.raises(Conflict):
        users.change_role(engine, first_admin, first_admin.user_id, "viewer")
    with pytest.raises(Conflict):
        users.set_disabled(engine, first_admin, first_admin.user_id, True)
    other = users.add_user(engine, first_admin, "boss@example.com", "admin", PASSWORD)
    assert users.change_role(engine, first_admin, other.id, "approver").role == "approver"


def test_bad_input_is_named(engine, first_admin):
    with pytest.raises(InvalidInput, match="not a valid e-mail"):
        users.add_user(engine, first_admin, "not-an-email", "viewer", PASSWORD)
    with pytest.raises(InvalidInput, match="at least 8"):
        users.add_user(engine, first_admin, "a@b.io", "viewer", "short")
    with pytest.raises(InvalidInput, match="Unknown role"):
        users.add_user(engine, first_admin, "a@b.io", "superuser", PASSWORD)
    users.add_user(engine, first_admin, "a@b.io", "viewer", PASSWORD)
    with pytest.raises(Conflict, match="already exists"):
        users.add_user(engine, first_admin, "A@b.io", "viewer", PASSWORD)


def test_sso_user_is_looked_up_by_email(engine, first_admin):
    users.add_user(engine, first_admin, "sso@example.com", "approver", None)
    actor = users.actor_for_sso(engine, "SSO@example.com")
    assert actor.role == Role.approver
    with pytest.raises(AuthenticationFailed):
        users.authenticate(engine, "sso@example.com", "")  # no password: SSO only
    with pytest.raises(AuthenticationFailed, match="no Loopdeck account"):
        users.actor_for_sso(engine, "stranger@example.com")


def test_user_changes_are_audited_in_the_chain(engine, first_admin):
    ana = users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    users.change_role(engine, first_admin, ana.id, "approver")
    users.set_disabled(engine, first_admin, ana.id, True)
    events = audit.list_events(engine, audit.AuditFilter(subject_type="user", subject_id=str(ana.id)))
    assert list(events["action"]) == ["user.disable", "user.change_role", "user.add"]
    assert set(events["actor"]) == {"root@example.com"}
    assert audit.verify(engine).intact


def test_everyone_may_change_their_own_password(engine, first_admin):
    users.add_user(engine, first_admin, "ana@example.com", "viewer", PASSWORD)
    ana = users.authenticate(engine, "ana@example.com", PASSWORD)
    users.set_password(engine, ana, ana.user_id, "a brand new one")
    assert users.authenticate(engine, "ana@example.com", "a brand new one")


def test_sign_out_is_audited(engine, first_admin):
    users.sign_out(engine, first_admin)
    assert audit.list_events(engine)["action"].iloc[0] == "user.logout"
