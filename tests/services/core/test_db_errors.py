"""A database that cannot be opened gives one clear message and a hint, never a traceback (issue 13.5)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from app import state
from services.core import db_errors
from services.core.db import make_engine
from services.core.errors import DatabaseUnavailable

ROOT = Path(__file__).resolve().parents[3]
POSTGRES_URL = os.environ.get("LOOPDECK_TEST_POSTGRES_URL")
REFUSED = "postgresql+psycopg://loopdeck:s3cret@127.0.0.1:9/loopdeck"  # port 9 (discard): nothing listens


def _connect_error(url: str) -> BaseException:
    try:
        with make_engine(url).connect():
            pass
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever the driver raised
        return exc
    raise AssertionError(f"{url} connected")


def test_a_url_that_is_no_database_url_says_so():
    with pytest.raises(DatabaseUnavailable, match="not a database URL") as caught:
        make_engine("nonsense")
    assert "postgresql+psycopg://" in caught.value.hint


def test_a_driver_that_is_not_installed_says_so():
    with pytest.raises(DatabaseUnavailable, match="driver that is not installed"):
        make_engine("mysql://someone@somewhere/db")


def test_nothing_listening_is_explained_without_the_password():
    reason = db_errors.explain(_connect_error(REFUSED))
    assert "nothing answers" in str(reason) and "s3cret" not in str(reason) + reason.hint
    assert db_errors.is_connection_error(_connect_error(REFUSED))


@pytest.mark.skipif(not POSTGRES_URL, reason="LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
def test_a_missing_postgres_database_names_it_and_how_to_create_it():
    url = sa.engine.make_url(POSTGRES_URL).set(database=f"loopdeck_missing_{os.getpid()}")
    reason = db_errors.explain(_connect_error(url.render_as_string(hide_password=False)))
    assert f'"loopdeck_missing_{os.getpid()}" does not exist' in str(reason)
    assert "createdb" in reason.hint


def test_a_query_error_is_not_mistaken_for_a_connection_error():
    engine = make_engine("sqlite://")
    with pytest.raises(sa.exc.OperationalError) as caught, engine.connect() as conn:
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    assert not db_errors.is_connection_error(caught.value)


def test_the_shell_prints_a_message_and_a_hint_not_a_traceback(monkeypatch, capsys):
    """`python -m services users list` is `sys.exit(main())` (services/__main__.py): main in this process, not
    a shell of its own (which cost ~10 CPU-s of imports); a traceback here would be an exception out of main."""
    from services.cli.main import main

    monkeypatch.setenv("LOOPDECK_DATABASE_URL", REFUSED)
    assert main(["users", "list"]) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 2, stderr
    assert stderr.startswith("error: Cannot open the database: nothing answers")
    assert "hint: start the database server" in stderr


def test_a_signed_out_visitor_sees_one_line_that_names_nothing_of_the_set_up(monkeypatch):
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", REFUSED)
    try:
        at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    finally:
        state.get_engine.clear()
    assert not at.exception
    assert [e.value for e in at.error] == [state.DATABASE_DOWN]
    shown = " ".join(str(m.value) for m in [*at.markdown, *at.error, *at.text])
    for secret in ("127.0.0.1", ":9", "loopdeck:s3cret", "psycopg", str(ROOT)):
        assert secret not in shown
    assert not at.text_input  # no sign-in form on a database that cannot be opened
