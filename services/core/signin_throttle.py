"""Growing delays after failed sign-ins, by account and by source, instead of a hard lock.

After FREE_FAILURES failures in a row for a key, the next attempt for that key is refused until a delay
has passed: 1 s, then 2 s, 4 s, ... capped at MAX_DELAY (15 minutes). Attempts made while a key waits
are refused without being counted, so someone who keeps guessing cannot push the wait further out:
an account is never kept out longer than MAX_DELAY after the guessing stops, and an admin can clear it
at once (users.unlock). A success clears the account's key (and the source's).

Keys: "account:<e-mail as typed, lower-cased>" (known or not, so an unknown e-mail behaves exactly like
a known one) and "source:<client ip>". The source is what the UI gets from st.context.ip_address;
Streamlit reports no address for connections from the same machine (127.0.0.1/::1), and then only the
account is throttled. Sources get more free failures than accounts, since many people may share one
address behind a NAT.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from services.core.schema_sessions import SignInThrottle
from services.core.timeutil import to_utc

FREE_FAILURES = 3  # per account: failures before the first delay
FREE_FAILURES_PER_SOURCE = 20
FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=15)


def account_key(email: str) -> str:
    return f"account:{(email or '').strip().lower()[:380]}"


def source_key(source: str | None) -> str | None:
    return f"source:{source.strip()[:64]}" if source and source.strip() else None


def delay_after(failures: int, free: int) -> timedelta:
    """The wait after `failures` failures in a row: none up to `free`, then 1 s doubling, capped."""
    if failures <= free:
        return timedelta(0)
    exponent = min(failures - free - 1, 20)  # 2**20 s is far beyond the cap already
    return min(FIRST_DELAY * (2**exponent), MAX_DELAY)


def _keys(email: str, source: str | None) -> list[tuple[str, int]]:
    keys = [(account_key(email), FREE_FAILURES)]
    if (by_source := source_key(source)) is not None:
        keys.append((by_source, FREE_FAILURES_PER_SOURCE))
    return keys


def waiting(session: Session, email: str, source: str | None, now: datetime) -> bool:
    """True when the account or the source must still wait before another attempt."""
    for key, _ in _keys(email, source):
        row = session.get(SignInThrottle, key)
        if row is not None and row.blocked_until is not None and to_utc(row.blocked_until) > now:
            return True
    return False


def record_failure(session: Session, email: str, source: str | None, now: datetime) -> dict[str, str]:
    """Count a failure for the account and the source; returns {key: blocked-until iso} for the audit."""
    blocked: dict[str, str] = {}
    for key, free in _keys(email, source):
        row = session.get(SignInThrottle, key) or SignInThrottle(key=key)
        row.failures += 1
        delay = delay_after(row.failures, free)
        row.blocked_until = now + delay if delay else None
        row.updated_at = now
        session.add(row)
        if row.blocked_until is not None:
            blocked[key] = row.blocked_until.isoformat()
    return blocked


def clear(session: Session, email: str, source: str | None = None) -> None:
    for key, _ in _keys(email, source):
        row = session.get(SignInThrottle, key)
        if row is not None:
            session.delete(row)


def waiting_accounts(session: Session, now: datetime) -> dict[str, datetime]:
    """E-mail -> blocked-until for every account key that waits now (for the Admin page)."""
    rows = session.exec(select(SignInThrottle).where(SignInThrottle.key.startswith("account:"))).all()
    return {
        r.key.removeprefix("account:"): to_utc(r.blocked_until)
        for r in rows
        if r.blocked_until is not None and to_utc(r.blocked_until) > now
    }
