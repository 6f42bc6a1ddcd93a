"""Shared fixtures. `engine` runs every service test on SQLite, and again on Postgres when
LOOPDECK_TEST_POSTGRES_URL is set (each xdist worker gets its own Postgres database)."""

from __future__ import annotations

import itertools
import os
import resource
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import services.core.schema  # noqa: F401
import services.jobs.schema  # noqa: F401
import services.notify.schema  # noqa: F401
from services import kinds
from services.core import audit_anchor, audit_guard, users  # noqa: F401 (audit_guard: create_all adds the audit triggers)
from services.core.db import make_engine, migrate
from services.core.roles import Actor, Role
from services.monitoring import frames as monitoring_frames
from tests import demo_cache

POSTGRES_URL = os.environ.get("LOOPDECK_TEST_POSTGRES_URL")
ROOT = Path(__file__).resolve().parents[1]

# Tests never write into the checkout's data/: files a service writes (model artifacts, routing files)
# go to a folder of this test process, and so do the servers and shells the tests start (they inherit
# the environment). Set here, at import, before any test or fixture runs.
_SCRATCH = Path(tempfile.mkdtemp(prefix=f"loopdeck-tests-{os.getpid()}-"))
os.environ["LOOPDECK_ARTIFACT_DIR"] = str(_SCRATCH / "artifacts")
os.environ["LOOPDECK_ROUTING_DIR"] = str(_SCRATCH / "routing")
os.environ["LOOPDECK_RAW_STORE_DIR"] = str(_SCRATCH / "raw")

# One folder for the whole run, shared by xdist's workers: the controller imports this file before it
# starts them, so they inherit the variable. It holds what every process may share: the demo database
# built once (tests/demo_cache.py) and the audit key that database's chain was written with.
_OWN_RUN_DIR = not os.environ.get(demo_cache.RUN_DIR_ENV)
if _OWN_RUN_DIR:
    os.environ[demo_cache.RUN_DIR_ENV] = tempfile.mkdtemp(prefix=f"loopdeck-run-{os.getpid()}-")


def _data_folder_state() -> dict[str, int]:
    """Every file under the checkout's data/ with its modification time (ns)."""
    return {str(p.relative_to(ROOT)): p.stat().st_mtime_ns for p in (ROOT / "data").rglob("*") if p.is_file()}


_DATA_BEFORE = _data_folder_state()


def pytest_unconfigure(config):
    if _OWN_RUN_DIR and not hasattr(config, "workerinput"):
        if POSTGRES_URL:
            demo_cache.drop_postgres_templates()
        shutil.rmtree(os.environ[demo_cache.RUN_DIR_ENV], ignore_errors=True)


