"""Timestamps are timezone-aware UTC everywhere (SQLModel stores them as UTC on both databases).

The one clock of the services: `utcnow()` is the wall clock, except inside `story_time(moment)`, where
it is that moment. Only a loader that replays a story (the demo: data/demo.py) uses it, so the records
it writes through the ordinary services (audit events, approvals, triage edits, backlog items) carry
the story's dates instead of the load time. The override is a context variable: it holds only for the
code running in that context (one thread or task), never for the app's other sessions.

What ages and SLAs are measured against (the data clock: the wall clock, or a pinned moment for a
snapshot such as the demo) is services/core/clock.py, built on this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_STORY_NOW: ContextVar[datetime | None] = ContextVar("loopdeck_story_now", default=None)


def utcnow() -> datetime:
    story = _STORY_NOW.get()
    return story if story is not None else datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextmanager
def story_time(moment: datetime) -> Iterator[datetime]:
    """`utcnow()` is `moment` inside the block (in this context only); blocks may nest."""
    token = _STORY_NOW.set(to_utc(moment))
    try:
        yield to_utc(moment)
    finally:
        _STORY_NOW.reset(token)
