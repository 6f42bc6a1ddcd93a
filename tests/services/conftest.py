"""An S3-compatible server for the raw store's tests: moto's, in a thread of the test process, on a free
port, started once per test session; each test gets its own bucket prefix."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pyarrow.fs as pafs
import pytest

BUCKET = "loopdeck-tests"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # a test-only dependency (requirements-dev.txt)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           access_key="testing", secret_key="testing", allow_bucket_creation=True)  # fmt: skip
    fs.create_dir(BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_location(s3_endpoint, monkeypatch, request) -> str:
    """s3://<bucket>/<this test's name>, with the endpoint, region and credentials in the environment."""
    monkeypatch.setenv("LOOPDECK_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("LOOPDECK_S3_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    prefix = "".join(c if c.isalnum() else "-" for c in request.node.name)
    return f"s3://{BUCKET}/{prefix}"
