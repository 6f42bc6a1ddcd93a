"""Every job kind a service may queue has a worker task, and every task a kind."""

from services.jobs.kinds import KINDS
from worker.tasks import TASKS, task


def test_every_kind_has_a_task():
    assert set(KINDS) == set(TASKS)
    assert callable(task("debug.noop"))
