"""The kinds of job the worker knows: who may ask for each, its label and retry budget.

The worker (worker/tasks.py) maps every kind here to a thin task over a service; a test checks that
the two lists agree. The service a task calls checks the requester's permission again when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.core.roles import Role


@dataclass(frozen=True)
class KindSpec:
    role: Role  # the least role that may enqueue it
    label: str
    max_attempts: int = 1  # > 1: a job whose worker died is queued again (only for idempotent work)
    single: bool = False  # at most one queued or running at a time (queue.ensure; a schedule joins the one there)


KINDS: dict[str, KindSpec] = {
    "ingest.import": KindSpec(Role.analyst, "Import a file"),
    "monitoring.refresh": KindSpec(Role.analyst, "Refresh the monitoring data", max_attempts=3, single=True),
    "alerts.evaluate": KindSpec(Role.analyst, "Evaluate alert rules", max_attempts=3),
    "experiments.guard": KindSpec(Role.analyst, "Check experiment guard rails", max_attempts=3),
    "report.weekly": KindSpec(Role.analyst, "Weekly report", max_attempts=3),
    "monitoring.retention": KindSpec(
        Role.admin, "Purge raw rows past each model's retention", max_attempts=3, single=True
    ),
    "monitoring.summaries.rebuild": KindSpec(Role.admin, "Rebuild a model version's day summaries and raw store"),
    "notify.deliver": KindSpec(Role.admin, "Deliver notifications", max_attempts=3),
    "models.retrain": KindSpec(Role.analyst, "Retrain a model"),
    "models.retrain_request": KindSpec(Role.analyst, "Run an approved retrain request"),
    "models.request_retrain": KindSpec(Role.analyst, "File a scheduled retrain request"),
    "models.alert_retrain": KindSpec(Role.analyst, "File a retrain request for an alert (auto-retrain rules)"),
    "debug.sleep": KindSpec(Role.admin, "Sleep in steps (tests and benchmarks)", max_attempts=1),
    "debug.noop": KindSpec(Role.admin, "Do nothing (tests and benchmarks)"),
}
