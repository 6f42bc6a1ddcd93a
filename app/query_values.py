"""Reading several values of one URL parameter, shared by the screens whose links name a cohort (Feedback,
Monitoring): pure, tested without a browser."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def known_values(values: Iterable[str], known: Sequence[str], limit: int) -> list[str]:
    """The values a link names that a widget can show, in order, without repeats, at most `limit`.

    A parameter may be repeated (`value=ios&value=android`, as the app writes it) or comma-joined
    (`value=ios,android`, as a person may type it): a value that is not known as it stands but holds commas
    is read as a list, and its known parts count (so a value that itself holds a comma still works)."""
    out: list[str] = []
    for value in values:
        parts = [value] if value in known else [p.strip() for p in str(value).split(",")]
        out += [p for p in parts if p in known and p not in out]
    return out[:limit]
