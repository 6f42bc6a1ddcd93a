"""Tokens: admin-only, hashed, audited; 401 for missing, unknown, expired and revoked tokens; the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.cli.main import main
from services.core import audit, tokens
from services.core.db import make_engine
from services.core.errors import AuthenticationFailed, Conflict, InvalidInput, PermissionDenied
from services.core.roles import Role
from services.core.timeutil import utcnow
from tests.api.conftest import ADMIN
from tests.conftest import actor_of


def test_create_list_revoke_are_admin_only_and_audited(engine):
    created = tokens.create_token(engine, ADMIN, "serving-eu", ["ingest", "routing:read"], ["churn"], 30)
    assert created.secret.startswith("ldk_") and len(created.secret) > 40
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM api_token").scalar_one()
    assert stored == tokens.digest(created.secret) and created.secret not in stored
    for role in ("viewer", "analyst", "approver"):
        with pytest.raises(PermissionDenied):
            tokens.create_token(engine, actor_of(role), "x", ["ingest"])
        with pytest.raises(PermissionDenied):
            tokens.list_tokens(engine, actor_of(role))
        with pytest.raises(PermissionDenied):
            tokens.revoke_token(engine, actor_of(role), "serving-eu")
    [view] = tokens.list_tokens(engine, ADMIN)
    assert (view.name, view.scopes, view.models, view.status()) == (
        "serving-eu",
        ("ingest", "routing:read"),
        ("churn",),
        "active",
    )
    tokens.revoke_token(engine, ADMIN, "serving-eu")
    with pytest.raises(Conflict):
        tokens.revoke_token(engine, ADMIN, "serving-eu")
    actions = list(audit.list_events(engine, audit.AuditFilter())["action"])
    assert "token.create" in actions and "token.revoke" in actions
    assert audit.verify(engine).intact


def test_bad_token_definitions_are_refused(engine):
    with pytest.raises(InvalidInput):
        tokens.create_token(engine, ADMIN, "bad name!", ["ingest"])
    with pytest.raises(InvalidInput):
        tokens.create_token(engine, ADMIN, "t", ["admin"])
    with pytest.raises(InvalidInput):
        tokens.create_token(engine, ADMIN, "t", ["ingest"], expires_days=0)
    tokens.create_token(engine, ADMIN, "t", ["ingest"])
    with pytest.raises(Conflict):
        tokens.create_token(engine, ADMIN, "t", ["routing:read"])


def test_authenticate_gives_an_actor_with_the_role_its_scopes_need(engine):
    secret = tokens.create_token(engine, ADMIN, "reader", ["routing:read"], expires_days=1).secret
    actor = tokens.authenticate(engine, secret)
    assert (actor.label, actor.role, actor.scopes) == ("token:reader", Role.viewer, frozenset({"routing:read"}))
    writer = tokens.authenticate(engine, tokens.create_token(engine, ADMIN, "w", ["ingest"]).secret)
    assert writer.role == Role.analyst
    with pytest.raises(AuthenticationFailed, match="expired"):
        tokens.authenticate(engine, secret, now=utcnow() + timedelta(days=2))
    for bad in (None, "", "ldk_nope", "Bearer x"):
        with pytest.raises(AuthenticationFailed):
            tokens.authenticate(engine, bad)


def test_http_401_for_missing_unknown_and_revoked_tokens(client, engine, make_token):
    body = {"rows": [{"request_id": "r"}]}
    r = client.post("/api/v1/predictions", json=body)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    r = client.post("/api/v1/predictions", json=body, headers={"Authorization": "Bearer ldk_unknown"})
    assert r.status_code == 401 and "Unknown" in r.json()["message"]
    auth = make_token("soon-gone", scopes=["routing:read"])
    assert client.get("/api/v1/routing/churn", headers=auth).status_code == 200
    tokens.revoke_token(engine, ADMIN, "soon-gone")
    r = client.get("/api/v1/routing/churn", headers=auth)
    assert r.status_code == 401 and "revoked" in r.json()["message"]
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_rate_limit_answers_429_with_retry_after(client, make_token):
    auth = make_token("slow", scopes=["routing:read"], rate_per_minute=6)  # burst of 1, then one per 10 s
    assert client.get("/api/v1/routing/churn", headers=auth).status_code == 200
    r = client.get("/api/v1/routing/churn", headers=auth)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 10
    assert client.get("/api/v1/routing/churn", headers=make_token("other", scopes=["routing:read"])).status_code == 200


def test_cli_create_list_revoke(migrated_sqlite_url, monkeypatch, capsys):
    url = migrated_sqlite_url
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    args = ["tokens", "create", "--name", "ci", "--scope", "ingest", "--scope", "models:write", "--model", "churn"]
    assert main([*args, "--expires-days", "7"]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    engine = make_engine(url)
    assert tokens.authenticate(engine, secret).label == "token:ci"
    assert main(["tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert "ci" in listed and "active" in listed and secret not in listed
    assert main(["tokens", "revoke", "ci"]) == 0
    assert main(["tokens", "revoke", "ci"]) == 2
    assert "revoked already" in capsys.readouterr().err
    assert audit.list_events(engine, audit.AuditFilter(action="token.create"))["actor"].iloc[0].startswith("cli:")
    engine.dispose()
