"""The Queue view: counts and export, the paged data editor (edit cells, tick rows for the bulk bar),
and one item opened beside its prediction.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import widgets
from pages.feedback import bulk_bar, item, keys
from pages.feedback.context import Page, act, fresh_actor
from pages.feedback.editor import after, editor_state, reload_editor, snapshot_rows
from pages.feedback.editor_rows import (
    EDITABLE,
    SELECT,
    SLA_FLAG,
    edits_from_editor,
    pending_cell_edits,
    queue_table,
    selected,
)
from pages.feedback.filter_state import LABELS
from services.core.errors import LoopdeckError
from services.feedback import edits as feedback_edits
from services.feedback import triage as feedback

PAGE_SIZE = 100
# The text is what triage reads: the widest column, wrapped over three lines (Streamlit wraps cell text
# only when rows are taller than 4rem = 64 px). The other columns get a fixed width so none grows
# past it; the grid is tall enough for eight rows at 1440x900.
TEXT_WIDTH = 460
ROW_HEIGHT = 68
HEADER_HEIGHT = 35  # the grid's header row (not changed by row_height)
TABLE_HEIGHT = HEADER_HEIGHT + 8 * ROW_HEIGHT + 2


def _save_edits(engine: Engine, key: str) -> None:
    actor = fresh_actor(engine)
    edits = edits_from_editor(editor_state(key).get("edited_rows", {}), snapshot_rows(key))
    if actor is None or not edits:
        widgets.flash("info", "No changes to save.")
        return
    after(act(lambda: feedback_edits.apply_edits(engine, actor, edits), lambda r: f"Saved {r.changed} item(s)."))


def draw(p: Page) -> None:
    counts = feedback.queue_counts(p.engine, p.queue_filter)
    pages = fmt.page_count(counts.total, PAGE_SIZE)
    metrics = st.columns(4, vertical_alignment="center")
    metrics[0].metric("Matching", fmt.count(counts.total))
    metrics[1].metric(f"Overdue (SLA {counts.sla_days} days)", fmt.count(counts.overdue))
    metrics[2].metric("Untriaged", fmt.count(counts.untriaged))
    metrics[3].download_button(
        "Export CSV", data=lambda: feedback.export_csv(p.engine, p.queue_filter, p.filter.sort),
        file_name="loopdeck-feedback.csv", mime="text/csv", icon=":material/download:", on_click="ignore",
        key=keys.EXPORT, help="Every matching item (not only this page), with its prediction and outcome.",
    )  # fmt: skip

    page_number = st.pagination(pages, key=f"{keys.PAGE_PREFIX}{hash(p.filter)}") if pages > 1 else 1
    key = f"{keys.EDITOR_PREFIX}{hash(p.filter)}_{page_number}_{st.session_state.get(keys.GENERATION, 0)}"
    stored = st.session_state.get(keys.SNAPSHOT) or {}
    if editor_state(key).get("edited_rows") and stored.get("key") == key:
        rows = stored["rows"]  # the rows (and versions) the pending edits were made on
    else:
        offset = (page_number - 1) * PAGE_SIZE
        rows = feedback.queue_rows(p.engine, p.queue_filter, p.filter.sort, limit=PAGE_SIZE, offset=offset)
        st.session_state[keys.SNAPSHOT] = {"key": key, "rows": rows}
    table = queue_table(rows)
    if pages > 1:
        first = (page_number - 1) * PAGE_SIZE
        st.caption(f"Rows {first + 1:,}-{first + len(table):,} of {counts.total:,}.")
    _table(p, table, key, counts.sla_days)
    if table.empty:
        st.info("No feedback matches this filter.")
        return
    by_id = {int(r["id"]): r for r in rows[["id", "feedback_id", "status", "text"]].to_dict("records")}
    opened = st.selectbox(
        "Open an item", list(by_id), index=None, key=f"{keys.OPEN_PREFIX}{key}",
        placeholder="Choose an item of this page", format_func=lambda pk: item.item_title(by_id[pk]),
    )  # fmt: skip
    if opened is not None:
        try:
            detail = feedback.get_item(p.engine, opened)
        except LoopdeckError as exc:
            st.error(str(exc))
        else:
            with st.container(border=True):
                item.draw(p, detail)


def _table(p: Page, table: pd.DataFrame, key: str, sla_days: int) -> None:
    text = st.column_config.TextColumn
    config: dict[str, Any] = {
        SELECT: st.column_config.CheckboxColumn("✓", help="Select rows for the bulk actions below", width=40),
        "sla": text("SLA", help=f"{SLA_FLAG} new and older than the SLA ({sla_days} days)", width=45),
        "feedback_id": text("id", width=110),
        "text": text("text", width=TEXT_WIDTH, help="The feedback as written (PII redacted). Click a cell to read "
                     "all of a long one, or open the item below."),
        "age_days": st.column_config.NumberColumn("age (days)", format="%.1f", width="small"),
        "source": text("source", width="small"), "theme": text("theme", width="medium"),
        "model": text("model", width="small"),
        "score": st.column_config.NumberColumn("score", format="%.2f", width="small"),
        "rating": st.column_config.NumberColumn("rating", format="%d", width="small"),
        "predicted_label": st.column_config.NumberColumn("predicted", format="%d", width="small"),
        "actual_label": st.column_config.NumberColumn("outcome", format="%d", width="small"),
    }  # fmt: skip
    config |= {c: text(c.removeprefix("cohort_"), width="small") for c in table.columns if c.startswith("cohort_")}
    if not p.can_triage:
        config |= {c: text(c, width=w) for c, w in (("status", 100), ("category", "medium"), ("assignee", "medium"),
                                                    ("priority", 80))}  # fmt: skip
        config["corrected_label"] = st.column_config.NumberColumn("label", format="%d", width="small")
        st.dataframe(
            table.drop(columns=[SELECT]), hide_index=True, width="stretch", height=TABLE_HEIGHT, key=key,
            column_config=config, placeholder="—", row_height=ROW_HEIGHT,
        )  # fmt: skip
        return
    assignees = sorted(set(p.facets.assignees) | set(table["assignee"].dropna()))
    categories = list(p.facets.categories) + sorted(set(table["category"].dropna()) - set(p.facets.categories))
    config |= {
        "status": st.column_config.SelectboxColumn("status", options=feedback.STATUSES, required=True, width=100),
        "category": st.column_config.SelectboxColumn("category", options=categories, width="medium"),
        "assignee": st.column_config.SelectboxColumn("assignee", options=assignees, width="medium"),
        "priority": st.column_config.SelectboxColumn("priority", options=feedback.PRIORITIES, required=True, width=80),
        "corrected_label": st.column_config.SelectboxColumn("label", options=LABELS, width="small"),
    }
    st.data_editor(
        table, hide_index=True, width="stretch", height=TABLE_HEIGHT, key=key, column_config=config, num_rows="fixed",
        disabled=[c for c in table.columns if c not in (SELECT, *EDITABLE)], placeholder="—", row_height=ROW_HEIGHT,
    )  # fmt: skip
    edited = editor_state(key).get("edited_rows", {})
    st.session_state[keys.SELECTED] = sorted(selected(edited, snapshot_rows(key)))
    n_edits, n_selected = pending_cell_edits(edited), len(st.session_state[keys.SELECTED])
    buttons = st.container(horizontal=True, vertical_alignment="center")  # buttons as wide as their labels
    buttons.button(
        f"Save edits ({n_edits})" if n_edits else "Save edits", type="primary", key=keys.SAVE_EDITS,
        icon=":material/save:", disabled=not n_edits, on_click=_save_edits, args=(p.engine, key),
        help="Saves the changed cells in one transaction, checking that nobody changed those rows meanwhile.",
    )  # fmt: skip
    buttons.button("Discard edits", key=keys.DISCARD, disabled=not edited, on_click=reload_editor)
    buttons.caption(
        "Edit status, category, assignee, priority or label in the table and save, or tick rows and use the bulk "
        "bar. A row someone else changed meanwhile is refused, never overwritten."
    )
    bulk_bar.draw(p, key, n_selected)
