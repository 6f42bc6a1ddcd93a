"""Formatting for display: pure functions (no Streamlit), tested without a browser."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from services.core.audit import AuditFilter
from services.core.timeutil import to_utc

DASH = "—"


def when(value: datetime | None) -> str:
    """'2026-11-22 14:03 UTC', or a dash for None."""
    if value is None or pd.isna(value):
        return DASH
    return to_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def metric(value: Any, signed: bool = False) -> str:
    """A metric to four decimals ('+' in front when signed); a dash for a missing or non-finite value."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return DASH
    if not math.isfinite(v):
        return DASH
    return f"{v:+.4f}" if signed else f"{v:.4f}"


def metric_interval(value: Any, low: Any, high: Any, signed: bool = False) -> str:
    """'0.8250 (0.8190 to 0.8310)': a metric with its interval."""
    return f"{metric(value, signed)} ({metric(low, signed)} to {metric(high, signed)})"


def rows(value: Any) -> str:
    """A row count with thousands separators; a dash when missing."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return DASH


def locked_until(value: datetime | None, now: datetime) -> str:
    """A lock in the past is no lock: show it only while it holds."""
    if value is None or to_utc(value) <= to_utc(now):
        return ""
    return when(value)


def users_frame(users, now: datetime) -> pd.DataFrame:
    """services.core.users.UserView rows -> the Admin page table."""
    columns = ["email", "name", "role", "status", "locked until", "last login", "created"]
    rows = [
        {
            "email": u.email,
            "name": u.name,
            "role": u.role,
            "status": "disabled" if u.disabled else "active",
            "locked until": locked_until(u.locked_until, now),
            "last login": when(u.last_login_at),
            "created": when(u.created_at),
        }
        for u in users
    ]
    return pd.DataFrame(rows, columns=columns)


def user_label(user) -> str:
    """'ann@example.com (analyst, disabled)' for pickers."""
    flags = [user.role] + (["disabled"] if user.disabled else [])
    return f"{user.email} ({', '.join(flags)})"


def audit_frame(events: pd.DataFrame) -> pd.DataFrame:
    """services.core.audit.list_events -> the Audit page table (payload stays raw JSON text)."""
    frame = pd.DataFrame(
        {
            "id": events["id"],
            "time": [when(ts) for ts in events["ts"]],
            "actor": events["actor"],
            "action": events["action"],
            "subject": [f"{t}:{i}" for t, i in zip(events["subject_type"], events["subject_id"], strict=True)],
            "payload": events["payload"],
            "hash": [h[:12] for h in events["hash"]],
        }
    )
    return frame


def audit_filter(
    actor: str | None = None,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> AuditFilter:
    """Form values -> AuditFilter. Dates are whole UTC days; `until` is inclusive."""
    return AuditFilter(
        actor=actor or None,
        action=action or None,
        subject_type=subject_type or None,
        subject_id=(subject_id or "").strip() or None,
        since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
        until=datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1) if until else None,
    )


def page_count(total: int, page_size: int) -> int:
    """At least one page, so an empty result still has page 1."""
    return max(1, -(-total // page_size))


def kind_columns_frame(spec) -> pd.DataFrame:
    """services.ingest.KindSpec -> the Data page's column table."""
    return pd.DataFrame(
        [
            {"column": c.name, "type": c.type, "required": "yes" if c.required else "", "description": c.description}
            for c in spec.columns
        ],
        columns=["column", "type", "required", "description"],
    )


def problems_frame(problems) -> pd.DataFrame:
    """services.ingest.Problem rows -> a table (row and column blank where the problem has none)."""
    return pd.DataFrame(
        [
            {"file": p.file, "row": "" if p.row is None else str(p.row), "column": p.column or "", "message": p.message}
            for p in problems
        ],
        columns=["file", "row", "column", "message"],
    )


def rejection_headline(total: int, listed: int) -> str:
    """The line above the problem table (the file name is in the table, shown as text)."""
    problems = f"{total:,} problem{'' if total == 1 else 's'}"
    shown = f"; the first {listed} are listed below" if total > listed else ""
    return f"The file was not imported: {problems}{shown}. Nothing was written."


def history_frame(history: pd.DataFrame) -> pd.DataFrame:
    """services.ingest.import_history -> the Data page's table of past imports."""
    frame = history.drop(columns=[c for c in ("sha256",) if c in history.columns]).copy()
    if "when" in frame.columns:
        frame["when"] = [when(ts) for ts in frame["when"]]
    return frame


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def md_escape(text: Any) -> str:
    """Text made inert inside a markdown element (st.success, st.error, ...): service messages
    can quote what users typed (a name, an e-mail, a category)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


GATE_ICONS = {"pass": "✅ pass", "fail": "❌ fail", "not checked": "➖ not checked"}


def gates_table(gates: pd.DataFrame) -> pd.DataFrame:
    """The judge's gates (a panel's, or a request's evidence) with an icon for each result."""
    out = gates.copy()
    out["result"] = [GATE_ICONS.get(r, r) for r in out["result"]]
    return out
