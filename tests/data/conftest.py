"""The demo (scale 0.1: 20,000 predictions), a copy per backend of the run's (tests/demo_cache.py) shared
by the modules of this package (SQLite always; Postgres when LOOPDECK_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from data import scenario as sc
from data.demo import DemoSummary
from services.core.db import make_engine
from tests import demo_cache
from tests.conftest import drop_database

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
    """A copy of the run's demo (tests/demo_cache.py: loaded once per run by load_demo, as `python3 run.py
    app` loads it, and shared with the page and service tests) with what that load printed and returned."""
    if request.param == "sqlite":
        path = demo_cache.copy_demo(tmp_path_factory.mktemp("demo-sqlite") / "demo.db", SCALE, blocks=False)
        engine = make_engine(f"sqlite:///{path}")
    else:
        if not POSTGRES_URL:
            pytest.skip("LOOPDECK_TEST_POSTGRES_URL is not set: Postgres runs are skipped")
        engine = make_engine(demo_cache.postgres_demo("demo", SCALE))  # of its own: other tests truncate theirs
    record = demo_cache.load_record(SCALE, postgres=request.param == "postgres")
    fields = ("counts", "seconds", "model_version_ids", "experiment_ids", "facts")
    summary = DemoSummary(SCALE, **{name: record[name] for name in fields}, scenario=scenario)
    yield Demo(engine, summary, record["output"], record["artifacts"])
    engine.dispose()
    if request.param == "postgres":
        drop_database(engine.url.render_as_string(hide_password=False))
