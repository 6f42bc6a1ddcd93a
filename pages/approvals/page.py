"""Approvals: the inbox of requests awaiting me, every request with its evidence and decisions, executing
an approved change after a confirmation that shows exactly what will happen, and (admin) how many
approvals each kind needs. Drawn by the view modules of pages/approvals/; the services enforce four-eyes
and the roles."""

from app import auth, state
from pages.approvals import screen

screen.render(auth.actor(), state.engine())
