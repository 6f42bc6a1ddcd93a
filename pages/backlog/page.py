"""Backlog: ranked improvement items (model improvement, data quality, tech debt) with their evidence and
RICE/WSJF score, the system's proposals to accept or dismiss, and items by kind over time. Drawn by the
view modules of pages/backlog/; the services check the roles (viewers read, analysts and up change)."""

from app import auth, state
from pages.backlog import screen

screen.render(auth.actor(), state.engine())
