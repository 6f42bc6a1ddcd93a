"""One feedback item beside its prediction (opened from the queue, or under review), and the items
similar to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from app import format as fmt
from pages.feedback.context import Page
from services.feedback import triage as feedback
from services.feedback.triage import QueueFilter


def item_title(row: Mapping[str, Any], width: int = 70) -> str:
    """A one-line name for an item in a picker (plain text: options are never markdown)."""
    text = " ".join(str(row.get("text") or "").split())
    if len(text) > width:
        text = text[: width - 1] + "…"
    return f"{row.get('feedback_id')} · {row.get('status')} · {text}"


def features_table(features: Mapping[str, Any] | None) -> pd.DataFrame:
    """A prediction's features as two text columns (mixed types stay readable)."""
    items = sorted((features or {}).items())
    return pd.DataFrame({"feature": [k for k, _ in items], "value": [str(v) for _, v in items]}, dtype="string")


def draw(p: Page, detail: feedback.ItemDetail, similar: bool = True) -> None:
    item = detail.item
    text_config = {"field": st.column_config.TextColumn(), "value": st.column_config.TextColumn()}
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Feedback")
        st.text(
            f"{item['feedback_id']}   ·   {item['status']}   ·   rating {item['rating'] or '—'}   ·   "
            f"{item['source'] or '—'}   ·   {fmt.when(item['ts'])}"
        )
        st.text(item["text"] or "(no text)")
        facts = {
            "category": item["category"] or "—", "priority": item["priority"], "assignee": detail.assignee or "—",
            "corrected label": "—" if item["corrected_label"] is None else str(item["corrected_label"]),
            "label set by": item["label_set_by"] or "—", "theme": detail.theme or "—",
            "near-duplicates": str(detail.duplicates), "version": str(item["version"]),
            "last change": f"{fmt.when(item['updated_at'])} by {item['updated_by'] or '—'}",
        }  # fmt: skip
        st.dataframe(
            {"field": list(facts), "value": list(facts.values())}, hide_index=True, width="stretch",
            column_config=text_config,
        )  # fmt: skip
    with right:
        st.subheader("Prediction")
        prediction = detail.prediction
        if prediction is None:
            st.info("This feedback is not linked to a prediction.")
        else:
            cols = st.columns(3)
            cols[0].metric("Score", f"{prediction['score']:.3f}")
            cols[1].metric("Predicted label", prediction["predicted_label"])
            actual = detail.outcome["actual_label"] if detail.outcome else None
            cols[2].metric("Outcome", "not yet" if actual is None else actual)
            st.text(f"{prediction['model']}  ·  request {prediction['request_id']}  ·  {fmt.when(prediction['ts'])}")
            cohorts = "   ·   ".join(f"{k}: {v}" for k, v in sorted(prediction["cohorts"].items()))
            st.text(f"cohorts   {cohorts or '—'}")
            st.dataframe(
                features_table(prediction["features"]), hide_index=True, width="stretch",
                column_config={"feature": st.column_config.TextColumn(), "value": st.column_config.TextColumn()},
            )  # fmt: skip
    if similar:
        _similar(p, item, detail.duplicates)


def _similar(p: Page, item: Mapping[str, Any], n_duplicates: int) -> None:
    dupes = feedback.duplicates(p.engine, item["id"], limit=10)
    same_theme = None
    if item["theme_id"] is not None:
        rows = feedback.list_queue(p.engine, QueueFilter(theme_ids=(item["theme_id"],)), limit=11).rows
        same_theme = rows[rows["id"] != item["id"]].head(10)
    st.subheader("Similar items")
    config = {
        "feedback_id": st.column_config.TextColumn("id"), "text": st.column_config.TextColumn("text", width="large"),
        "status": st.column_config.TextColumn(),
    }  # fmt: skip
    if dupes.empty and (same_theme is None or same_theme.empty):
        st.caption("No near-duplicates, and no theme yet (re-cluster on the Themes view).")
    if not dupes.empty:
        st.caption(
            f"{n_duplicates} near-duplicate(s): the same text up to a typo, a changed word or the word order "
            "(character 3-gram TF-IDF cosine ≥ 0.9)"
        )
        st.dataframe(
            dupes[["feedback_id", "status", "rating", "text"]], hide_index=True, width="stretch", column_config=config
        )
    if same_theme is not None and not same_theme.empty:
        st.caption("The newest items of the same theme")
        st.dataframe(
            same_theme[["feedback_id", "status", "rating", "text"]], hide_index=True, width="stretch",
            column_config=config,
        )  # fmt: skip
