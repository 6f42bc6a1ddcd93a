"""The data clock: the moment ages and SLAs are measured against (a feedback item's age and whether it
is overdue, a champion's days in service, an experiment's days running).

On a live workspace that is the wall clock. A snapshot of data, such as the demo, pins it with the
setting `clock.data_now` (data/demo.py sets it to its story's "now"): otherwise every item of a story
that ended weeks ago would be overdue forever and every age would grow with the wall clock. Records
are still written with the time they are written (services/core/timeutil.utcnow); only the readings
of ages use this clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from services.core import settings
from services.core.timeutil import to_utc, utcnow

SETTING = "clock.data_now"


def pinned(engine: Engine) -> datetime | None:
    """The pinned moment, or None when the workspace runs on the wall clock."""
    value = settings.get(engine, SETTING)
    return to_utc(datetime.fromisoformat(value)) if value else None


def data_now(engine: Engine) -> datetime:
    """Now, for ages and SLAs: the pinned moment when there is one, else the wall clock."""
    return pinned(engine) or utcnow()
