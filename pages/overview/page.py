"""Overview: the health of the loop at a glance. Every tile links to the page that has the detail.
Reads one service function per tile (services/overview); the weekly report downloads from here."""

import streamlit as st

from app import auth, state
from pages.overview import screen

screen.render(auth.actor(), state.engine())
st.caption("Times are UTC.")
