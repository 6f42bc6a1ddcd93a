"""The real server (uvicorn in a subprocess, `python -m services api`) driven by the client, including
Loopdeck going down and coming back while the background sender's spool holds the records."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from loopdeck_client import Loopdeck, LoopdeckError

from services.core import tokens
from services.core.db import make_engine, migrate
from services.monitoring.refresh import refresh_monitoring
from tests.api.conftest import ADMIN, prediction_rows
from tests.processes import Startup
from tests.services.factories import model_version

ROOT = Path(__file__).resolve().parents[2]
START = 100_000  # the request ids of the second test's rows (the first test's are below 30,000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, port: int, log: Path):
        self.url, self.port, self.log, self.process = url, port, log, None

    def start(self) -> None:
        env = {**os.environ, "LOOPDECK_DATABASE_URL": self.url, "LOOPDECK_API_PORT": str(self.port)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "services", "api"], cwd=ROOT, env=env,
                                            stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        startup = Startup(self.process, "the API", self.log, cpu_budget=60)  # CPU, not wall: see Startup
        while True:
            startup.check()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)

    def ensure_running(self) -> None:
        """Start it again if a test before stopped it and failed before its restart."""
        if self.process is None or self.process.poll() is not None:
            self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server and database for the module (a server start costs ~3 CPU-s): the outage test stops and
    starts it again; each test logs the rows of a model version of its own, so neither reads the other's."""
    folder = tmp_path_factory.mktemp("real-server")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LOOPDECK_RAW_STORE_DIR", str(folder / "raw"))  # the server's and this process's
        url = f"sqlite:///{folder / 'live.db'}"
        migrate(url)
        engine = make_engine(url)
        versions = {v: model_version(engine, "churn", v) for v in (1, 2)}
        scopes = ["ingest", "routing:read", "monitoring:read", "raw:export"]
        secret = tokens.create_token(engine, ADMIN, "serving", scopes).secret
        s = Server(url, free_port(), folder / "server.log")
        s.start()
        yield s, engine, secret, versions
        s.stop()
        engine.dispose()


def count(engine, table: str, version_id: int) -> int:
    """Rows of `table` (prediction or outcome) that belong to predictions of one model version."""
    join = "" if table == "prediction" else " JOIN prediction ON prediction.request_id = outcome.request_id"
    with engine.connect() as conn:
        query = f"SELECT count(*) FROM {table}{join} WHERE prediction.model_version_id = {int(version_id)}"
        return conn.exec_driver_sql(query).scalar_one()


def test_client_against_the_real_server_survives_an_outage(server, tmp_path):
    s, engine, secret, versions = server
    s.ensure_running()
    base = f"http://127.0.0.1:{s.port}"
    with Loopdeck(base, secret, batch_size=1000) as ld:
        answer = ld.log_predictions(prediction_rows(2500))
        assert (answer["new"], len(answer["import_ids"])) == (2500, 3)
        assert ld.log_predictions(prediction_rows(10))["known"] == 10
        assert ld.routing("churn")["champion"] is None
        assert ld.routing("churn")["model_name"] == "churn"  # second call: a 304, served from the cache
        with pytest.raises(LoopdeckError) as info:
            ld.log_outcomes([{"request_id": "nope", "ts": "2026-12-02T00:00:00Z", "actual_label": 1}])
        assert info.value.status == 422

    spool = tmp_path / "spool"
    ld = Loopdeck(base, secret, background=True, spool_dir=spool, flush_interval=0.1, backoff=0.1, max_backoff=0.5)
    ld.log_predictions(prediction_rows(300, start=10_000))
    assert ld.flush(timeout=30)
    s.stop()
    started = time.perf_counter()
    ld.log_predictions(prediction_rows(200, start=20_000))
    ld.log_outcomes([{"request_id": f"r-{20_000 + i}", "ts": "2026-12-02T00:00:00Z", "actual_label": i % 2}
                     for i in range(100)])  # fmt: skip
    assert time.perf_counter() - started < 0.05  # the caller never waits for Loopdeck
    assert not ld.flush(timeout=1.5)  # Loopdeck is down: the records wait in the spool
    assert ld.pending_files >= 2
    s.start()
    assert ld.flush(timeout=60)
    ld.close()
    assert count(engine, "prediction", versions[1]) == 3000 and count(engine, "outcome", versions[1]) == 100
    assert ld.pending_files == 0 and not list((spool / "rejected").glob("*.json"))


def test_rows_logged_through_the_api_are_queried_and_exported_by_the_client(server):
    """Live rows in, the monitoring refresh folds them into the raw store, the client asks for a window filtered
    on two cohort fields at once and gets the counts of exactly those rows, and their file."""
    s, engine, secret, _ = server
    s.ensure_running()
    rows = [{**r, "cohort_platform": "ios" if i % 3 else "android", "cohort_region": "EU" if i % 2 else "NA"}
            for i, r in enumerate(prediction_rows(600, start=START, version=2))]  # fmt: skip
    outcomes = [{"request_id": r["request_id"], "ts": "2026-12-02T00:00:00Z", "actual_label": i % 2}
                for i, r in enumerate(rows[:400])]  # fmt: skip
    with Loopdeck(f"http://127.0.0.1:{s.port}", secret) as ld:
        ld.log_predictions(rows)
        ld.log_outcomes(outcomes)
        refresh_monitoring(engine)
        got = ld.query_window("churn", 2, "2026-12-01", "2026-12-01", {"platform": ["ios"], "region": ["EU"]})
        data = ld.export_window("churn", 2, "2026-12-01", "2026-12-01", {"platform": ["ios"], "region": ["EU"]})
        with pytest.raises(LoopdeckError) as info:
            ld.query_window("churn", 2, "2026-12-01", "2026-12-01", {"os": ["ios"]})
    want = [i for i in range(600) if i % 3 and i % 2]
    assert got["rows"] == len(want) and got["labelled"] == len([i for i in want if i < 400])
    assert got["positives"] == len([i for i in want if i < 400 and i % 2])
    exported = pq.read_table(io.BytesIO(data)).column("request_id").to_pylist()
    assert sorted(exported) == sorted(f"r-{START + i}" for i in want)
    assert info.value.status == 422 and "Unknown field 'os'" in str(info.value)
