"""Experiments: design A/B tests, pre-register them, read them without fooling yourself (drawn by the view
modules of pages/experiments/). Every action is one service call; the services check the role and write
the audit events; stopping goes through an approval request."""

from app import auth, state
from pages.experiments import screen

screen.render(auth.actor(), state.engine())
