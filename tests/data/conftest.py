"""The demo, loaded once per backend (scale 0.1: 20,000 predictions) into its own database and shared by
the modules of this package (SQLite always; Postgres when LOOPDECK_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlmodel import SQLModel

from data import scenario as sc
from data.demo import DemoSummary, load_demo
from services.core.db import make_engine
from services.models import registry
from tests.conftest import drop_database, fresh_postgres_url

SCALE = 0.1
POSTGRES_URL = os.environ.get("LOOPDECK_TEST_POSTGRES_URL")


@dataclass
class Demo:
    engine: sa.Engine
    summary: DemoSummary
    output: list[str]
    artifacts: Path

    @property
    def scenario(self) -> sc.Scenario:
        return self.summary.scenario


@pytest.fixture(scope="package")
def scenario() -> sc.Scenario:
    return sc.build_scenario(SCALE)  # once for both backends


@pytest.fixture(scope="package", params=["sqlite", "postgres"])
def demo(request, tmp_path_factory, scenario):
    folder = tmp_path_factory.mktemp(f"demo-{request.param}")
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{folder / 'demo.db'}")
    else:
        if not POSTGRES_URL:
            pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
        engine = make_engine(fresh_postgres_url("demo"))  # of its own: other tests truncate the shared one
    SQLModel.metadata.create_all(engine)
    output: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(registry.ARTIFACT_DIR_ENV, str(folder / "artifacts"))
        mp.setenv("LOOPDECK_RAW_STORE_DIR", str(folder / "raw"))  # the refresh writes the demo's raw store here
        # The cheap argon2 parameters of conftest's (function-scoped) fixture, for this module-scoped load.
        mp.setattr("services.core.users._hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
        summary = load_demo(engine, echo=output.append, scenario=scenario)
    yield Demo(engine, summary, output, folder / "artifacts")
    engine.dispose()
    if request.param == "postgres":
        drop_database(engine.url.render_as_string(hide_password=False))
