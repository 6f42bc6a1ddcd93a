"""The worker loop: a queue consumer (the main thread) plus a housekeeping tick (a thread).

- The consumer takes "run job N" messages from the queue library (huey on SQLite, procrastinate on
  Postgres; services/jobs/transport.py), claims job N in the database (a conditional UPDATE: only
  one worker wins) and runs its task (worker/tasks.py). Progress goes to the Job row; a cancel asked
  for meanwhile stops the task at its next progress step.
- The tick, every TICK seconds: a heartbeat for this worker's running job, then the housekeeping of
  services/jobs/housekeeping.py (reap jobs of dead workers, fire due schedules, queue notification
  delivery, re-send jobs the queue never got).

`--once` runs the tick and everything due, repeated until nothing new is queued, and exits.
SIGTERM/SIGINT stop the loop after the running job (a SIGKILL leaves it to another worker's reaper).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from services.core.db import make_engine
from services.core.errors import LoopdeckError
from services.jobs import housekeeping, runner, transport
from worker.tasks import TaskContext, task

log = logging.getLogger("loopdeck.worker")
TICK = 1.0
PROGRESS_EVERY = 0.25  # seconds between progress writes (a cancel is seen at the next write)


class Worker:
    def __init__(self, engine: Engine, worker_id: str | None = None, stale_after: float = 30.0, tick: float = TICK):
        self.engine = engine
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stale_after = timedelta(seconds=stale_after)
        self.tick_seconds = tick
        self.stop = threading.Event()
        self.transport = transport.for_engine(engine)
        self.ran = 0

    # --- one job ---------------------------------------------------------------------------------

    def handle(self, job_id: int) -> None:
        job = runner.claim(self.engine, job_id, self.id)
        if job is None:
            return  # another worker has it, or it was cancelled, or it is done
        self.ran += 1
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if now - last[0] < PROGRESS_EVERY and fraction < 1.0:
                return
            last[0] = now
            if runner.progress(self.engine, job_id, self.id, fraction, message):
                raise runner.JobCancelled()

        ctx = TaskContext(self.engine, runner.actor_of(job, self.engine), job_id, progress)
        self._run(job_id, job.kind, ctx, job.payload or {})

    def _run(self, job_id: int, kind: str, ctx: TaskContext, payload: dict[str, Any]) -> None:
        outcome: dict[str, Any]
        try:
            outcome = {"status": "succeeded", "result": task(kind)(ctx, payload)}
        except runner.JobCancelled:
            outcome = {"status": "cancelled", "error_kind": "cancelled"}
        except LoopdeckError as exc:
            outcome = {"status": "failed", "error": str(exc), "error_kind": "domain", "error_data": _error_data(exc)}
        except Exception as exc:  # noqa: BLE001 - a task's crash fails its job, never the worker
            log.exception("job %s (%s) crashed", job_id, kind)
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000], "error_kind": "crash"}
        status = outcome.pop("status")
        if not runner.finish(self.engine, job_id, self.id, status, **outcome):
            log.warning("job %s was taken from this worker (reaped) before it finished", job_id)

    # --- the loop --------------------------------------------------------------------------------

    def tick(self) -> housekeeping.TickResult:
        runner.heartbeat(self.engine, self.id)
        return housekeeping.tick(self.engine, stale_after=self.stale_after)

    def _ticker(self) -> None:
        while not self.stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the database may be away for a moment: try again next tick
                log.exception("worker tick failed")

    def run_forever(self) -> None:
        log.info("worker %s consuming from %s", self.id, self.transport.name)
        self.tick()
        ticker = threading.Thread(target=self._ticker, name="loopdeck-worker-tick", daemon=True)
        ticker.start()
        try:
            self.transport.consume(self.handle, once=False, stop=self.stop)
        finally:
            self.stop.set()
            ticker.join(timeout=5)

    def run_once(self, rounds: int = 5) -> int:
        """Everything due now (and what that queues, e.g. a failed job's notification); jobs run."""
        for _ in range(rounds):
            before = self.ran
            result = self.tick()
            self.transport.consume(self.handle, once=True, stop=self.stop)
            if self.ran == before and not result.sent and not result.fired and result.delivery_job is None:
                break
        return self.ran


def _error_data(exc: LoopdeckError) -> dict[str, Any]:
    """A domain error's details for the job row: a rejected import's problems, else the error's type."""
    # Imported here, not at start: the ingest package pulls in the import service and with it scipy and the
    # monitoring stack (~4 CPU-s); a task that raised it has loaded them already.
    from services.ingest.problems import ImportRejected

    if isinstance(exc, ImportRejected):
        return {"total": exc.total, "problems": [_problem(p) for p in exc.problems]}
    return {"type": type(exc).__name__}


def _problem(p: Any) -> dict[str, Any]:
    return {"file": p.file, "row": p.row, "column": p.column, "message": p.message}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services worker", description="Run the Loopdeck job worker.")
    parser.add_argument("--once", action="store_true", help="run what is due now, then exit")
    parser.add_argument("--id", default=None, help="worker id shown on jobs (default host:pid:random)")
    parser.add_argument("--stale-after", type=float, default=30.0, help="seconds without heartbeat: reaped")
    parser.add_argument("--tick", type=float, default=TICK, help="seconds between housekeeping ticks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    worker = Worker(make_engine(), args.id, args.stale_after, args.tick)
    if args.once:
        ran = worker.run_once()
        print(f"worker {worker.id}: {ran} job(s) run")
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop.set())
    worker.run_forever()
    return 0
