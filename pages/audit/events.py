"""The events of the Audit log screen: the count, the chain check, the CSV export, one page of events and
the full payload of the selected one."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from pages.audit import keys
from services.core import audit
from services.core.errors import InvalidInput

PAGE_SIZE = 50


def render(engine: Engine, selected: audit.AuditFilter) -> None:
    try:
        total = audit.count_events(engine, selected)
    except InvalidInput as exc:  # e.g. a control character in the object id
        st.warning(str(exc), icon=":material/warning:")
        return
    pages = fmt.page_count(total, PAGE_SIZE)
    tools = st.columns([3, 1, 1], vertical_alignment="center")
    tools[0].write(f"{fmt.count(total)} matching event(s), newest first.")
    verify_clicked = tools[1].button("Verify chain", icon=":material/verified:", key=keys.VERIFY)
    tools[2].download_button(
        "Download CSV",
        data=lambda: audit.export_csv(engine, selected),
        file_name="loopdeck-audit.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
        key=keys.CSV,
    )
    if verify_clicked:
        with st.spinner("Verifying the hash chain ..."):
            report = audit.verify(engine)
        (st.success if report.intact else st.error)(report.message())

    # A new filter starts again at page 1 (the pager's key follows the filter).
    page = st.pagination(pages, key=f"{keys.PAGE}{hash(selected)}") if pages > 1 else 1
    events = audit.list_events(engine, selected, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    table = st.dataframe(
        fmt.audit_frame(events),
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"{keys.TABLE}{hash(selected)}_{page}",
        column_config={
            "id": st.column_config.NumberColumn("id", width="small", format="%d"),
            "payload": st.column_config.TextColumn("payload", width="large"),
            "hash": st.column_config.TextColumn("hash", help="First 12 hex digits of the event's SHA-256."),
        },
    )
    rows = table.selection.rows if table is not None else []
    if rows and rows[0] < len(events):
        event = events.iloc[rows[0]]
        st.subheader(f"Event {event['id']}")
        st.code(event["payload"], language="json", wrap_lines=True)
        st.text(f"hash      {event['hash']}")
    else:
        st.caption("Select a row to see its full payload.")
