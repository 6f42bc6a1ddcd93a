"""Backlog: ranked improvement items (model improvement, data quality, tech debt) with their evidence and
RICE/WSJF score, the system's proposals to accept or dismiss, and items by kind over time.
Drawn by app/backlog_ui; the services check the roles (viewers read, analysts and up change)."""

from app import auth, backlog_ui, state

backlog_ui.render_backlog(auth.actor(), state.engine())
