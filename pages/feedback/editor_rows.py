"""The queue's data editor, pure (tested without a browser): list_queue rows -> the table it shows, what
each row was when drawn, and its edited_rows -> triage edits; the bulk bar's choices -> one Patch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pages.feedback.filter_state import ME
from services.feedback import triage as feedback
from services.feedback.edits import Edit, Patch

EDITABLE = ("status", "category", "assignee", "priority", "corrected_label")
SELECT = "select"
SLA_FLAG = "⚠️"
NO_CHANGE = "(no change)"
NONE = "(none)"
CLEAR = "(clear)"


def queue_table(rows: pd.DataFrame) -> pd.DataFrame:
    """list_queue rows -> the table the page shows: a selection column, an SLA flag, the id and the
    feedback text (text first: it is what triage reads), the editable columns, then the context
    (rating, age, source, theme, prediction, cohorts). Index 0..n-1 matches the editor's rows.
    Every column has an explicit dtype, so an empty page still has checkbox and text columns."""
    rows = rows.reset_index(drop=True)

    def column(name: str, dtype: str) -> pd.Series:
        values = rows[name] if name in rows else pd.Series([None] * len(rows))
        return pd.Series(values.to_numpy(), dtype=dtype) if dtype != "object" else values.astype(object)

    model = [
        f"{m} v{int(v)}" if isinstance(m, str) and not _missing(v) else ""
        for m, v in zip(column("model_name", "object"), column("model_version", "object"), strict=True)
    ]
    table = pd.DataFrame(
        {
            SELECT: pd.Series([False] * len(rows), dtype=bool),
            "sla": pd.Series(
                [SLA_FLAG if not _missing(o) and bool(o) else "" for o in column("overdue", "object")], dtype="string"
            ),
            "feedback_id": column("feedback_id", "string"),
            "text": column("text", "string"),
            "status": column("status", "object"),
            "category": column("category", "object"),
            "assignee": column("assignee", "object"),
            "priority": column("priority", "object"),
            "corrected_label": column("corrected_label", "Int64"),
            "rating": column("rating", "Int64"),
            "age_days": column("age_days", "float64"),
            "source": column("source", "string"),
            "theme": column("theme", "string"),
            "model": pd.Series(model, dtype="string"),
            "score": column("score", "float64"),
            "predicted_label": column("predicted_label", "Int64"),
            "actual_label": column("actual_label", "Int64"),
        }
    )
    for name in sorted(c for c in rows.columns if c.startswith("cohort_")):
        table[name] = column(name, "string")
    return table


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def snapshot(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """What each editor row was when drawn: the id, the version (for the optimistic check) and the
    editable values (so an edit that was changed back is no edit)."""
    out = []
    for record in rows[["id", "version", "feedback_id", *EDITABLE]].to_dict("records"):
        out.append({k: (None if _missing(v) else v) for k, v in record.items()})
    return out


def _row(edited_rows: Mapping[Any, Mapping[str, Any]], snap: list[dict[str, Any]]):
    for index, changes in edited_rows.items():
        position = int(index)
        if 0 <= position < len(snap):
            yield snap[position], changes


def selected(edited_rows: Mapping[Any, Mapping[str, Any]], snap: list[dict[str, Any]]) -> dict[int, int]:
    """{feedback pk: version} of the rows ticked in the selection column."""
    return {int(row["id"]): int(row["version"]) for row, changes in _row(edited_rows, snap) if changes.get(SELECT)}


def _label(value: Any) -> int | None:
    if _missing(value) or value == "":
        return None
    return int(float(value))


def edits_from_editor(edited_rows: Mapping[Any, Mapping[str, Any]], snap: list[dict[str, Any]]) -> list[Edit]:
    """The data editor's edited_rows -> one Edit per changed row, with the version the row had when
    drawn. Cleared cells: category and assignee are removed, the label is cleared; a cleared status
    or priority is no change (they cannot be empty). The selection column is not an edit."""
    edits = []
    for row, changes in _row(edited_rows, snap):
        patch: dict[str, Any] = {}
        for column in EDITABLE:
            if column not in changes:
                continue
            new, old = changes[column], row.get(column)
            if column == "corrected_label":
                label = _label(new)
                if label != _label(old) and label is None:
                    patch["clear_label"] = True
                elif label != _label(old):
                    patch["corrected_label"] = label
            elif column in ("status", "priority"):
                if not _missing(new) and new != "" and new != old:
                    patch[column] = new
            else:  # category, assignee: "" clears
                value = "" if _missing(new) else str(new)
                if value != (old or ""):
                    patch[column] = value
        if patch:
            edits.append(Edit(int(row["id"]), int(row["version"]), Patch(**patch)))
    return edits


def pending_cell_edits(edited_rows: Mapping[Any, Mapping[str, Any]]) -> int:
    """Rows with a change in an editable column (ticking the selection box does not count)."""
    return sum(1 for changes in edited_rows.values() if set(changes) & set(EDITABLE))


def bulk_patch(
    status: str = NO_CHANGE, category: str = NO_CHANGE, assignee: str = NO_CHANGE, priority: str = NO_CHANGE,
    label: Any = NO_CHANGE, me: str = "",
) -> Patch:  # fmt: skip
    """The bulk bar's choices -> one Patch. assignee ME is the signed-in user, UNASSIGNED unassigns;
    category NONE removes the category; label CLEAR removes the corrected label."""
    values: dict[str, Any] = {}
    if status != NO_CHANGE:
        values["status"] = status
    if category != NO_CHANGE:
        values["category"] = "" if category == NONE else category
    if assignee != NO_CHANGE:
        values["assignee"] = me if assignee == ME else "" if assignee == feedback.UNASSIGNED else assignee
    if priority != NO_CHANGE:
        values["priority"] = priority
    if label == CLEAR:
        values["clear_label"] = True
    elif label != NO_CHANGE:
        values["corrected_label"] = int(label)
    return Patch(**values)
