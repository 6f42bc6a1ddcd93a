"""Small helpers every page test module uses (one definition each)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from app import state

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def ok(at: AppTest) -> AppTest:
    """The run showed no exception and no error message."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def button_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def opener_by_role(engine: Engine, default_page: str, timeout: float = 60) -> Callable[..., AppTest]:
    """open(role, page=default_page): a fresh AppTest signed in as the demo account with that role,
    on that page (the entrypoint's first run registers the pages, then it switches)."""
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT role, id FROM user_account")).all())

    def open_as(role: str, page: str = default_page) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        at.session_state[state.USER_ID] = ids[role]
        at.run()
        return at.switch_page(page).run()

    return open_as


def run_worker_once(engine: Engine) -> None:
    """What the worker process would do for the jobs a page queued (`python -m worker --once`), in this
    process with an engine of its own: a worker process started per call cost ~10 CPU-s of imports each;
    the process path itself is tested in tests/worker."""
    from services.core.db import make_engine
    from worker.main import Worker

    own = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        Worker(own).run_once()
    finally:
        own.dispose()
