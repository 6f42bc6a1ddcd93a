"""The bulk bar under the queue: set status, category, assignee, priority or label on the ticked rows,
or make a backlog item from them. After a successful Apply the ticks (a new editor generation) and the
"Set ..." choices are cleared, so a second click changes nothing.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from app.format import md_escape
from pages.feedback import keys
from pages.feedback.context import Page, act, fresh_actor
from pages.feedback.editor import after, editor_state, snapshot_rows
from pages.feedback.editor_rows import CLEAR, EDITABLE, NO_CHANGE, NONE, bulk_patch, pending_cell_edits, selected
from pages.feedback.filter_state import LABELS, ME
from services.backlog import items as backlog
from services.core.errors import LoopdeckError
from services.feedback import edits, themes
from services.feedback import triage as feedback


def bulk_key(column: str) -> str:
    """The session-state key of the bulk bar's choice for an editable column."""
    return keys.BULK_PREFIX + column


def _bulk_apply(engine: Engine, key: str) -> None:
    actor = fresh_actor(engine)
    edited = editor_state(key).get("edited_rows", {})
    chosen = selected(edited, snapshot_rows(key))
    if actor is None or not chosen:
        widgets.flash("warning", "Tick the rows to change in the first column.")
        return
    if pending_cell_edits(edited):
        widgets.flash("warning", "Save or discard your cell edits first.")
        return
    values = {name: st.session_state.get(bulk_key(name), NO_CHANGE) for name in EDITABLE}
    patch = bulk_patch(
        values["status"], values["category"], values["assignee"], values["priority"], values["corrected_label"],
        me=actor.label,
    )  # fmt: skip
    if patch.is_empty():
        widgets.flash("info", "Choose what to set first.")
        return

    def message(result: edits.UpdateResult) -> str:
        same = f" ({result.unchanged} already had these values)" if result.unchanged else ""
        return f"Updated {result.changed} of {len(chosen)} selected item(s){same}."

    result = act(lambda: edits.update_items(engine, actor, chosen, patch), message)
    after(result)
    if not isinstance(result, LoopdeckError):
        reset_bar()


def reset_bar() -> None:
    """Every "Set ..." choice back to "(no change)" (from a callback, before the widgets are drawn): after
    an Apply the bar starts empty, so clicking Apply again, or on other rows, cannot repeat the change."""
    for name in EDITABLE:
        st.session_state[bulk_key(name)] = NO_CHANGE


def _backlog_from_selection(engine: Engine, key: str) -> None:
    actor = fresh_actor(engine)
    chosen = selected(editor_state(key).get("edited_rows", {}), snapshot_rows(key))
    if actor is None or not chosen:
        widgets.flash("warning", "Tick the rows the backlog item is about in the first column.")
        return
    title = st.session_state.get(keys.SEL_BACKLOG_TITLE, "")
    kind = st.session_state.get(keys.SEL_BACKLOG_KIND, backlog.KINDS[0])
    act(
        lambda: themes.create_backlog_item(engine, actor, title=title, feedback_pks=sorted(chosen), kind=kind),
        lambda item: f"Backlog item #{item.id} created from {len(chosen)} feedback item(s): {md_escape(item.title)}",
    )


def draw(p: Page, key: str, n_selected: int) -> None:
    with st.container(border=True):
        st.markdown(f"**Bulk: {n_selected} selected row(s)**")
        # Two rows, wide where values are long (categories, e-mails): no choice is cut off at 1440 px.
        bar = st.columns([1, 2, 2], vertical_alignment="bottom")
        bar[0].selectbox("Set status", [NO_CHANGE, *feedback.STATUSES], key=bulk_key("status"))
        bar[1].selectbox("Set category", [NO_CHANGE, NONE, *p.facets.categories], key=bulk_key("category"))
        bar[2].selectbox(
            "Set assignee", [NO_CHANGE, ME, feedback.UNASSIGNED, *p.facets.assignees], key=bulk_key("assignee"),
            format_func=lambda a: "me" if a == ME else a, help=f"me: {md_escape(p.me.label)}",
        )  # fmt: skip
        bar = st.columns([1, 1, 3], vertical_alignment="bottom")
        bar[0].selectbox("Set priority", [NO_CHANGE, *feedback.PRIORITIES], key=bulk_key("priority"))
        bar[1].selectbox("Set label", [NO_CHANGE, *LABELS, CLEAR], key=bulk_key("corrected_label"))
        bar[2].button(
            "Apply to selected", key=keys.BULK_APPLY, disabled=not n_selected, on_click=_bulk_apply,
            args=(p.engine, key), icon=":material/done_all:", help="One transaction, one audit event per item.",
        )  # fmt: skip
        with st.expander("Create a backlog item from the selected rows", icon=":material/playlist_add:"):
            cols = st.columns([4, 2, 1], vertical_alignment="bottom")
            cols[0].text_input("Title", key=keys.SEL_BACKLOG_TITLE, placeholder="What should be improved?")
            cols[1].selectbox("Kind", backlog.KINDS, key=keys.SEL_BACKLOG_KIND)
            cols[2].button(
                "Create", key=keys.SEL_BACKLOG_CREATE, disabled=not n_selected, on_click=_backlog_from_selection,
                args=(p.engine, key),
            )  # fmt: skip
