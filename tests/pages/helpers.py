"""Small helpers every page test module uses (one definition each)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from app import nav, state

APP = Path(__file__).resolve().parents[2] / "streamlit_app.py"


def ok(at: AppTest) -> AppTest:
    """The run showed no exception and no error message."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def button_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key}


def open_at(at: AppTest, page: str, query: dict | None = None) -> AppTest:
    """Run `at` straight on `page` ("pages/<screen>/page.py") with `query`, as a browser opening the page's
    address does: the entrypoint's one run resolves the page by calc_hash(url_path) (see test_deep_links.py),
    instead of a first run on the Overview to register the pages and a second after switch_page, which
    rendered the Overview for nothing (as costly as the page itself). Fails if the run landed elsewhere."""
    url_path = next(spec.url_path for spec in nav.PAGES if spec.path == page)
    if query:
        at.query_params = dict(query)
    at._page_hash = calc_hash(url_path)  # noqa: SLF001 - what a browser at /<url_path> requests
    at.run()
    landed = at._finished_page_script_hash  # noqa: SLF001
    assert landed == at._page_hash, (page, [e.value for e in at.exception], [e.value for e in at.warning])  # noqa: SLF001
    return at


def opener_by_role(engine: Engine, default_page: str, timeout: float = 60) -> Callable[..., AppTest]:
    """open(role, page=default_page): a fresh AppTest signed in as the demo account with that role,
    on that page (one run, `open_at`)."""
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT role, id FROM user_account")).all())

    def open_as(role: str, page: str = default_page) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        at.session_state[state.USER_ID] = ids[role]
        return open_at(at, page)

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
