"""Review mode: one item at a time, in queue order, with a form to label and triage it and keyboard
shortcuts to move on. The pure helpers (which status, which position, next, previous) come first.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from pages.feedback import item, keys
from pages.feedback.context import Page, act, fresh_actor
from pages.feedback.filter_state import LABELS
from services.core.errors import LoopdeckError
from services.feedback import edits
from services.feedback import triage as feedback
from services.feedback.edits import Edit, Patch


def review_status_options(current: str) -> list[str]:
    """The statuses an item may take from `current` (itself first, so "no change" is the default)."""
    return [current, *sorted(feedback.TRANSITIONS.get(current, ()), key=feedback.STATUSES.index)]


def review_default_status(current: str) -> str:
    """Review mode sets a label, so "labelled" is the usual next status when it is allowed."""
    return "labelled" if current == "labelled" or "labelled" in feedback.TRANSITIONS.get(current, ()) else current


def review_position(ids: list[int], current: int | None) -> int:
    """Index of `current` in the review list; 0 when it is not (any more) in the list."""
    try:
        return ids.index(current) if current is not None else 0
    except ValueError:
        return 0


def next_after(ids: list[int], current: int) -> int | None:
    """The item after `current` (wraps to the start); None when `current` is the only one."""
    if current not in ids:
        return ids[0] if ids else None
    if len(ids) == 1:
        return None
    return ids[(ids.index(current) + 1) % len(ids)]


def previous_before(ids: list[int], current: int) -> int | None:
    if current not in ids:
        return ids[0] if ids else None
    return ids[(ids.index(current) - 1) % len(ids)]


def _go_to(item_id: int | None) -> None:
    st.session_state[keys.REVIEW_ITEM] = item_id


def _save_review(engine: Engine, item_id: int, version: int, next_id: int | None, label: int | None = None) -> None:
    """Save the review form as one apply_edits call with the version the item had when drawn.
    `label` (the "Label 0 / 1 and next" buttons) overrides the form's label choice."""
    actor = fresh_actor(engine)
    if actor is None:
        return
    prefix = f"{keys.REVIEW_PREFIX}{item_id}_{version}"
    if label is None:
        label = st.session_state.get(f"{prefix}{keys.REVIEW_LABEL}")
    patch = Patch(
        status=st.session_state.get(f"{prefix}{keys.REVIEW_STATUS}"),
        category=st.session_state.get(f"{prefix}{keys.REVIEW_CATEGORY}") or "",
        priority=st.session_state.get(f"{prefix}{keys.REVIEW_PRIORITY}"),
        corrected_label=None if label is None else int(label),
    )
    result = act(
        lambda: edits.apply_edits(engine, actor, [Edit(item_id, version, patch)]),
        lambda r: "Saved." if r.changed else "Nothing to change.",
    )
    if not isinstance(result, LoopdeckError) and next_id is not None:
        _go_to(next_id)


def draw(p: Page) -> None:
    ids = feedback.queue_ids(p.engine, p.queue_filter, p.filter.sort)
    if not ids:
        st.info("No feedback matches this filter: nothing to review.")
        return
    position = review_position(ids, st.session_state.get(keys.REVIEW_ITEM))
    item_id = ids[position]
    st.session_state[keys.REVIEW_ITEM] = item_id
    try:
        detail = feedback.get_item(p.engine, item_id)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    nav = st.columns([1, 1, 4], vertical_alignment="center")
    nav[0].button(
        "Previous", icon=":material/arrow_back:", key=keys.REVIEW_PREV, on_click=_go_to,
        args=(previous_before(ids, item_id),), disabled=len(ids) < 2, shortcut="Left",
    )  # fmt: skip
    nav[1].button(
        "Next", icon=":material/arrow_forward:", key=keys.REVIEW_NEXT, on_click=_go_to,
        args=(next_after(ids, item_id),), disabled=len(ids) < 2, shortcut="Right",
    )  # fmt: skip
    nav[2].markdown(f"**{position + 1:,} of {len(ids):,}{'+' if len(ids) >= 5000 else ''}**")
    if p.can_triage:
        _review_form(p, detail, ids[position + 1] if position + 1 < len(ids) else None)
    else:
        st.caption("Viewers read; analysts and above triage.")
    item.draw(p, detail, similar=False)


def _review_form(p: Page, detail: feedback.ItemDetail, next_id: int | None) -> None:
    item = detail.item
    prefix = f"{keys.REVIEW_PREFIX}{item['id']}_{item['version']}"
    statuses = review_status_options(item["status"])
    categories = ["", *p.facets.categories]
    if item["category"] and item["category"] not in categories:
        categories.append(item["category"])
    predicted = detail.prediction["predicted_label"] if detail.prediction else None
    with st.form(f"{prefix}{keys.REVIEW_FORM}"):
        cols = st.columns([2, 2, 3, 2])  # the category widest: categories are the longest values
        cols[0].radio(
            "Corrected label", LABELS, horizontal=True, key=f"{prefix}{keys.REVIEW_LABEL}",
            index=LABELS.index(item["corrected_label"]) if item["corrected_label"] in LABELS else None,
            help=None if predicted is None else f"The model predicted {predicted}.",
        )  # fmt: skip
        status_index = statuses.index(review_default_status(item["status"]))
        cols[1].selectbox("Status", statuses, index=status_index, key=f"{prefix}{keys.REVIEW_STATUS}")
        cols[2].selectbox(
            "Category", categories, index=categories.index(item["category"] or ""),
            key=f"{prefix}{keys.REVIEW_CATEGORY}",
            format_func=lambda c: c or "(none)",
        )  # fmt: skip
        priority_index = feedback.PRIORITIES.index(item["priority"])
        cols[3].selectbox("Priority", feedback.PRIORITIES, index=priority_index, key=f"{prefix}{keys.REVIEW_PRIORITY}")
        version = (p.engine, item["id"], item["version"])
        buttons = st.container(horizontal=True, vertical_alignment="center")  # each as wide as its label and key
        buttons.form_submit_button(
            "Save and next", type="primary", on_click=_save_review, args=(*version, next_id), shortcut="Ctrl+Enter"
        )
        for label in LABELS:
            buttons.form_submit_button(
                f"Label {label} and next", on_click=_save_review, args=(*version, next_id, label), shortcut=str(label)
            )
        buttons.form_submit_button("Save", on_click=_save_review, args=(*version, None))
        st.caption(
            "Keyboard: 1 or 0 labels the item (with the status, category and priority above) and opens the next; "
            "Ctrl+Enter saves the form as set and opens the next; ← and → move without saving. The keys work "
            "while the cursor is not in a field (click the page background, or Tab past the fields)."
        )
