"""Schedules: when the loop runs itself (alerts, guard rails, monitoring refresh, weekly report,
scheduled retrain requests), and the worker's recent jobs."""

from app import auth, state
from pages.schedules import view

view.render(auth.actor(), state.engine())
