"""The demo, loaded once per test run: a SQLite file per (scale, blocks built or not) that every test process
copies instead of loading the demo again.

Loading the demo at scale 0.1 costs about 12 CPU seconds; a dozen modules in four packages used to load
their own copy in each of CI's two test processes. The first process that asks builds the file under a
lock in the run's folder (tests/conftest.py names it in LOOPDECK_TEST_RUN_DIR before xdist starts its
workers, so both workers share it); the others wait for it and copy it. The audit key is the run's too
(tests/conftest.py), so a copy's chain verifies in every process.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

RUN_DIR_ENV = "LOOPDECK_TEST_RUN_DIR"
POSTGRES_URL_ENV = "LOOPDECK_TEST_POSTGRES_URL"


def run_dir() -> Path:
    return Path(os.environ[RUN_DIR_ENV])


@contextlib.contextmanager
def _built_once(folder: Path) -> Iterator[bool]:
    """Hold the folder's lock (the other process waits here while the first one builds); yields whether
    the thing is still to be built, and marks it built when the block ends without an error."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = folder / "READY"
        yield not ready.exists()
        ready.write_text("ok\n")


def sqlite_demo(scale: float = 0.1, *, blocks: bool = True) -> Path:
    """The run's demo database at `scale` (monitoring blocks built when `blocks`), read-only: copy it
    (`copy_demo`) before writing. Its accounts are hashed with cheap argon2 parameters (tests sign in
    many times) and its model artifacts live beside it."""
    folder = run_dir() / f"demo-{scale:g}-{'blocks' if blocks else 'rows'}"
    path = folder / "demo.db"
    with _built_once(folder) as to_build:
        if to_build and blocks:
            from services.core.db import make_engine
            from services.monitoring import block_build

            shutil.copyfile(sqlite_demo(scale, blocks=False), path)
            engine = make_engine(f"sqlite:///{path}")
            block_build.refresh(engine)
            engine.dispose()
        elif to_build:
            _load(f"sqlite:///{path}", folder / "artifacts", scale)
    return path


def copy_demo(target: Path, scale: float = 0.1, *, blocks: bool = True) -> Path:
    """A private, writable copy of the run's demo database at `target` (a file path)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sqlite_demo(scale, blocks=blocks), target)
    return target


_COPIES = itertools.count(1)


def postgres_demo(label: str, scale: float = 0.1) -> str:
    """A new Postgres database `<test database>_<label>_<pid>` holding the demo at `scale`, copied from the
    run's template database (CREATE DATABASE ... TEMPLATE: a file copy, no reload); its URL. The caller
    drops it (tests.conftest.drop_database)."""
    base = sa.engine.make_url(os.environ[POSTGRES_URL_ENV])
    template = f"{base.database}_demo_{_run_id()}_{int(scale * 1000)}"
    # A name never used before in this run: the audit checkpoint file keeps the lines of a dropped database,
    # so a second database under the same name would read as that one rolled back (a CI failure).
    target = f"{base.database}_{label}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}_{next(_COPIES)}"
    with _built_once(run_dir() / f"pg-demo-{scale:g}") as to_build:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if to_build:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{template}"')
                _load(
                    base.set(database=template).render_as_string(hide_password=False),
                    run_dir() / f"pg-demo-{scale:g}" / "artifacts",
                    scale,
                )
            # Under the lock: a template may have no other user while it is copied.
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{target}" TEMPLATE "{template}"')
        admin.dispose()
    return base.set(database=target).render_as_string(hide_password=False)


def drop_postgres_templates() -> None:
    """Drop the run's template databases (at the end of the run, by the process that made the run folder)."""
    base = sa.engine.make_url(os.environ[POSTGRES_URL_ENV])
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        names = (
            conn.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s", {"p": f"{base.database}_demo_{_run_id()}_%"}
            )
            .scalars()
            .all()
        )
        for name in names:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _run_id() -> str:
    return run_dir().name.rsplit("-", 1)[-1].lower()  # mkdtemp's random suffix: unique per run


def load_record(scale: float = 0.1, *, postgres: bool = False) -> dict[str, Any]:
    """What loading the run's demo at `scale` printed and returned (its DemoSummary without the scenario),
    for tests of the loader itself (tests/data), which read it beside a copy instead of loading again.
    `artifacts` and `raw` name the folders the load wrote its model files and raw store to."""
    folder = run_dir() / (f"pg-demo-{scale:g}" if postgres else f"demo-{scale:g}-rows")
    record = json.loads((folder / "demo.json").read_text(encoding="utf-8"))
    record["model_version_ids"] = {int(k): v for k, v in record["model_version_ids"].items()}  # JSON keys are str
    return record | {"artifacts": folder / "artifacts", "raw": folder / "raw"}


def _load(url: str, artifacts: Path, scale: float) -> None:
    """Load the demo into the empty database at `url`, migrated as `python3 run.py app` does; its model files
    go to `artifacts`, its raw store beside them, and what it printed and returned to demo.json there."""
    from argon2 import PasswordHasher

    import services.core.users
    from data.demo import load_demo
    from services.core.db import make_engine, migrate
    from services.models import registry

    engine = make_engine(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)  # a build interrupted before READY starts again
    migrate(engine)
    folders = {registry.ARTIFACT_DIR_ENV: artifacts, "LOOPDECK_RAW_STORE_DIR": artifacts.parent / "raw"}
    hasher, saved = services.core.users._hasher, {name: os.environ.get(name) for name in folders}
    services.core.users._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    os.environ.update({name: str(path) for name, path in folders.items()})
    output: list[str] = []
    try:
        summary = load_demo(engine, echo=output.append, scale=scale)
    finally:
        services.core.users._hasher = hasher
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        engine.dispose()
    record = {"output": output, "counts": summary.counts, "seconds": summary.seconds, "facts": summary.facts,
              "model_version_ids": summary.model_version_ids, "experiment_ids": summary.experiment_ids}  # fmt: skip
    (artifacts.parent / "demo.json").write_text(json.dumps(record, default=_plain), encoding="utf-8")


def _plain(value: Any) -> Any:
    """numpy scalars in the scenario's facts, as JSON numbers (anything else as its text)."""
    return value.item() if hasattr(value, "item") else str(value)
