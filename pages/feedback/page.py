"""Feedback: the triage queue, single-item review, themes and training sets (drawn by the view modules of
pages/feedback/, starting at screen.py).

The filter lives in the URL, so a link opens the same view. Every action is one service call; the
services check the role and the optimistic versions and write the audit events. Feedback text is
user input and is only ever shown as plain text.
"""

from app import auth, state
from pages.feedback import screen

screen.render(auth.actor(), state.engine())
