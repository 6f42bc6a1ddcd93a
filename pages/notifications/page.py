"""Notifications (admin): channels and their events, the delivery log, replay."""

from app import auth, state
from pages.notifications import view
from services.core.roles import Role

view.render(auth.require_role(Role.admin), state.engine())
