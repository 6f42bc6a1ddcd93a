"""My account: who I am, change my own password, sign out (drawn by pages/account/view.py)."""

from app import auth, state
from pages.account import view

view.render(auth.actor(), state.engine())
