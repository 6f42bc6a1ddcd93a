"""Data: import predictions, outcomes, feedback, exposures and metric observations (analyst+); drawn by the
view modules of pages/data/."""

from app import auth, state
from pages.data import screen
from services.core.roles import Role

screen.render(auth.require_role(Role.analyst), state.engine())
