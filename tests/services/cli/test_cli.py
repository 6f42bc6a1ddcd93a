"""`python -m services users add|list|unlock|reset-password` and `audit verify` from a shell."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.cli.main import main
from services.core import users
from services.core.db import make_engine
from tests.services.core.audit_attack import as_attacker


@pytest.fixture
def db_url(migrated_sqlite_url, monkeypatch):
    url = migrated_sqlite_url
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    return url


def test_users_add_prompts_for_the_password(db_url, monkeypatch, capsys):
    answers = iter(["s3cret-pass", "s3cret-pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "add", "--email", "Ana@Example.com", "--role", "approver"]) == 0
    assert "Added ana@example.com as approver" in capsys.readouterr().out
    actor = users.authenticate(make_engine(db_url), "ana@example.com", "s3cret-pass")
    assert actor.role.name == "approver"
    assert main(["users", "list"]) == 0
    assert "ana@example.com" in capsys.readouterr().out


def test_users_add_refuses_mismatched_passwords(db_url, monkeypatch, capsys):
    answers = iter(["s3cret-pass", "other-pass"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "add", "--email", "ana@example.com", "--role", "viewer"]) == 2
    assert users.count_users(make_engine(db_url)) == 0


def test_users_add_reports_domain_errors(db_url, monkeypatch, capsys):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "short")
    assert main(["users", "add", "--email", "ana@example.com", "--role", "viewer"]) == 2
    assert "at least 8" in capsys.readouterr().err


def test_users_unlock_and_reset_password_are_audited(db_url, monkeypatch, capsys):
    from services.core import audit
    from services.core import signin_throttle as throttle
    from services.core.errors import AuthenticationFailed
    from services.core.timeutil import utcnow

    engine = make_engine(db_url)
    users.create_first_admin(engine, "root@example.com", "Root", "password-123")
    soon = utcnow() + timedelta(minutes=5)  # ahead, so the wait is still on when unlock runs
    for _ in range(throttle.FREE_FAILURES + 1):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(engine, "root@example.com", "wrong", now=soon)
    with pytest.raises(AuthenticationFailed):
        users.authenticate(engine, "root@example.com", "password-123", now=soon)  # waits
    assert main(["users", "unlock", "Root@example.com"]) == 0
    assert "root@example.com can sign in again" in capsys.readouterr().out
    assert users.authenticate(engine, "root@example.com", "password-123", now=soon)

    answers = iter(["new-password-1", "new-password-1"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "reset-password", "root@example.com"]) == 0
    assert users.authenticate(engine, "root@example.com", "new-password-1")
    assert main(["users", "unlock", "nobody@example.com"]) == 2
    assert "No user" in capsys.readouterr().err
    assert {"user.unlock", "user.set_password"} <= set(audit.list_events(engine)["action"])


def test_audit_verify_exit_codes(db_url, capsys):
    engine = make_engine(db_url)
    users.create_first_admin(engine, "root@example.com", "Root", "password-123")
    users.authenticate(engine, "root@example.com", "password-123")
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "intact: 2 events" in out and "2 signed with the audit key" in out
    assert "the latest vouches for events 1-2 and matches" in out
    with as_attacker(engine) as conn:
        conn.execute(sa.text("UPDATE audit_event SET actor = 'mallory@example.com' WHERE id = 1"))
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at event 1" in out and "checkpoints" in out


@pytest.fixture
def demo_loads(monkeypatch):
    """Record init-db's calls of the demo loader (the load itself has its own tests)."""
    calls = []
    monkeypatch.setattr("data.demo.load_demo", lambda engine, echo=print: calls.append(engine.url))
    return calls


def test_init_db_demo_loads_into_a_fresh_database(tmp_path, monkeypatch, demo_loads, capsys):
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert main(["init-db", "--demo"]) == 0
    assert len(demo_loads) == 1
    with make_engine(f"sqlite:///{tmp_path / 'fresh.db'}").connect() as conn:  # migrated to head first
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_init_db_demo_never_loads_into_a_database_with_accounts(db_url, demo_loads, capsys):
    """A team database with accounts but no data yet must not get the demo's published passwords."""
    users.create_first_admin(make_engine(db_url), "root@example.com", "Root", "password-123")
    assert main(["init-db", "--demo"]) == 0
    assert demo_loads == []
    assert "Demo not loaded: the database already has 1 accounts" in capsys.readouterr().out


def test_init_db_demo_never_loads_over_an_audit_history(db_url, demo_loads, capsys):
    engine = make_engine(db_url)
    users.create_first_admin(engine, "root@example.com", "Root", "password-123")
    with engine.begin() as conn:
        # accounts gone, but the history says this is not a new install
        conn.execute(sa.text("DELETE FROM user_account"))
    assert main(["init-db", "--demo"]) == 0
    assert demo_loads == []
    assert "audit events" in capsys.readouterr().out


def test_approvals_execute_runs_the_same_executor(db_url, capsys):
    from services.core.db import write_session
    from services.core.roles import Actor, Role
    from services.core.schema_experiments import Experiment
    from services.experiments import lifecycle as experiments
    from services.governance import approvals

    engine = make_engine(db_url)
    with write_session(engine) as session:
        session.add(Experiment(key="exp-1", name="exp-1", status="running", primary_metric="m",
                               variants=[{"key": "control", "allocation": 0.5},
                                         {"key": "treatment", "allocation": 0.5}]))  # fmt: skip
    request = experiments.request_stop(engine, Actor("ana@example.com", Role.analyst), "exp-1", "broken split")
    assert main(["approvals", "execute", "--request", str(request.id)]) == 2  # pending: refused
    assert "only approved" in capsys.readouterr().err
    approvals.decide(engine, Actor("priya@example.com", Role.approver), request.id, "approve")
    assert main(["approvals", "plan", "--request", str(request.id)]) == 0
    digest = capsys.readouterr().out.strip().splitlines()[-1].split()[1]
    assert main(["approvals", "execute", "--request", str(request.id), "--expect", digest]) == 0
    assert f"Request #{request.id} executed" in capsys.readouterr().out
    row = approvals.get_request(engine, request.id).request
    assert row.status == "executed" and row.executed_by.startswith("cli:")
    assert main(["approvals", "list", "--status", "executed"]) == 0
    assert f"#{request.id}" in capsys.readouterr().out
