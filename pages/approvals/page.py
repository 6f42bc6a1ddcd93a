"""Approvals: the inbox of requests awaiting me, every request with its evidence and decisions, executing
an approved change after a confirmation that shows exactly what will happen, and (admin) how many
approvals each kind needs. Drawn by app/models_ui; the services enforce four-eyes and the roles."""

from app import auth, models_ui, state

models_ui.render_approvals(auth.actor(), state.engine())
