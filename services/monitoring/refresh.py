"""The one refresh of monitoring data: fold new predictions and outcomes into the day blocks, into the
day summaries and the raw store (services/monitoring/summary_fold.py: incrementally, under a watermark of
their own) and, when blocks changed, save the Overview's monitoring summary for them at once (its next
view, in any process, reads it). Every refresh goes through here: alert evaluation, `python -m services
monitoring refresh`, the worker's `monitoring.refresh` job (queued by the Monitoring page and by its
schedule), the demo.

The web app never runs it itself: `request_refresh` (the Monitoring page) queues one job for the worker
when new rows wait, or finds the one already queued or running, so a refresh started from one replica is
the refresh every replica shows, and two tabs opening Monitoring at once queue one job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from services.core.roles import Actor
from services.jobs import queue
from services.monitoring import block_build, summary_fold
from services.monitoring.summary import monitoring_status

KIND = "monitoring.refresh"
# Who queues the page's refresh. It changes no fact, only the derived day blocks of rows already imported
# (as the page's own refresh did, for any reader), so opening Monitoring as a viewer may cause one: it is
# queued (and audited) as this system actor, with the reader named in its payload.
PAGE_ACTOR = Actor.system("system:monitoring")


def refresh_monitoring(
    engine: Engine, progress: Callable[[float, str], None] | None = None
) -> block_build.RefreshResult:
    """Fold new predictions and outcomes into the monitoring blocks, the day summaries and the raw store
    and, when blocks changed, save the Overview's monitoring summary for them at once (its next view, in
    any process, reads it)."""
    result = block_build.refresh(engine, (lambda f, m: progress(0.5 * f, m)) if progress else None)
    folded = summary_fold.refresh(engine, (lambda f, m: progress(0.5 + 0.5 * f, m)) if progress else None)
    result = block_build.RefreshResult(result.blocks_built, result.blocks_deleted, result.rows,
                                       result.seconds + folded.seconds, folded)  # fmt: skip
    if result.changed:
        monitoring_status(engine)
    return result


@dataclass(frozen=True)
class RefreshState:
    """Where the monitoring data stands for a reader: behind the newest rows or not, and the refresh job
    that is bringing it up to date (queued or running), if any."""

    needs_refresh: bool
    first_build: bool  # no block was ever built: there is nothing older to show meanwhile
    job: queue.JobView | None
    queued_now: bool = False


def request_refresh(engine: Engine, asked_by: str) -> RefreshState:
    """When predictions or outcomes newer than the blocks wait (two index lookups), make sure one refresh
    job is queued or running: the one already there (whoever queued it) or a new one; never a second."""
    status = block_build.sync_status(engine)
    if not status.needs_refresh:
        return RefreshState(False, False, queue.active(engine, KIND))
    label = "Building the monitoring data" if status.first_build else "Refreshing the monitoring data"
    job, created = queue.ensure(engine, KIND, {"asked_by": asked_by[:320]}, PAGE_ACTOR, label=label)
    return RefreshState(True, status.first_build, job, created)
