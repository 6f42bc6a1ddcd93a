"""The Performance tab's raw-row section: metrics of the current window filtered on several cohort fields at once
(every field at once, any values of each), and those rows as a file, answered by DuckDB from the raw store
(services/monitoring/raw_query.py). The day summaries hold one cohort field at a time; this reads rows, so it
runs when asked, not on every redraw. Viewers query; analysts and up download (audited)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from pages.monitoring import keys
from pages.monitoring.header import Selection
from services.core.config import ConfigError
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.monitoring import raw_query

FORMAT_LABELS = {"parquet": "Parquet", "csv": "CSV"}


def draw(engine: Engine, actor: Actor, sel: Selection) -> None:
    with st.expander("Several cohort fields at once (from raw rows)", icon=":material/table_rows:"):
        st.caption(f"Metrics of the current window ({sel.current.label}) for the rows whose cohort fields hold the "
                   "values you pick, every field at once. Read from the raw rows (Parquet by day) when you ask; "
                   "exact.")  # fmt: skip
        filters = _filters(sel)
        asked = (
            sel.info.id,
            sel.current.start,
            sel.current.end,
            tuple(sorted((k, tuple(v)) for k, v in filters.items())),
        )
        if st.button("Compute from raw rows", key=keys.RAW_RUN, icon=":material/play_arrow:"):
            st.session_state[keys.RAW_RESULT] = (asked, _query(engine, actor, sel, filters))
        held = st.session_state.get(keys.RAW_RESULT)
        if held is None or held[0] != asked:
            return  # nothing asked yet for these filters and this window
        result = held[1]
        if isinstance(result, str):
            st.error(result)
            return
        _show(result)
        if actor.can(Role.analyst):
            _download(engine, actor, sel, filters, result)


def _filters(sel: Selection) -> dict[str, list[str]]:
    fields = sel.fields[: raw_query.MAX_FILTER_FIELDS]
    if not fields:
        st.info("This version has no cohort field: every row is one cohort.")
        return {}
    chosen: dict[str, list[str]] = {}
    cols = st.columns(min(3, len(fields)))
    for i, field in enumerate(fields):
        values = cols[i % len(cols)].multiselect(
            field, sel.field_values.get(field, [])[: raw_query.MAX_FILTER_VALUES], placeholder="any value",
            key=f"{keys.RAW_FILTER_PREFIX}{sel.info.id}_{field}",
        )  # fmt: skip
        if values:
            chosen[field] = list(values)
    return chosen


def _query(engine: Engine, actor: Actor, sel: Selection, filters: dict[str, list[str]]):
    """The window's metrics, or the message to show instead (bad filters, no raw store)."""
    try:
        return raw_query.window_metrics(actor, sel.info.model_name, sel.info.version, sel.current.start,
                                        sel.current.end, filters, engine=engine)  # fmt: skip
    except (LoopdeckError, ConfigError) as exc:
        return str(exc)


def _show(m: raw_query.WindowMetrics) -> None:
    if m.rows == 0:
        st.info("No raw row matches these values in this window.")
        return
    c = st.columns(4)
    c[0].metric("Rows", f"{m.rows:,}")
    c[1].metric("With outcomes", f"{m.labelled:,}")
    c[2].metric("Accuracy", _pct(m.accuracy))
    c[3].metric("ROC AUC", "–" if m.roc_auc is None else f"{m.roc_auc:.3f}")
    names = ("precision", "recall", "f1", "mean_score", "positives", "predicted_positive", "tp", "fp", "tn", "fn")
    labels = ("Precision", "Recall", "F1", "Mean score", "Positive outcomes", "Predicted positive",
              "True positives", "False positives", "True negatives", "False negatives")  # fmt: skip
    values = [getattr(m, n) for n in names]
    shown = [("–" if v is None else f"{v:.4f}" if isinstance(v, float) else f"{v:,}") for v in values]
    st.dataframe(pd.DataFrame({"Metric": labels, "Value": shown}), hide_index=True, key=keys.RAW_TABLE)
    if m.labelled == 0:
        st.caption("No outcome has arrived for these rows yet: the ratios are empty.")


def _download(engine: Engine, actor: Actor, sel: Selection, filters: dict[str, list[str]],
              m: raw_query.WindowMetrics) -> None:  # fmt: skip
    if m.rows > raw_query.EXPORT_MAX_ROWS:
        st.caption(f"{m.rows:,} rows: over the export cap of {raw_query.EXPORT_MAX_ROWS:,}. Pick fewer days or more "
                   "cohort values to download them.")  # fmt: skip
        return
    cols = st.columns([1, 3])
    fmt = cols[0].selectbox("Format", list(FORMAT_LABELS), format_func=FORMAT_LABELS.get, key=keys.RAW_FORMAT)
    name = f"{sel.info.model_name}-v{sel.info.version}-{sel.current.start}-{sel.current.end}.{fmt}"

    def rows_file() -> bytes:  # computed when clicked (audited then), not on every redraw
        return raw_query.export_window(engine, actor, sel.info.model_name, sel.info.version, sel.current.start,
                                       sel.current.end, filters, fmt=fmt).data  # fmt: skip

    cols[1].download_button(
        f"Download these {m.rows:,} rows", rows_file, file_name=name, on_click="ignore", key=keys.RAW_DOWNLOAD,
        mime="text/csv" if fmt == "csv" else "application/vnd.apache.parquet", icon=":material/download:",
        help="Raw rows leave Loopdeck: the download is recorded in the audit log.",
    )  # fmt: skip


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"
