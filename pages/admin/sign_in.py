"""The "Sign-in" part of the Admin screen: accounts that wait after failed sign-ins (with Unlock) and the
browser session limits (idle timeout, absolute lifetime). Each action is one service call; the service
checks the role and audits it. Reset a password in the "Change an account" tab."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import widgets
from pages.admin import keys
from services.core import sessions, settings, users
from services.core import signin_throttle as throttle
from services.core.roles import Actor


def render(me: Actor, engine: Engine, accounts: list) -> None:
    st.subheader("Sign-in")
    st.caption(
        f"After {throttle.FREE_FAILURES} failed sign-ins in a row an account waits before the next attempt: "
        f"1 s, then twice as long each time, at most {int(throttle.MAX_DELAY.total_seconds() // 60)} minutes. "
        "Every refusal reads the same, whether the account exists, is disabled or waits."
    )
    waiting = [u for u in accounts if u.locked_until is not None]
    if not waiting:
        st.info("No account waits after failed sign-ins.")
    else:
        frame = pd.DataFrame(
            {"email": [u.email for u in waiting], "waits until": [fmt.when(u.locked_until) for u in waiting]}
        )
        st.dataframe(frame, hide_index=True, key=keys.WAITS)
        by_id = {u.id: u for u in waiting}
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        picked = left.selectbox(
            "Waiting account", list(by_id), format_func=lambda i: by_id[i].email, key=keys.WAIT_PICK
        )
        if right.button("Unlock", key=keys.WAIT_UNLOCK, icon=":material/lock_open:") and picked in by_id:
            widgets.attempt(lambda: users.unlock(engine, me, picked), f"{by_id[picked].email} can sign in again.")
    _limits(me, engine)


def _limits(me: Actor, engine: Engine) -> None:
    form = widgets.form_key(keys.SESSION_LIMITS)
    with st.form(form):
        left, right = st.columns(2)
        idle = left.number_input(
            "Sign out after this many idle hours",
            min_value=1,
            max_value=168,
            value=int(settings.get(engine, "auth.idle_timeout_hours")),
            key=f"{form}{keys.IDLE_HOURS}",
        )
        longest = right.number_input(
            "End every session after this many hours",
            min_value=1,
            max_value=720,
            value=int(settings.get(engine, "auth.session_max_hours")),
            key=f"{form}{keys.MAX_HOURS}",
        )
        saved = st.form_submit_button("Save session limits")
    if saved:
        widgets.attempt(lambda: sessions.set_limits(engine, me, int(idle), int(longest)), "Session limits saved.")
