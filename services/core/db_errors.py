"""Why a database could not be opened, in one sentence and a hint, instead of a driver traceback.

The shell prints both; the web app logs them and shows visitors a line that names no host, port,
role or path (a signed-out visitor must not learn the server's set-up).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from services.core.errors import DatabaseUnavailable

# (pattern in the driver's message, what it means, what to do); first match wins.
_CAUSES: tuple[tuple[str, str, str], ...] = (
    (r'database "([^"]+)" does not exist', 'the database "{0}" does not exist',
     'create it, e.g. `createdb -h HOST -U USER {0}`, then run `python -m services init-db`'),
    (r'role "([^"]+)" does not exist', 'the database user "{0}" does not exist',
     "use an existing user in LOOPDECK_DATABASE_URL or create it (`createuser`)"),
    (r"password authentication failed for user \"([^\"]+)\"", 'the password of user "{0}" was refused',
     "check the password in LOOPDECK_DATABASE_URL"),
    (r"Connection refused", "nothing answers at the database's host and port",
     "start the database server or fix the host and port in LOOPDECK_DATABASE_URL"),
    (r"failed to resolve host '([^']+)'", 'the host "{0}" is unknown',
     "fix the host name in LOOPDECK_DATABASE_URL"),
    (r"timeout expired|timed out", "the database server did not answer in time",
     "check the network path to the database server"),
    (r"unable to open database file", "the SQLite file cannot be opened",
     "check that the folder exists and is writable by this user"),
)  # fmt: skip


def explain(exc: BaseException) -> DatabaseUnavailable:
    """A DatabaseUnavailable for an error raised while creating an engine or connecting."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, sa.exc.ArgumentError):
        return DatabaseUnavailable(
            "LOOPDECK_DATABASE_URL is not a database URL Loopdeck understands.",
            "use e.g. sqlite:///data/loopdeck.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME",
        )
    if isinstance(exc, ModuleNotFoundError | sa.exc.NoSuchModuleError):
        return DatabaseUnavailable(
            "LOOPDECK_DATABASE_URL names a database driver that is not installed.",
            "Loopdeck supports SQLite (sqlite:///...) and Postgres (postgresql+psycopg://...)",
        )
    text = str(getattr(exc, "orig", None) or exc)
    for pattern, meaning, hint in _CAUSES:
        found = re.search(pattern, text)
        if found:
            return DatabaseUnavailable(f"Cannot open the database: {meaning.format(*found.groups())}.",
                                       hint.format(*found.groups()))  # fmt: skip
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return DatabaseUnavailable(f"Cannot open the database: {first_line}", "check LOOPDECK_DATABASE_URL")


def is_connection_error(exc: BaseException) -> bool:
    """Errors that mean "the database cannot be opened", as opposed to a bug or a bad query."""
    if isinstance(exc, sa.exc.ArgumentError | sa.exc.NoSuchModuleError | ModuleNotFoundError):
        return True
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and bool(
        re.search("|".join(p for p, _, _ in _CAUSES) + "|connection", str(exc), flags=re.I)
    )
