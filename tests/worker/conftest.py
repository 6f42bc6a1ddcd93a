"""Worker tests run real worker processes (`python -m worker`) against a database file (SQLite) or a
Postgres database of this module (with procrastinate's schema), so both the queue library and the
claim in our Job table are exercised."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from services.core.db import make_engine
from services.jobs import transport
from tests.conftest import POSTGRES_URL, ROOT, drop_database, fresh_postgres_url


@pytest.fixture(scope="module")
def _postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
    url = fresh_postgres_url("worker")
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    transport.ensure_procrastinate_schema(engine)
    engine.dispose()
    yield url
    drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def wengine(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'worker.db'}")
        SQLModel.metadata.create_all(engine)
    else:
        engine = make_engine(request.getfixturevalue("_postgres_url"))
        names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names}, procrastinate_jobs RESTART IDENTITY CASCADE")
    yield engine
    engine.dispose()


class Workers:
    """Worker processes of one test, stopped (and their logs kept) at its end."""

    def __init__(self, engine: Engine, folder: Path):
        self.url = engine.url.render_as_string(hide_password=False)
        self.folder = folder
        self.procs: list[subprocess.Popen] = []

    def start(self, *args: str) -> subprocess.Popen:
        env = {**os.environ, "LOOPDECK_DATABASE_URL": self.url, "PYTHONPATH": str(ROOT)}
        log = open(self.folder / f"worker-{len(self.procs)}.log", "w")  # noqa: SIM115 - closed with the process
        # The production tick (1 s): a tick costs ~7 ms of CPU and the reaper test's worker reaps at its first
        # tick anyway; at 0.2 s the ticks of an idle worker cost more than the jobs it runs here.
        cmd = [sys.executable, "-m", "worker", "--id", f"w{len(self.procs)}", *args]
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.folder.glob("worker-*.log")))


@pytest.fixture
def workers(wengine, tmp_path) -> Iterator[Workers]:
    w = Workers(wengine, tmp_path)
    yield w
    w.stop()


def wait_for(condition: Callable[[], object], timeout: float = 120.0, interval: float = 0.25, what: str = "") -> object:
    """Poll until `condition()` is truthy (worker start-up imports take seconds on a busy machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or condition}")


def job_rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("SELECT * FROM job ORDER BY id")).mappings()]
