"""The Themes view: re-cluster the feedback texts, the themes table, one theme's volume and mix, and
renaming a theme or filing it to the backlog.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from app import figures_feedback as figs
from app import widgets
from app.format import md_escape
from pages.feedback import keys
from pages.feedback.context import Page, cached_theme_volume, clear_theme_caches, set_filter
from pages.feedback.filter_state import FilterState
from services.backlog import items as backlog
from services.core.db import database_url
from services.core.errors import LoopdeckError
from services.feedback import themes


def themes_table(frame: pd.DataFrame) -> pd.DataFrame:
    """services.feedback.themes.list_themes -> the Themes table (negative share 0..1, the 14-day change)."""
    columns = ["id", "label", "top_terms", "items", "negative_share", "last_14d", "prior_14d", "change", "untriaged"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    out = frame.copy()
    prior = out["prior_14d"].astype(float)
    out["change"] = (out["last_14d"].astype(float) - prior) / prior.where(prior > 0)
    for column in ("items", "last_14d", "prior_14d", "untriaged"):
        out[column] = out[column].fillna(0).astype(int)
    out["label"] = out["label"].astype("string")
    return out[columns]


def _recluster(p: Page, n_themes: int) -> None:
    with st.status("Clustering feedback texts ...", expanded=True) as status:
        bar = st.progress(0.0)

        def progress(fraction: float, message: str) -> None:
            bar.progress(min(max(float(fraction), 0.0), 1.0), text=message)

        try:
            result = themes.run_clustering(p.engine, p.me, n_themes, progress)
        except LoopdeckError as exc:
            status.update(label="Clustering failed", state="error")
            st.error(str(exc))
            return
        clear_theme_caches()
        status.update(
            label=f"{len(result.themes)} themes over {result.assigned:,} texts in {result.seconds:.1f} s "
            f"({result.duplicate_items:,} items have near-duplicates)",
            state="complete", expanded=False,
        )  # fmt: skip


def _show_in_queue(theme_id: int) -> None:
    set_filter(replace(FilterState(), theme_ids=(theme_id,)))
    st.session_state[keys.VIEW] = "Queue"


def draw(p: Page) -> None:
    if p.can_triage:
        with st.container(border=True):
            cols = st.columns([3, 1], vertical_alignment="bottom")
            n_themes = cols[0].slider("Number of themes", 4, 15, 8, key=keys.N_THEMES)
            if cols[1].button("Re-cluster themes", icon=":material/hub:", key=keys.RECLUSTER):
                _recluster(p, n_themes)
            st.caption("TF-IDF + NMF over every feedback text; a renamed theme keeps its name when it recurs.")
    listed = themes.list_themes(p.engine)
    if listed.empty:
        st.info("No themes yet." + (" Re-cluster to find them." if p.can_triage else ""))
        return
    table = themes_table(listed)
    st.dataframe(
        table.drop(columns=["id"]), hide_index=True, width="stretch", key=keys.THEMES_TABLE,
        column_config={
            "label": st.column_config.TextColumn("theme", width="medium"),
            "top_terms": st.column_config.TextColumn("top terms", width="large"),
            "items": st.column_config.NumberColumn("items", format="%d"),
            "negative_share": st.column_config.ProgressColumn(
                "negative", help="Share of ratings 1-2", min_value=0.0, max_value=1.0, format="percent"
            ),
            "last_14d": st.column_config.NumberColumn("last 14 d", format="%d"),
            "prior_14d": st.column_config.NumberColumn("prior 14 d", format="%d"),
            "change": st.column_config.NumberColumn("change", format="percent"),
            "untriaged": st.column_config.NumberColumn("untriaged", format="%d"),
        },
    )  # fmt: skip
    st.plotly_chart(figs.negative_share_figure(table), key=keys.NEGATIVE_SHARE_CHART)
    names = dict(zip(table["id"].tolist(), table["label"].tolist(), strict=True))
    theme_id = st.selectbox("Theme", list(names), format_func=names.get, key=keys.THEME_PICK)
    if theme_id is None:
        return
    label = names[theme_id]
    left, right = st.columns(2, gap="large")
    with left:
        freq = st.segmented_control(
            "Volume by", ["W", "D"], required=True, default="W", key=keys.THEME_FREQ,
            format_func=lambda f: {"W": "week", "D": "day"}[f],
        ) or "W"  # fmt: skip
        volume = cached_theme_volume(database_url(), freq)
        st.plotly_chart(figs.theme_volume_figure(volume, label, freq), key=keys.VOLUME_CHART)
    with right:
        by = st.selectbox(
            "Mix by", ["model", *p.facets.cohort_fields], key=keys.THEME_MIX_BY,
            format_func=lambda b: "model version" if b == "model" else b,
        )  # fmt: skip
        st.plotly_chart(figs.theme_mix_figure(themes.theme_mix(p.engine, theme_id, by), by, label), key=keys.MIX_CHART)
    st.button(
        "Show this theme in the queue", icon=":material/list:", key=keys.THEME_TO_QUEUE, on_click=_show_in_queue,
        args=(theme_id,),
    )  # fmt: skip
    if p.can_triage:
        _theme_actions(p, theme_id, label)


def _theme_actions(p: Page, theme_id: int, label: str) -> None:
    cols = st.columns(2, gap="large")
    with cols[0], st.form(f"{keys.RENAME_FORM_PREFIX}{theme_id}"):
        new_name = st.text_input("New name", value=label, max_chars=200)
        if st.form_submit_button("Rename theme"):
            renamed = widgets.attempt(lambda: themes.rename_theme(p.engine, p.me, theme_id, new_name), rerun=False)
            if renamed is not None:
                clear_theme_caches()
                widgets.flash("success", f"Theme renamed to {md_escape(renamed.label)}.")
                st.rerun()
    with cols[1], st.form(f"{keys.THEME_BACKLOG_FORM_PREFIX}{theme_id}"):
        title = st.text_input("Backlog item title", value=f"Theme: {label}"[:300])
        kind = st.selectbox("Kind", backlog.KINDS)
        description = st.text_area("Description", height=80)
        if st.form_submit_button("Create backlog item", icon=":material/playlist_add:"):
            created = widgets.attempt(
                lambda: themes.create_backlog_item(
                    p.engine, p.me, title=title, theme_id=theme_id, kind=kind, description=description
                ),
                rerun=False,
            )
            if created is not None:
                st.success(f"Backlog item #{created.id} created with this theme's evidence.")
