"""AppTest fixtures: a fresh, migrated SQLite file per test, pointed to by LOOPDECK_DATABASE_URL.

Alembic runs once per worker into a template file (tests/conftest.py); each test gets a copy. The app caches its
engine per URL (app.state.get_engine), so a new file means a new engine: nothing leaks between tests.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from streamlit.components.v2 import manifest_scanner
from streamlit.testing.v1 import AppTest

from app import state
from services.core import users
from services.core.db import make_engine
from tests.pages.helpers import open_at

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "streamlit_app.py"
PASSWORD = "correct horse battery"
ROLES = ("viewer", "analyst", "approver", "admin")


@pytest.fixture(scope="session", autouse=True)
def installed_components_scanned_once() -> Iterator[None]:
    """Every AppTest's first run scans all installed distributions for Streamlit components (~0.13 CPU-s,
    reading ~600 METADATA files); the installed packages do not change during a run, so the scan runs once
    and each AppTest registers the same manifests from it."""
    original = manifest_scanner.scan_component_manifests
    manifest_scanner.scan_component_manifests = functools.cache(original)
    yield
    manifest_scanner.scan_component_manifests = original


@pytest.fixture
def page_db(migrated_template, tmp_path, monkeypatch) -> Iterator[Engine]:
    """An empty, migrated database that the app under test uses."""
    path = tmp_path / "loopdeck.db"
    shutil.copyfile(migrated_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
    state.get_engine.clear()  # forget the app's engine for this file


@pytest.fixture
def make_user(page_db) -> Callable[..., int]:
    """Create a user through the services (the first one is the admin who adds the others)."""
    created: dict[str, int] = {}

    def make(role: str = "admin", email: str | None = None, password: str = PASSWORD) -> int:
        email = email or f"{role}@loopdeck.test"
        if not created:
            admin = users.create_first_admin(page_db, "admin@loopdeck.test", "Ada Admin", PASSWORD)
            created["admin@loopdeck.test"] = admin.id
        if email not in created:
            boss = users.current_actor(page_db, created["admin@loopdeck.test"])
            created[email] = users.add_user(page_db, boss, email, role, password, name=role.title()).id
        return created[email]

    return make


def app_test() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=30)


@pytest.fixture
def signed_in(make_user) -> Callable[[str], AppTest]:
    """signed_in(role, page=None, **query): an AppTest signed in with the given role that has run once, on
    the default page, or straight on `page` with `query` (helpers.open_at: one run, not two)."""

    def open_as(role: str, page: str | None = None, **query: str | list[str]) -> AppTest:
        at = app_test()
        at.session_state[state.USER_ID] = make_user(role)
        return open_at(at, page, query) if page else at.run()

    return open_as
