"""Audit log: filter the hash-chained events, page through them, verify the chain, export CSV."""

import streamlit as st

from app import auth, state
from app import format as fmt
from services.core import audit

PAGE_SIZE = 50
ALL = ""  # the "any" choice in the filter pickers

auth.actor()
engine = state.engine()
st.title("Audit log")
st.caption("Every change is recorded here, append-only and hash-chained. Times are UTC.")

choices = audit.facets(engine)
row1 = st.columns(3)
actor = row1[0].selectbox("Actor", [ALL, *choices.actors], format_func=lambda v: v or "Anyone", key="audit_actor")
action = row1[1].selectbox("Action", [ALL, *choices.actions], format_func=lambda v: v or "Any", key="audit_action")
subject_type = row1[2].selectbox(
    "Object type", [ALL, *choices.subject_types], format_func=lambda v: v or "Any", key="audit_subject_type"
)
row2 = st.columns(3)
subject_id = row2[0].text_input("Object id", key="audit_subject_id", placeholder="e.g. 42")
since = row2[1].date_input("From (UTC)", value=None, key="audit_since")
until = row2[2].date_input("To (UTC, inclusive)", value=None, key="audit_until")
selected = fmt.audit_filter(actor, action, subject_type, subject_id, since, until)

total = audit.count_events(engine, selected)
pages = fmt.page_count(total, PAGE_SIZE)
tools = st.columns([3, 1, 1], vertical_alignment="center")
tools[0].write(f"{fmt.count(total)} matching event(s), newest first.")
verify_clicked = tools[1].button("Verify chain", icon=":material/verified:", key="audit_verify")
tools[2].download_button(
    "Download CSV",
    data=lambda: audit.export_csv(engine, selected),
    file_name="loopdeck-audit.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
    key="audit_csv",
)
if verify_clicked:
    with st.spinner("Verifying the hash chain ..."):
        report = audit.verify(engine)
    (st.success if report.intact else st.error)(report.message())

# A new filter starts again at page 1 (the pager's key follows the filter).
page = st.pagination(pages, key=f"audit_page_{hash(selected)}") if pages > 1 else 1
events = audit.list_events(engine, selected, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
table = st.dataframe(
    fmt.audit_frame(events),
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key=f"audit_table_{hash(selected)}_{page}",
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
