"""The job kinds the worker runs: one thin task per kind over a service (worker/loop_tasks.py), named
by an import string and imported when a job of that kind first runs.

Every task gets the job's requester as the actor (the service checks the permission again) and a
progress callback that records progress in the Job row and raises JobCancelled once a cancel was
asked for (the task stops between its progress steps).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy.engine import Engine

from services.core.roles import Actor

Progress = Callable[[float, str], None]
Task = Callable[["TaskContext", dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class TaskContext:
    engine: Engine
    actor: Actor
    job_id: int
    progress: Progress


def sleep(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    steps, seconds = min(int(p.get("steps", 10)), 1000), min(float(p.get("step_seconds", 0.1)), 10.0)
    for i in range(steps):
        ctx.progress(i / steps, f"step {i + 1} of {steps}")
        time.sleep(seconds)
    if p.get("fail"):
        raise RuntimeError(str(p["fail"]))
    return {"summary": f"Slept {steps} steps."}


def noop(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"n": p.get("n")}


TASKS: dict[str, str] = {
    "ingest.import": "worker.loop_tasks:import_file",
    "monitoring.refresh": "worker.loop_tasks:refresh_monitoring",
    "alerts.evaluate": "worker.loop_tasks:evaluate_alerts",
    "experiments.guard": "worker.loop_tasks:check_guards",
    "report.weekly": "worker.loop_tasks:weekly_report",
    "notify.deliver": "worker.loop_tasks:deliver",
    "monitoring.retention": "worker.loop_tasks:purge_retention",
    "monitoring.summaries.rebuild": "worker.loop_tasks:rebuild_summaries",
    "models.retrain": "worker.loop_tasks:retrain",
    "models.retrain_request": "worker.loop_tasks:retrain_request",
    "models.request_retrain": "worker.loop_tasks:request_retrain",
    "models.alert_retrain": "worker.loop_tasks:alert_retrain",
    "debug.sleep": "worker.tasks:sleep",
    "debug.noop": "worker.tasks:noop",
}


@cache
def task(kind: str) -> Task:
    module, name = TASKS[kind].split(":")
    return getattr(importlib.import_module(module), name)
