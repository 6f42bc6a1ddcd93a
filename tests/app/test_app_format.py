"""app/format.py: pure display helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd

from app import format as fmt
from services.core.audit import AuditFilter
from services.core.users import UserView

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _user(**changes) -> UserView:
    values = dict(
        id=1,
        email="ann@x.io",
        name="Ann",
        role="analyst",
        disabled=False,
        locked_until=None,
        failed_attempts=0,
        created_at=NOW - timedelta(days=3),
        last_login_at=None,
    )
    values.update(changes)
    return UserView(**values)


def test_when_is_utc_and_dashes_missing_values():
    assert fmt.when(datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2)))) == "2026-01-02 01:04 UTC"
    assert fmt.when(datetime(2026, 1, 2, 3, 4)) == "2026-01-02 03:04 UTC"  # naive means UTC
    assert fmt.when(None) == fmt.DASH
    assert fmt.count(1234567) == "1,234,567"
    assert fmt.count(None) == fmt.DASH


def test_users_frame_shows_only_locks_that_still_hold():
    frame = fmt.users_frame(
        [
            _user(),
            _user(id=2, email="bob@x.io", disabled=True, locked_until=NOW + timedelta(minutes=5), last_login_at=NOW),
            _user(id=3, email="cy@x.io", locked_until=NOW - timedelta(minutes=1)),
        ],
        NOW,
    )
    assert list(frame.columns) == ["email", "name", "role", "status", "locked until", "last login", "created"]
    assert list(frame["status"]) == ["active", "disabled", "active"]
    assert list(frame["locked until"]) == ["", "2026-11-22 12:05 UTC", ""]
    assert list(frame["last login"]) == [fmt.DASH, "2026-11-22 12:00 UTC", fmt.DASH]
    assert fmt.users_frame([], NOW).empty


def test_user_label():
    assert fmt.user_label(_user()) == "ann@x.io (analyst)"
    assert fmt.user_label(_user(disabled=True)) == "ann@x.io (analyst, disabled)"


def test_audit_filter_from_form_values():
    assert fmt.audit_filter() == AuditFilter()
    assert fmt.audit_filter("", "", "", "  ") == AuditFilter()
    f = fmt.audit_filter("a@x.io", "user.add", "user", " 7 ", date(2026, 11, 1), date(2026, 11, 1))
    assert f == AuditFilter(
        actor="a@x.io",
        action="user.add",
        subject_type="user",
        subject_id="7",
        since=datetime(2026, 11, 1, tzinfo=UTC),
        until=datetime(2026, 11, 2, tzinfo=UTC),
    )


def test_audit_frame_keeps_payload_as_text():
    events = pd.DataFrame(
        [
            {
                "id": 3,
                "ts": NOW,
                "actor": "a@x.io",
                "action": "user.add",
                "subject_type": "user",
                "subject_id": "9",
                "payload": '{"name":"<b>x</b>"}',
                "hash": "ab" * 32,
            }
        ]
    )
    frame = fmt.audit_frame(events)
    assert frame.to_dict("records") == [
        {
            "id": 3,
            "time": "2026-11-22 12:00 UTC",
            "actor": "a@x.io",
            "action": "user.add",
            "subject": "user:9",
            "payload": '{"name":"<b>x</b>"}',
            "hash": "abababababab",
        }
    ]
    assert fmt.audit_frame(events.iloc[0:0]).empty


def test_page_count():
    assert [fmt.page_count(n, 50) for n in (0, 1, 50, 51, 100, 101)] == [1, 1, 1, 2, 2, 3]


def test_data_page_helpers():
    from services.ingest import KINDS, Problem

    columns = fmt.kind_columns_frame(KINDS["outcomes"])
    assert list(columns["column"]) == ["request_id", "ts", "actual_label", "actual_value"]
    assert list(columns["required"]) == ["yes", "yes", "yes", ""]
    problems = fmt.problems_frame(
        [Problem("a.csv", 3, "score", "not a number: 'x'"), Problem("a.csv", None, None, "empty")]
    )
    assert problems.to_dict("records") == [
        {"file": "a.csv", "row": "3", "column": "score", "message": "not a number: 'x'"},
        {"file": "a.csv", "row": "", "column": "", "message": "empty"},
    ]
    assert fmt.rejection_headline(1, 1) == "The file was not imported: 1 problem. Nothing was written."
    assert fmt.rejection_headline(1234, 20) == (
        "The file was not imported: 1,234 problems; the first 20 are listed below. Nothing was written."
    )
    history = pd.DataFrame([{"when": NOW, "who": "a@x.io", "kind": "outcomes", "sha256": "ff"}])
    assert fmt.history_frame(history).to_dict("records") == [
        {"when": "2026-11-22 12:00 UTC", "who": "a@x.io", "kind": "outcomes"}
    ]
