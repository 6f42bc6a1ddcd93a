"""The Monitoring page reads day summaries, never rows, for every view it shows by default (issue 17: flat in
rows at 10M), on SQLite and Postgres: no day block is decoded and no query reads the prediction or outcome
table beyond the refresh check's two index lookups (max id), from the first render through a window change,
every tab, and a one-field cohort filter on every tab but one. The Performance table under a filter slices
every other field within it, which the strata do not hold: the row path, refused over its cap before reading
anything, and said on the page either way."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app import state
from services.core import users
from services.core.db import make_engine
from services.core.roles import Actor
from services.monitoring import blocks, frames
from tests import demo_cache
from tests.conftest import POSTGRES_URL, drop_database
from tests.pages.conftest import app_test
from tests.pages.helpers import open_at
from tests.pages.test_monitoring_page import PAGE, no_exception, texts, to_tab

# The refresh check (block_build.sync_status): two index lookups, whatever the row count.
ALLOWED = {"SELECT max(id) FROM prediction", "SELECT max(id) FROM outcome"}
ROW_TABLES = re.compile(r"\b(FROM|JOIN)\s+\"?(prediction|outcome)\b", re.IGNORECASE)


@pytest.fixture(params=["sqlite", "postgres"])
def demo_db(request, tmp_path, monkeypatch) -> Iterator[Engine]:
    """A private copy of the demo (blocks built, summaries folded, as the worker leaves it) that the app uses."""
    if request.param == "sqlite":
        url = f"sqlite:///{demo_cache.copy_demo(tmp_path / 'loopdeck.db')}"
    elif not POSTGRES_URL:
        pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
    else:
        url = demo_cache.postgres_demo("mon_summaries")
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", url)
    engine = make_engine(url)
    frames.clear_caches()  # nothing decoded by an earlier test: every day is read by this one
    yield engine
    engine.dispose()
    state.get_engine.clear()
    frames.clear_caches()
    if request.param == "postgres":
        drop_database(url)


class RowReads:
    """Every day block decoded (any thread) and every statement that reads the prediction or outcome table."""

    def __init__(self, monkeypatch) -> None:
        self.blocks = 0
        self.statements: list[str] = []
        decode = blocks._decode

        def counting(blob: bytes):
            self.blocks += 1
            return decode(blob)

        monkeypatch.setattr(blocks, "_decode", counting)
        sa.event.listen(Engine, "before_cursor_execute", self._statement)

    def _statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        text = " ".join(statement.split())
        if ROW_TABLES.search(text) and text not in ALLOWED:
            self.statements.append(text[:300])

    def reset(self) -> None:
        self.blocks, self.statements = 0, []

    def close(self) -> None:
        sa.event.remove(Engine, "before_cursor_execute", self._statement)


@pytest.fixture
def row_reads(monkeypatch) -> Iterator[RowReads]:
    reads = RowReads(monkeypatch)
    yield reads
    reads.close()


def test_default_views_read_no_rows_and_the_row_path_is_bounded_and_said(demo_db, row_reads, monkeypatch):
    uid = next(u.id for u in users.list_users(demo_db, Actor.system()) if u.email == "analyst@loopdeck.demo")
    at = app_test()
    at.session_state[state.USER_ID] = uid
    row_reads.reset()
    open_at(at, PAGE)
    no_exception(at)
    # The cohort values offered come from the summaries' strata (the block path read 7 days of rows for them).
    assert at.selectbox(key="mon_filter_field_2").options == ["(all rows)", "platform", "region", "tier"]
    at.selectbox(key="mon_cur").set_value("after_reference")
    at.run()
    for tab in ("Drift over time", "Performance", "Calibration", "Estimated performance", "Alerts", "Drift"):
        at = to_tab(at, tab)
        no_exception(at)
    # A one-field cohort filter is in the strata too, on every tab but the Performance table's default slicing.
    at.selectbox(key="mon_filter_field_2").set_value("platform")
    at.run()
    assert at.multiselect(key="mon_filter_values_2_platform").options == ["android", "ios", "web"]
    at.multiselect(key="mon_filter_values_2_platform").set_value(["ios", "android"])
    at.run()
    for tab in ("Drift over time", "Calibration", "Estimated performance"):
        at = to_tab(at, tab)
        no_exception(at)
        assert "day summaries" in texts(at), tab
    assert (row_reads.blocks, row_reads.statements) == (0, [])

    # Every other field sliced within the filter is not in the strata (they hold one field at a time): the
    # row path, bounded: a window of more rows than its cap is refused before any block is read, and the page
    # says why and what to do.
    monkeypatch.setattr(frames, "ROW_PATH_MAX_ROWS", 100)
    at = to_tab(at, "Performance")
    no_exception(at)
    assert "reads at most 100 at once" in texts(at) and "Pick a shorter window" in texts(at)
    assert row_reads.blocks == 0
    # Under the cap, the rows of the window are read, and the page says so and names the cap.
    monkeypatch.setattr(frames, "ROW_PATH_MAX_ROWS", 2_000_000)
    at.run()
    no_exception(at)
    assert "Computed from the window's rows" in texts(at) and "at most 2,000,000 a window" in texts(at)
    assert row_reads.blocks > 0
