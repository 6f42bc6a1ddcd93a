"""Editing feedback items: one patch applied to many items (bulk triage) or one item's edits, each
item checked (transition, version) and audited, with optimistic concurrency."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core import audit, settings
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput
from services.core.roles import Actor, Role, require
from services.core.schema_accounts import User
from services.core.schema_feedback import Feedback
from services.core.timeutil import utcnow
from services.feedback.triage import PRIORITIES, STATUSES, TRANSITIONS

# --- triage ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Patch:
    """Fields to set; None leaves a field unchanged. assignee "" unassigns; clear_label removes the label."""

    status: str | None = None
    category: str | None = None
    assignee: str | None = None
    priority: str | None = None
    corrected_label: int | None = None
    clear_label: bool = False

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) in (None, False) for f in fields(self))


@dataclass(frozen=True)
class Edit:
    feedback_pk: int
    expected_version: int
    patch: Patch


@dataclass(frozen=True)
class UpdateResult:
    changed: int
    unchanged: int
    items: list[int] = field(default_factory=list)


def update_items(engine: Engine, actor: Actor, versions: dict[int, int], patch: Patch) -> UpdateResult:
    """Apply the same patch to many items (bulk triage): one transaction, one audit event per item."""
    return apply_edits(engine, actor, [Edit(pk, v, patch) for pk, v in versions.items()])


def apply_edits(engine: Engine, actor: Actor, edits: list[Edit]) -> UpdateResult:
    """All or nothing: every edit is checked (rules and versions) before anything is written."""
    require(actor, Role.analyst, "triage feedback")
    if not edits:
        return UpdateResult(0, 0)
    categories = set(settings.get(engine, "feedback.categories"))
    now = utcnow()
    with write_session(engine) as session:
        ids = [e.feedback_pk for e in edits]
        if len(set(ids)) != len(ids):
            raise InvalidInput("The same item appears twice in one update.")
        items = {i.id: i for i in session.exec(select(Feedback).where(Feedback.id.in_(ids))).all()}
        assignees = _assignee_ids(session, {e.patch.assignee for e in edits if e.patch.assignee})
        problems, conflicts, changes = [], [], []
        for edit in edits:
            item = items.get(edit.feedback_pk)
            if item is None:
                problems.append(f"item {edit.feedback_pk}: does not exist")
                continue
            if item.version != edit.expected_version:
                conflicts.append(item)
                continue
            try:
                diff = _diff(item, edit.patch, categories, assignees)
            except InvalidInput as exc:
                problems.append(f"item {item.feedback_id}: {exc}")
                continue
            changes.append((item, edit.expected_version, diff))
        if conflicts:
            names = ", ".join(f"{c.feedback_id} (by {c.updated_by or 'someone'})" for c in conflicts[:10])
            raise Conflict(
                f"{len(conflicts)} item(s) were changed by someone else since you loaded them: {names}. "
                "Nothing was saved; reload to see their changes."
            )
        if problems:
            shown = "; ".join(problems[:20])
            more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
            raise InvalidInput(f"{len(problems)} item(s) cannot be changed, so nothing was saved: {shown}{more}")
        old_ids = {i.assignee_id for i, _, d in changes if "assignee_id" in d and i.assignee_id}
        names = dict(session.exec(select(User.id, User.email).where(User.id.in_(old_ids))).all()) if old_ids else {}
        names |= {v: k for k, v in assignees.items()}
        events = []
        for item, expected, diff in changes:
            if not diff:
                continue
            values = {name: new for name, (_, new) in diff.items()}
            if "corrected_label" in diff:
                values |= {"label_set_by": actor.label, "label_set_at": now}
            values |= {"version": expected + 1, "updated_at": now, "updated_by": actor.label}
            statement = sa.update(Feedback).where(Feedback.id == item.id, Feedback.version == expected).values(**values)
            # No ORM session sync: it would compare each update with every loaded item (1M checks at 1,000 items).
            result = session.execute(statement.execution_options(synchronize_session=False))
            if result.rowcount != 1:  # someone committed between our read and this write
                raise Conflict(f"Item {item.feedback_id} was changed by someone else just now. Nothing was saved.")
            events.append((item.id, {"feedback_id": item.feedback_id, "changes": _printable(diff, names)}))
        audit.record_many(session, actor, "feedback.update", "feedback", events)
    return UpdateResult(len(events), len(edits) - len(events), [pk for pk, _ in events])


def _assignee_ids(session: Session, emails: set[str]) -> dict[str, int]:
    if not emails:
        return {}
    rows = session.exec(select(User).where(User.email.in_(emails))).all()
    found = {u.email: u for u in rows}
    for email in emails:
        user = found.get(email)
        if user is None or user.disabled:
            raise InvalidInput(f"{email} is not an active Loopdeck user and cannot be assigned.")
        if Role.parse(user.role) < Role.analyst:
            raise InvalidInput(f"{email} is a viewer; only analysts and above can be assigned feedback.")
    return {email: found[email].id for email in emails}


def _diff(item: Feedback, patch: Patch, categories: set[str], assignees: dict[str, int]) -> dict[str, tuple]:
    diff: dict[str, tuple] = {}
    label = item.corrected_label
    if patch.clear_label:
        label = None
    if patch.corrected_label is not None:
        if not isinstance(patch.corrected_label, int) or isinstance(patch.corrected_label, bool):
            raise InvalidInput(f"corrected label {patch.corrected_label!r} is not a whole number")
        label = patch.corrected_label
    if label != item.corrected_label:
        if item.status == "labelled" and patch.status in (None, "labelled") and label is None:
            raise InvalidInput("a labelled item must keep a label (reopen it to clear the label)")
        diff["corrected_label"] = (item.corrected_label, label)
    status = item.status
    if patch.status is not None and patch.status != item.status:
        if patch.status not in STATUSES:
            raise InvalidInput(f"unknown status {patch.status!r}")
        if patch.status not in TRANSITIONS[item.status]:
            raise InvalidInput(f"cannot move from {item.status} to {patch.status}")
        status = patch.status
        diff["status"] = (item.status, status)
    if status == "labelled" and label is None:
        raise InvalidInput("a labelled item needs a corrected label")
    if patch.category is not None and patch.category != (item.category or ""):
        if patch.category and patch.category not in categories:
            raise InvalidInput(f"unknown category {patch.category!r} (an admin manages the list)")
        diff["category"] = (item.category, patch.category or None)
    if patch.priority is not None and patch.priority != item.priority:
        if patch.priority not in PRIORITIES:
            raise InvalidInput(f"unknown priority {patch.priority!r}")
        diff["priority"] = (item.priority, patch.priority)
    if patch.assignee is not None:
        new_id = assignees.get(patch.assignee) if patch.assignee else None
        if new_id != item.assignee_id:
            diff["assignee_id"] = (item.assignee_id, new_id)
    return diff


def _printable(diff: dict[str, tuple], emails: dict[int, str]) -> dict[str, list]:
    out = {}
    for name, (old, new) in diff.items():
        if name == "assignee_id":
            out["assignee"] = [emails.get(old, old), emails.get(new, new)]
        else:
            out[name] = [old, new]
    return out
