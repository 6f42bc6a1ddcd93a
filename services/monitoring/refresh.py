"""The one refresh of monitoring data: fold new predictions and outcomes into the day blocks and, when
blocks changed, save the Overview's monitoring summary for them at once (its next view, in any process,
reads it). Every refresh goes through here: alert evaluation, `python -m services monitoring refresh`,
the Monitoring page, the demo.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine

from services.monitoring import block_build
from services.monitoring.summary import monitoring_status


def refresh_monitoring(
    engine: Engine, progress: Callable[[float, str], None] | None = None
) -> block_build.RefreshResult:
    """Fold new predictions and outcomes into the monitoring blocks and, when blocks changed, save the
    Overview's monitoring summary for them at once (its next view, in any process, reads it). Every
    refresh goes through here: alert evaluation, `monitoring refresh`, the Monitoring page, the demo."""
    result = block_build.refresh(engine, progress)
    if result.changed:
        monitoring_status(engine)
    return result
