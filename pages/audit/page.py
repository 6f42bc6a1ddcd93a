"""Audit log: filter the hash-chained events, page through them, verify the chain, export CSV (drawn by
the view modules of pages/audit/)."""

import streamlit as st

from app import auth, state
from pages.audit import events, filters

auth.actor()
engine = state.engine()
st.title("Audit log")
st.caption("Every change is recorded here, append-only and hash-chained. Times are UTC.")
events.render(engine, filters.render(engine))
