"""Admin: accounts. Every action is one service call; the service checks the role and audits it (drawn by
the view modules of pages/admin/)."""

from app import auth, state
from pages.admin import screen
from services.core.roles import Role

screen.render(auth.require_role(Role.admin), state.engine())
