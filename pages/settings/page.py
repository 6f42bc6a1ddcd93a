"""Settings: every admin setting in one place (feedback SLA and categories, approvals per kind and request
expiry, the judge's gates, alert defaults) and the server's paths. Each save is one service call that
checks the role and audits the change (drawn by pages/settings/screen.py)."""

from app import auth, state
from pages.settings import screen
from services.core.roles import Role

screen.render(auth.require_role(Role.admin), state.engine())
