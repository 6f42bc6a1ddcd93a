"""The queue libraries behind one small interface: `send(job_ids)` and `consume(handler, once, stop)`.

- SQLite (the default): huey's SqliteHuey, in a file next to the database (`<db>.queue`), because
  huey's generic table names (task, kv, schedule) must not share a file with ours. Its dequeue takes
  an exclusive lock and deletes the message, so two workers never get the same message.
- Postgres: procrastinate (SELECT ... FOR UPDATE SKIP LOCKED, LISTEN/NOTIFY wake-ups), in the same
  database; its schema is applied by the migration 0013_jobs.

A message says only "run job N"; the Job row is the truth and a worker runs a job only after its
conditional claim (services/jobs/runner.py). The handler is given by the worker at `consume` time,
so services never import the worker. The libraries are imported here only, when first used.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

Handler = Callable[[int], None]
QUEUE = "loopdeck"
TASK = "loopdeck.run_job"
POLL_SECONDS = 0.2  # huey on SQLite has no wake-up channel: an idle worker looks this often


class Transport(Protocol):
    name: str

    def send(self, job_ids: list[int]) -> None: ...

    def consume(self, handler: Handler, *, once: bool, stop: threading.Event) -> int: ...


_handler: list[Handler] = []  # the worker's handler, set by consume(); the tasks call it


def _dispatch(job_id: int) -> None:
    if _handler:
        _handler[0](int(job_id))


class HueyTransport:
    name = "huey (SQLite)"

    def __init__(self, path: str):
        from huey import SqliteHuey

        self.huey = SqliteHuey(name=QUEUE, filename=path, utc=True, timeout=30)
        self.task = self.huey.task(name=TASK)(_dispatch)

    def send(self, job_ids: list[int]) -> None:
        for job_id in job_ids:
            self.task(job_id)

    def consume(self, handler: Handler, *, once: bool, stop: threading.Event) -> int:
        """Run messages until stopped (or, with `once`, until the queue is empty); how many ran."""
        _handler[:] = [handler]
        ran = 0
        while not stop.is_set():
            message = self.huey.dequeue()
            if message is None:
                if once:
                    break
                stop.wait(POLL_SECONDS)
                continue
            self.huey.execute(message)
            ran += 1
        return ran


class ProcrastinateTransport:
    name = "procrastinate (Postgres)"

    def __init__(self, conninfo: str):
        import procrastinate

        self.conninfo = conninfo
        self.app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo))
        self.task = self.app.task(name=TASK, queue=QUEUE, pass_context=False)(_dispatch)
        self._lock = threading.Lock()
        self._opened = False

    def send(self, job_ids: list[int]) -> None:
        with self._lock:
            if not self._opened:
                self.app.open()
                self._opened = True
        for job_id in job_ids:
            self.task.defer(job_id=job_id)

    def consume(self, handler: Handler, *, once: bool, stop: threading.Event) -> int:
        """procrastinate's own worker (async; our sync task runs in its thread pool). With `once` it
        runs what is queued and returns; otherwise until SIGINT/SIGTERM or `stop`."""
        import asyncio

        import procrastinate

        _handler[:] = [handler]
        counter = {"ran": 0}

        def counted(job_id: int) -> None:
            counter["ran"] += 1
            handler(job_id)

        _handler[:] = [counted]
        app = self.app.with_connector(procrastinate.PsycopgConnector(conninfo=self.conninfo))

        async def run() -> None:
            async with app.open_async():
                worker = asyncio.create_task(
                    app.run_worker_async(
                        queues=[QUEUE],
                        wait=not once,
                        concurrency=1,
                        install_signal_handlers=False,
                        delete_jobs="successful",
                    )  # fmt: skip
                )
                while not worker.done():
                    if stop.is_set():
                        worker.cancel()
                        break
                    await asyncio.wait({worker}, timeout=POLL_SECONDS)
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

        asyncio.run(run())
        return counter["ran"]


def queue_path(url: sa.engine.URL) -> str:
    return str(Path(url.database or "loopdeck.db").with_suffix(".queue"))


@lru_cache(maxsize=16)
def _for_url(url_text: str) -> Transport:
    url = sa.engine.make_url(url_text)
    if url.get_backend_name() == "sqlite":
        return HueyTransport(queue_path(url))
    return ProcrastinateTransport(libpq_conninfo(url))


def libpq_conninfo(url: sa.engine.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def for_engine(engine: Engine) -> Transport:
    return _for_url(engine.url.render_as_string(hide_password=False))


def ensure_procrastinate_schema(engine: Engine) -> None:
    """procrastinate's tables on a Postgres database built without migrations (tests' create_all);
    migration 0013_jobs applies the same DDL."""
    from procrastinate.schema import SchemaManager

    with engine.begin() as conn:
        if conn.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is None:
            conn.connection.driver_connection.execute(SchemaManager.get_schema())
