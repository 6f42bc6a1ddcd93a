"""Experiments: design A/B tests, pre-register them, read them without fooling yourself (drawn by
app/experiments_ui). Every action is one service call; the services check the role and write the
audit events; stopping goes through an approval request."""

from app import auth, experiments_ui, state

experiments_ui.render(auth.actor(), state.engine())