# LOOPDECK_TEST_CPU_REPORT=<file>: each test process appends the CPU seconds each test module cost to that
# file (its own time plus the processes it started and reaped: servers, browsers, shells), to find what
# makes the suite expensive (CI's budget is 15 CPU-minutes). Off unless set.
_CPU_REPORT = os.environ.get("LOOPDECK_TEST_CPU_REPORT")
_CPU_BY_MODULE: dict[str, float] = {}


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not _CPU_REPORT:
        yield
        return
    start = _cpu_seconds()
    yield
    module = item.nodeid.split("::")[0]
    _CPU_BY_MODULE[module] = _CPU_BY_MODULE.get(module, 0.0) + _cpu_seconds() - start


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if a test wrote into the checkout's data/ (added or changed a file there)."""
    if _CPU_REPORT and _CPU_BY_MODULE:
        with open(_CPU_REPORT, "a", encoding="utf-8") as out:
            out.writelines(f"{seconds:.2f}\t{module}\n" for module, seconds in _CPU_BY_MODULE.items())
    changed = sorted(k for k, v in _data_folder_state().items() if _DATA_BEFORE.get(k) != v)
    if changed:
        print(f"\nTests wrote into the checkout's data/: {changed[:10]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


kinds.load()  # the request kinds, as every entry point registers them (services/kinds.py)


def pytest_collection_finish(session):
    """Freeze what the imports and the collection made out of the cyclic garbage collector's reach, as the
    server does after its preload (server.py): AppTest runs a full collection after every script run
    (Streamlit's runner.postScriptGC), and each walked every object of every imported module (~10% of the
    page tests' CPU, measured)."""
    import gc

    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def audit_anchor_outside_the_checkout(tmp_path_factory) -> Iterator[None]:
    """The audit key and checkpoint file of every database the tests make live in a temporary folder,
    never in the checkout's data/ (checkpoint lines name their database, so one file serves them all)."""
    folder = tmp_path_factory.mktemp("audit-anchor")
    names = {
        audit_anchor.KEY_FILE_ENV: demo_cache.run_dir() / "audit.key",  # the run's: demo copies verify anywhere
        audit_anchor.CHECKPOINT_FILE_ENV: folder / "checkpoints.log",
    }
    saved = {name: os.environ.get(name) for name in [*names, audit_anchor.KEY_ENV]}
    os.environ.pop(audit_anchor.KEY_ENV, None)
    os.environ.update({name: str(path) for name, path in names.items()})
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


# The hash verified for an unknown e-mail, as production has it (fast_password_hashing swaps it for the
# test run; tests/services/core/test_users.py checks this one has the production hasher's parameters).
PRODUCTION_DUMMY_HASH = users._DUMMY_HASH
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
_FAST_DUMMY_HASH = _FAST_HASHER.hash("loopdeck-timing-equaliser")


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 at its production cost takes ~0.15 s a hash; tests use the cheapest parameters.
    The hashing code path is the same (the argon2 parameters are stored in each hash). The unknown
    e-mail's hash too: at production cost each sign-in with an unknown e-mail cost ~0.2 CPU-s (21 of
    them made test_a_source_is_slowed_down_across_accounts cost 4 s per database)."""
    monkeypatch.setattr(users, "_hasher", _FAST_HASHER)
    monkeypatch.setattr(users, "_DUMMY_HASH", _FAST_DUMMY_HASH)


def fresh_postgres_url(label: str) -> str:
    """A Postgres database of its own for one test module (dropped and created anew), named after the
    label and the xdist worker; for tests that load a whole scenario, which the shared, truncated
    per-test database would not suit."""
    # A name never used before in this run (pid and a count): a package fixture torn down and set up again
    # (its modules not run back to back) would otherwise re-create a database the audit checkpoint file
    # already names, and its chain would read as rolled back.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return _recreate_database(f"{label}_{worker}_{os.getpid()}_{next(_DATABASES)}")


_DATABASES = itertools.count(1)


def _recreate_database(suffix: str) -> str:
    """Drop and create `<test database>_<suffix>`; its URL."""
    base = sa.engine.make_url(POSTGRES_URL)
    name = f"{base.database}_{suffix}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a database made by fresh_postgres_url (at the end of its module)."""
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def _admin_engine() -> Engine:
    return sa.create_engine(sa.engine.make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """A database of its own for this test process (runs in parallel never share tables), dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
    url = _recreate_database(f"loopdeck_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}")
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def _written_tables_query() -> str:
    """One query naming the tables a test wrote: those with a row, or whose id sequence has been drawn
    from (a rolled-back or deleted insert leaves the table empty and the sequence moved on)."""
    rows = " UNION ALL ".join(
        f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in SQLModel.metadata.sorted_tables
    )
    sequences = (
        "SELECT t.relname::text FROM pg_sequences ps "
        "JOIN pg_class s ON s.relname = ps.sequencename AND s.relkind = 'S' "
        "JOIN pg_namespace n ON n.oid = s.relnamespace AND n.nspname = ps.schemaname "
        "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
        "JOIN pg_class t ON t.oid = d.refobjid WHERE ps.last_value IS NOT NULL"
    )
    return f"{rows} UNION {sequences}"


def _truncate_postgres(engine: Engine) -> None:
    """Empty what the previous test wrote. TRUNCATE makes new files for each table and its indexes: all
    46 tables cost the server ~0.1 CPU-s a test; a test writes a handful of them (the query costs ~3 ms)."""
    with engine.begin() as conn:
        written = [name for (name,) in conn.exec_driver_sql(_WRITTEN_TABLES)]
        if written:
            names = ", ".join(f'"{name}"' for name in written)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


_WRITTEN_TABLES = _written_tables_query()


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path, monkeypatch) -> Iterator[Engine]:
    """A fresh, empty database with the current schema."""
    # Each test's raw store of its own (the monitoring refresh writes it; ids restart with every database).
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    if request.param == "sqlite":
        eng = _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("postgres_engine")
        _truncate_postgres(eng)
        # The wiped database numbers its rows from 1 again, so the process's monitoring caches (keyed by
        # database, block id and generation) would hand this test an earlier test's day blocks.
        monitoring_frames.clear_caches()
        # The shared database's chain starts again: its checkpoints too (a wipe, to the old file).
        monkeypatch.setenv("LOOPDECK_AUDIT_CHECKPOINT_FILE", str(tmp_path / "audit-checkpoints.log"))
        yield eng


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """An empty SQLite file made by create_all (with the audit triggers), once per test process: copying
    it costs ~1 ms a test where create_all costs ~30 ms (tests/services/test_engine_fixture.py checks
    a copy has the same sqlite_master as a fresh create_all)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    eng = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(eng)
    eng.dispose()  # the last connection closed: the WAL is checkpointed into the file and removed
    return path


def _sqlite_copy(template: Path, tmp_path: Path) -> Engine:
    """An engine on this test's own copy of the template (tmp_path/test.db)."""
    path = tmp_path / "test.db"
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


@pytest.fixture
def sqlite_engine(sqlite_template, tmp_path, monkeypatch) -> Iterator[Engine]:
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    eng = _sqlite_copy(sqlite_template, tmp_path)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """An empty SQLite file brought to head by the migrations, once per test process (~0.4 CPU-s a run of
    Alembic): tests that need a migrated database copy it (`migrated_sqlite_url`)."""
    path = tmp_path_factory.mktemp("template") / "loopdeck.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def migrated_sqlite_url(migrated_template, tmp_path) -> str:
    """The URL of this test's own copy of the migrated template (tmp_path/cli.db)."""
    path = tmp_path / "cli.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def admin() -> Actor:
    return Actor(label="admin@test.io", role=Role.admin, user_id=None)


def actor_of(role: str) -> Actor:
    return Actor(label=f"{role}@test.io", role=Role.parse(role))
