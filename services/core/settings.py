"""Admin-editable settings with typed defaults. Every change is audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from services.core import audit, audit_anchor, config
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role, require
from services.core.schema_accounts import Setting
from services.core.timeutil import to_utc, utcnow


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    description: str
    validate: Callable[[Any], Any]  # returns the cleaned value or raises InvalidInput


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"{value!r} is not a whole number.") from None
        if not low <= number <= high:
            raise InvalidInput(f"{number} is outside {low}..{high}.")
        return number

    return check


def _label_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    cleaned = []
    for item in value or []:
        text = str(item).strip()
        if text and text not in cleaned:
            if len(text) > 100:
                raise InvalidInput(f"'{text[:20]}...' is longer than 100 characters.")
            cleaned.append(text)
    if not cleaned:
        raise InvalidInput("Give at least one value.")
    return cleaned


def _moment_or_empty(value: Any) -> str:
    """An ISO 8601 moment (UTC when it names no zone), or "" for none."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text[:40]!r} is not a date and time (e.g. 2026-10-30T00:00:00+00:00).") from None
    return to_utc(moment).isoformat()


APPROVAL_KINDS = ("promote", "canary", "rollback", "retrain", "stop-experiment")


def _approval_counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise InvalidInput("Give a number of approvals for each kind of request.")
    unknown = set(value) - set(APPROVAL_KINDS)
    if unknown:
        raise InvalidInput(f"Unknown request kind(s): {', '.join(sorted(unknown))}.")
    check = _int_between(1, 5)
    return {kind: check(value.get(kind, 1)) for kind in APPROVAL_KINDS}


SPECS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in [
        SettingSpec("feedback.sla_days", 3, "Days a new feedback item may wait for triage.", _int_between(1, 90)),
        SettingSpec(
            "feedback.categories",
            ["bug", "wrong prediction", "data quality", "feature request", "question", "other"],
            "Categories analysts choose from.",
            _label_list,
        ),
        SettingSpec(
            "approvals.required",
            {"promote": 2, "canary": 1, "rollback": 1, "retrain": 1, "stop-experiment": 1},
            "Approvals each kind of request needs (the requester never counts).",
            _approval_counts,
        ),
        SettingSpec(
            "approvals.expiry_days",
            14,
            "Days a request stays open: an older one can no longer be approved or executed (request it again).",
            _int_between(1, 365),
        ),
        SettingSpec(
            "clock.data_now",
            "",
            "The moment ages and SLAs are measured against, for a snapshot of data (the demo pins its story's "
            "'now'); empty: the wall clock.",
            _moment_or_empty,
        ),
        SettingSpec(
            "auth.idle_timeout_hours",
            8,
            "Hours without a click after which a browser session ends (sign in again).",
            _int_between(1, 168),
        ),
        SettingSpec(
            "auth.session_max_hours",
            24,
            "Hours after signing in after which a browser session ends however active it is.",
            _int_between(1, 720),
        ),
    ]
}


def get(engine: Engine, key: str) -> Any:
    spec = SPECS[key]
    with read_session(engine) as session:
        row = session.get(Setting, key)
    return spec.default if row is None else row.value


def set_value(engine: Engine, actor: Actor, key: str, value: Any) -> Any:
    require(actor, Role.admin, "change settings")
    if key not in SPECS:
        raise InvalidInput(f"Unknown setting {key!r}.")
    cleaned = SPECS[key].validate(value)
    with write_session(engine) as session:
        row = session.get(Setting, key)
        old = SPECS[key].default if row is None else row.value
        if row is None:
            row = Setting(key=key, value=cleaned)
        row.value, row.updated_at, row.updated_by = cleaned, utcnow(), actor.label
        session.add(row)
        audit.record(session, actor, "setting.change", "setting", key, {"from": old, "to": cleaned})
    return cleaned


@dataclass(frozen=True)
class ServerPath:
    what: str
    path: str
    setting: str  # the environment variable that moves it


def server_paths(engine: Engine, actor: Actor) -> list[ServerPath]:
    """Where the server keeps its files (admins only: folder names tell an attacker where to look)."""
    require(actor, Role.admin, "see the server's paths")
    url = engine.url
    database = str(url.database) if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)
    return [
        ServerPath("Database", database, "LOOPDECK_DATABASE_URL"),
        ServerPath("Model artifacts (skops files)", str(config.artifact_dir().resolve()), "LOOPDECK_ARTIFACT_DIR"),
        ServerPath("Routing files (what serving reads)", str(config.routing_dir().resolve()), "LOOPDECK_ROUTING_DIR"),
        ServerPath("Audit key file", str(audit_anchor.key_file(engine)), "LOOPDECK_AUDIT_KEY_FILE"),
        ServerPath(
            "Audit checkpoint file", str(audit_anchor.checkpoint_path(engine)), "LOOPDECK_AUDIT_CHECKPOINT_FILE"
        ),
    ]
