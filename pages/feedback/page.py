"""Feedback: the triage queue, single-item review, themes and training sets (drawn by app/feedback_ui).

The filter lives in the URL, so a link opens the same view. Every action is one service call; the
services check the role and the optimistic versions and write the audit events. Feedback text is
user input and is only ever shown as plain text.
"""

from app import auth, feedback_ui, state

feedback_ui.render(auth.actor(), state.engine())
