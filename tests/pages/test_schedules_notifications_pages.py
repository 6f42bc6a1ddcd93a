"""The Schedules and Notifications screens render through AppTest (not yet in app/nav.py: run directly)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from services.core.roles import Actor, Role
from services.jobs import schedules

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Actor("admin@loopdeck.test", Role.admin)


def _run(page_db, monkeypatch, page: str) -> AppTest:
    monkeypatch.setattr("app.auth.actor", lambda: ADMIN)
    monkeypatch.setattr("app.auth.require_role", lambda role: ADMIN)
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_schedules_screen_lists_and_saves_a_schedule(page_db, monkeypatch):
    schedules.set_schedule(page_db, ADMIN, "monitoring.refresh", "*/10 * * * *")
    at = _run(page_db, monkeypatch, "pages/schedules/page.py")
    assert "Refresh the monitoring data" in at.dataframe[0].value["what"].tolist()
    at.text_input(key="sch_cron").set_value("0 7 * * 1")
    at = at.button(key="sch_save").click().run()
    assert not at.exception and not at.error
    assert any(r.cron == "0 7 * * 1" for r in schedules.list_schedules(page_db))


def test_the_notifications_screen_renders_for_an_admin(page_db, monkeypatch):
    at = _run(page_db, monkeypatch, "pages/notifications/page.py")
    assert at.title[0].value == "Notifications"
