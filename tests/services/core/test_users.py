"""Accounts: first admin, sign-in, growing delays after failures, unlock, disabled accounts, last admin."""

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from services.core import audit, users
from services.core import signin_throttle as throttle
from services.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
)
from services.core.roles import Role
from services.core.timeutil import utcnow
from tests.conftest import PRODUCTION_DUMMY_HASH

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


SAME = "Wrong e-mail or password"


def _fail(engine, email, password="nope-nope", **kw):
    with pytest.raises(AuthenticationFailed, match=SAME) as info:
        users.authenticate(engine, email, password, **kw)
    assert type(info.value) is AuthenticationFailed  # one type and one message for every refusal
    return str(info.value)


def test_failures_slow_down_with_growing_capped_delays_not_a_hard_lock(engine, first_admin):
    users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    t0 = utcnow()
    for i in range(throttle.FREE_FAILURES):  # the first failures cost nothing
        _fail(engine, "ana@example.com", now=t0 + timedelta(milliseconds=i))
    _fail(engine, "ana@example.com", now=t0)  # this one starts a 1 s wait
    # Even the right password is refused while the account waits, with the same message...
    message = _fail(engine, "ana@example.com", PASSWORD, now=t0 + timedelta(milliseconds=500))
    assert message == _fail(engine, "nobody@example.com", PASSWORD)
    # ...and accepted once the wait is over.
    assert users.authenticate(engine, "ana@example.com", PASSWORD, now=t0 + timedelta(seconds=1.1)).role == Role.analyst
    actions = set(audit.list_events(engine)["action"])
    assert {"user.login_failed", "user.login"} <= actions


def test_delays_double_and_stop_at_fifteen_minutes():
    free = throttle.FREE_FAILURES
    waits = [throttle.delay_after(free + n, free).total_seconds() for n in range(1, 16)]
    assert waits[:5] == [1, 2, 4, 8, 16]
    assert max(waits) == 15 * 60 and waits[-1] == 15 * 60
    assert throttle.delay_after(free, free) == timedelta(0)


def test_attempts_while_waiting_do_not_extend_the_wait(engine, first_admin):
    users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    t0 = utcnow()
    for _ in range(throttle.FREE_FAILURES + 12):  # a guesser keeps trying, at most every wait
        _fail(engine, "ana@example.com", now=t0)
    # Nothing keeps the account out for more than the cap after the guessing stops.
    later = t0 + throttle.MAX_DELAY + timedelta(seconds=1)
    assert users.authenticate(engine, "ana@example.com", PASSWORD, now=later).label == "ana@example.com"


def test_a_success_resets_the_failure_count(engine, first_admin):
    users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    for _ in range(throttle.FREE_FAILURES):
        _fail(engine, "ana@example.com")
    users.authenticate(engine, "ana@example.com", PASSWORD)
    for _ in range(throttle.FREE_FAILURES):
        _fail(engine, "ana@example.com")
    assert users.authenticate(engine, "ana@example.com", PASSWORD)


def test_a_source_is_slowed_down_across_accounts(engine, first_admin):
    users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    t0 = utcnow()
    for i in range(throttle.FREE_FAILURES_PER_SOURCE + 1):  # spraying many e-mails from one address
        _fail(engine, f"guess{i}@example.com", source="203.0.113.9", now=t0)
    _fail(engine, "ana@example.com", PASSWORD, source="203.0.113.9", now=t0)  # that address waits
    assert users.authenticate(engine, "ana@example.com", PASSWORD, source="198.51.100.7", now=t0)  # others do not


def test_admin_unlocks_and_it_is_audited(engine, first_admin):
    ana = users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    soon = utcnow() + timedelta(minutes=5)  # the failures happen a little ahead, so the wait is still on
    for _ in range(throttle.FREE_FAILURES + 1):
        _fail(engine, "ana@example.com", now=soon)
    assert [u.locked_until is not None for u in users.list_users(engine, first_admin) if u.id == ana.id] == [True]
    _fail(engine, "ana@example.com", PASSWORD, now=soon)
    users.unlock(engine, first_admin, ana.id)
    assert users.authenticate(engine, "ana@example.com", PASSWORD, now=soon).label == "ana@example.com"
    assert "user.unlock" in set(audit.list_events(engine)["action"])


def test_unknown_disabled_and_waiting_accounts_get_the_same_answer_and_the_same_work(engine, first_admin, monkeypatch):
    ana = users.add_user(engine, first_admin, "ana@example.com", "analyst", PASSWORD)
    users.add_user(engine, first_admin, "wait@example.com", "analyst", PASSWORD)
    users.set_disabled(engine, first_admin, ana.id, True)
    soon = utcnow() + timedelta(minutes=5)
    for _ in range(throttle.FREE_FAILURES + 1):
        _fail(engine, "wait@example.com", now=soon)
    verified = []
    real = users._verify
    monkeypatch.setattr(users, "_verify", lambda h, p: verified.append(1) or real(h, p))
    answers = {
        _fail(engine, "nobody@example.com", PASSWORD),
        _fail(engine, "ana@example.com", PASSWORD),
        _fail(engine, "wait@example.com", PASSWORD, now=soon),
        _fail(engine, "root@example.com", "wrong password"),
    }
    assert len(answers) == 1
    assert len(verified) == 4  # one argon2 verification on every path: the same timing


def test_the_unknown_e_mail_hash_costs_what_a_password_hash_costs():
    """The written-out hash verified for an unknown e-mail has the hasher's parameters (same work)."""
    assert not PasswordHasher().check_needs_rehash(PRODUCTION_DUMMY_HASH)  # production's (tests hash cheaply)
    assert users._verify(PRODUCTION_DUMMY_HASH, "loopdeck-timing-equaliser")


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
