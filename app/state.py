"""Process-wide resources and per-session keys.

One engine per process and database URL (st.cache_resource), never a database session in
st.session_state: every service call opens and closes its own transaction.
"""

from __future__ import annotations

import logging

import streamlit as st
from sqlalchemy.engine import Engine

from services.core.db import database_url, make_engine, schema_problem
from services.core.errors import DatabaseUnavailable

LOG = logging.getLogger("loopdeck")
# What visitors read when the database cannot be opened: no host, port, user or path (the log has them).
DATABASE_DOWN = (
    "Loopdeck cannot open its database right now. Please try again in a minute; if it persists, "
    "the administrator finds the cause in the server log."
)

# st.session_state keys used by the app (pages read them only through app/ helpers).
USER_ID = "loopdeck_user_id"  # the signed-in user's id (re-read from the database on every run)
SESSION_ID = "loopdeck_session_id"  # the server-side session (services.core.sessions) of a password sign-in
HANDOFF = "loopdeck_session_handoff"  # the one-time code the browser trades for its cookie, until it has
CLEAR_COOKIE = "loopdeck_clear_cookie"  # set on sign-out: the sign-in page asks the server to drop the cookie
FLASH = "loopdeck_flash"  # messages to show once after a rerun: [(kind, text)]
SSO_ERROR = "loopdeck_sso_error"  # why an SSO identity could not be mapped to an account


@st.cache_resource(show_spinner=False)
def get_engine(url: str) -> Engine:
    """One engine per URL (tests point LOOPDECK_DATABASE_URL at a fresh file each time)."""
    return make_engine(url)


def engine() -> Engine:
    return get_engine(database_url())


@st.cache_resource(show_spinner=False)
def _schema_problem(url: str) -> str | None:
    return schema_problem(get_engine(url))


def schema_problem_message() -> str | None:
    """Checked once per process and URL: a database that is not migrated gets a clear message. A
    database that cannot be opened gets a generic one (not cached: it may come back), and the cause
    goes to the server log."""
    try:
        return _schema_problem(database_url())
    except DatabaseUnavailable as reason:
        LOG.error("database unavailable: %s (hint: %s)", reason, reason.hint)
        return DATABASE_DOWN
