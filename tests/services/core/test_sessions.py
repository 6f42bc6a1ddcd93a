"""Browser sessions: a one-time code traded for a cookie token, only hashes stored, idle timeout,
absolute expiry, revocation on sign-out, and the account re-read on every check."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from services.core import audit, sessions, settings, users
from services.core.errors import AuthenticationFailed, InvalidInput, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_sessions import AuthSession
from services.core.timeutil import utcnow

PASSWORD = "correct horse"


@pytest.fixture
def admin(engine):
    users.create_first_admin(engine, "root@example.com", "Root", PASSWORD)
    return users.authenticate(engine, "root@example.com", PASSWORD)


@pytest.fixture
def ana(engine, admin):
    return users.add_user(engine, admin, "ana@example.com", "analyst", PASSWORD)


def _signed_in(engine, now=None):
    started = sessions.sign_in(engine, "ana@example.com", PASSWORD, now=now)
    token = sessions.redeem(engine, started.code, now=now)
    return started, token


def test_sign_in_gives_a_code_the_browser_trades_once_for_a_token(engine, ana):
    started, token = _signed_in(engine)
    assert started.actor.label == "ana@example.com" and started.actor.role == Role.analyst
    assert sessions.resume(engine, token).actor.user_id == ana.id
    assert sessions.check(engine, started.session_id).actor.user_id == ana.id
    with pytest.raises(AuthenticationFailed):
        sessions.redeem(engine, started.code)  # single use
    assert sessions.resume(engine, "forged-token") is None
    with Session(engine) as s:  # only hashes are stored
        row = s.exec(select(AuthSession)).one()
    assert token not in (row.token_hash or "") and started.code not in str(row.model_dump().values())
    assert row.token_hash and len(row.token_hash) == 64 and row.handoff_hash is None


def test_the_code_expires_within_a_minute(engine, ana):
    started = sessions.sign_in(engine, "ana@example.com", PASSWORD)
    with pytest.raises(AuthenticationFailed):
        sessions.redeem(engine, started.code, now=utcnow() + sessions.HANDOFF_LIFETIME + timedelta(seconds=1))


def test_wrong_password_starts_no_session(engine, ana):
    with pytest.raises(AuthenticationFailed):
        sessions.sign_in(engine, "ana@example.com", "wrong one")
    with Session(engine) as s:
        assert s.exec(select(AuthSession)).all() == []


def test_idle_timeout_default_eight_hours_and_an_admin_setting(engine, admin, ana):
    t0 = utcnow()
    started, token = _signed_in(engine, now=t0)
    assert sessions.resume(engine, token, now=t0 + timedelta(hours=7, minutes=59))  # and this touches it
    assert sessions.resume(engine, token, now=t0 + timedelta(hours=15))  # 7 h 1 min after the last click
    assert sessions.resume(engine, token, now=t0 + timedelta(hours=23, minutes=2)) is None  # 8 h idle
    settings.set_value(engine, admin, "auth.idle_timeout_hours", 1)
    started, token = _signed_in(engine, now=t0)
    assert sessions.check(engine, started.session_id, now=t0 + timedelta(minutes=61)) is None


def test_absolute_expiry_however_active(engine, ana):
    t0 = utcnow()
    started, token = _signed_in(engine, now=t0)
    for hour in range(1, 24):
        assert sessions.resume(engine, token, now=t0 + timedelta(hours=hour))
    assert sessions.resume(engine, token, now=t0 + timedelta(hours=24, seconds=1)) is None


def test_sign_out_revokes_the_session_on_the_server_and_is_audited(engine, ana):
    started, token = _signed_in(engine)
    other, other_token = _signed_in(engine)  # another browser
    sessions.sign_out(engine, started.actor, started.session_id)
    assert sessions.resume(engine, token) is None
    assert sessions.check(engine, started.session_id) is None
    assert sessions.resume(engine, other_token) is not None  # only this browser's session ends
    assert {"session.start", "user.logout"} <= set(audit.list_events(engine)["action"])


def test_nobody_signs_out_someone_elses_session(engine, admin, ana):
    started, token = _signed_in(engine)
    stranger = Actor(label="x@example.com", role=Role.viewer, user_id=admin.user_id)
    with pytest.raises(PermissionDenied):
        sessions.sign_out(engine, stranger, started.session_id)
    assert sessions.resume(engine, token) is not None


def test_disabled_account_loses_its_session_and_the_role_is_read_again(engine, admin, ana):
    started, token = _signed_in(engine)
    users.change_role(engine, admin, ana.id, "viewer")
    assert sessions.resume(engine, token).actor.role == Role.viewer
    users.set_disabled(engine, admin, ana.id, True)
    assert sessions.resume(engine, token) is None
    assert sessions.check(engine, started.session_id) is None
    users.set_disabled(engine, admin, ana.id, False)
    assert sessions.resume(engine, token) is None  # a disabled account's sessions are over for good


def test_a_password_reset_ends_every_session_of_the_account(engine, admin, ana):
    started, token = _signed_in(engine)
    users.set_password(engine, admin, ana.id, "a brand new password")
    assert sessions.resume(engine, token) is None


def test_admins_set_the_session_limits_in_one_audited_change(engine, admin, ana):
    assert sessions.set_limits(engine, admin, 2, 48) == (2, 48)
    assert settings.get(engine, "auth.idle_timeout_hours") == 2 and settings.get(engine, "auth.session_max_hours") == 48
    assert list(audit.list_events(engine)["action"]).count("setting.change") == 2
    analyst = users.authenticate(engine, "ana@example.com", PASSWORD)
    with pytest.raises(PermissionDenied):
        sessions.set_limits(engine, analyst, 1, 1)
    with pytest.raises(InvalidInput):
        sessions.set_limits(engine, admin, 0, 48)
