"""The API's two screen sections, not yet wired into their pages: the Admin page's token management
(pages/admin/tokens.py) and the Models page's upload of a version trained elsewhere
(pages/models/register.py), driven with AppTest.from_function."""

from __future__ import annotations

from sqlmodel import SQLModel
from streamlit.testing.v1 import AppTest

from services.core import tokens
from services.core.db import make_engine
from services.core.roles import Actor, Role
from services.models import registry

ADMIN = Actor("admin@test.io", Role.admin)


def tokens_view(url: str, role: str) -> None:
    from pages.admin.tokens import render_tokens
    from services.core.db import make_engine
    from services.core.roles import Actor, Role

    render_tokens(Actor(f"{role}@test.io", Role[role]), make_engine(url))


def register_view(url: str) -> None:
    from pages.models.register import render_register
    from services.core.db import make_engine
    from services.core.roles import Actor, Role

    render_register(Actor("analyst@test.io", Role.analyst), make_engine(url))


def _db(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'ui.db'}"
    SQLModel.metadata.create_all(make_engine(url))
    return url


def test_admin_creates_sees_once_and_revokes_a_token(tmp_path):
    url = _db(tmp_path)
    at = AppTest.from_function(tokens_view, args=(url, "admin"), default_timeout=30).run()
    assert not at.exception
    form = [w for w in at.text_input if w.label == "Name"][0]
    form.set_value("serving-eu")
    at.multiselect[0].set_value(["ingest", "routing:read"])
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error, [e.value for e in at.error]
    secret = at.code[0].value
    assert tokens.authenticate(make_engine(url), secret).label == "token:serving-eu"
    at.button(key="admin_tokens_secret_done").click().run()
    assert not at.code
    at.selectbox(key="admin_tokens_revoke").set_value("serving-eu")
    at.button(key="admin_tokens_revoke_button").click().run()
    assert tokens.list_tokens(make_engine(url), ADMIN)[0].status() == "revoked"


def test_non_admin_sees_the_refusal_not_a_traceback(tmp_path):
    at = AppTest.from_function(tokens_view, args=(_db(tmp_path), "analyst"), default_timeout=30).run()
    assert not at.exception and "admin" in at.error[0].value


def test_register_a_version_by_upload_form(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDECK_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    url = _db(tmp_path)
    at = AppTest.from_function(register_view, args=(url,), default_timeout=30).run()
    assert not at.exception
    at.text_input[0].set_value("churn")
    at.text_input(key=[w.key for w in at.text_input if w.label.startswith("Code")][0]).set_value("git:abc123")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [version] = registry.list_versions(make_engine(url), "churn")
    assert (version.trigger, version.created_by, version.metrics) == ("external", "analyst@test.io", {"roc_auc": 0.8})
    at.text_area[0].set_value("not json")
    at.text_input[0].set_value("churn")
    at.button[0].click().run()
    assert not at.exception and "not valid JSON" in at.error[0].value
