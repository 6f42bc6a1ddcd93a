"""Every environment variable Loopdeck reads, in one place (the README's Configuration table lists them).

Each setting is a function read at call time, not a module constant, so a test or a shell can change
the environment without reloading modules. Standard library only: run.py imports this module before
the virtual environment exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "data"


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    meaning: str


# The catalogue the README's table is checked against (tests/architecture/test_config.py).
VARIABLES: tuple[Variable, ...] = (
    Variable("LOOPDECK_DATABASE_URL", "sqlite:///data/loopdeck.db", "SQLAlchemy URL of the database"),
    Variable("LOOPDECK_PORT", "8501", "port of the web UI started by `python3 run.py app`"),
    Variable("LOOPDECK_API_PORT", "8502", "port of the HTTP API started by `python3 run.py app`"),
    Variable("LOOPDECK_HOST", "127.0.0.1", "address the UI and the API listen on (`0.0.0.0` to accept other machines)"),
    Variable("LOOPDECK_ARTIFACT_DIR", "data/artifacts", "folder of the model artifacts (skops files)"),
    Variable("LOOPDECK_ROUTING_DIR", "data/routing", "folder of the published routing files, one per model"),
    Variable(
        "LOOPDECK_RAW_STORE_DIR",
        "`raw` beside the SQLite file (data/raw); data/raw on Postgres",
        "where raw prediction rows live as Parquet partitions by model/version/day, written by the monitoring "
        "refresh: a folder, or `s3://bucket/prefix` for S3-compatible storage (credentials from the standard "
        "AWS variables, e.g. `AWS_ACCESS_KEY_ID`)",
    ),
    Variable(
        "LOOPDECK_S3_ENDPOINT_URL",
        "unset (AWS)",
        "endpoint of an S3-compatible store other than AWS, e.g. `http://minio.internal:9000`",
    ),
    Variable("LOOPDECK_S3_REGION", "unset (the AWS SDK's own)", "region of the raw store's bucket, e.g. `eu-west-1`"),
    Variable("LOOPDECK_MONITORING_CACHE_MB", "512", "memory for decoded monitoring day blocks, per process"),
    Variable(
        "LOOPDECK_SUMMARY_CACHE_MB",
        "256",
        "memory for decoded monitoring day summaries and merged windows, per process",
    ),
    Variable(
        "LOOPDECK_AUDIT_KEY",
        "unset",
        "the audit log's HMAC key itself (at least 32 characters); wins over the key file",
    ),
    Variable("LOOPDECK_AUDIT_KEY_FILE", "audit.key beside the database", "file holding the audit log's HMAC key"),
    Variable(
        "LOOPDECK_AUDIT_CHECKPOINT_FILE",
        "audit-checkpoints.log beside the database",
        "append-only file of signed audit checkpoints, outside the database",
    ),
    Variable("LOOPDECK_DEMO", "unset", "Docker image only: `1` loads the demo into an empty database"),
    Variable(
        "LOOPDECK_PUBLIC_URL",
        "http://localhost:<LOOPDECK_PORT>",
        "the address users open the UI at; links in notifications start with it",
    ),
    Variable(
        "LOOPDECK_SMTP_URL",
        "unset",
        "apprise mail URL the personal e-mails are sent through (`mailtos://user:pass@smtp.example.com?from=...`)",
    ),
    Variable("LOOPDECK_JOB_RETENTION_DAYS", "30", "finished worker jobs older than this are deleted"),
)


def _get(name: str) -> str | None:
    """The variable's value, or None when it is unset or empty (an empty value means "use the default")."""
    return os.environ.get(name) or None


def database_url() -> str:
    return _get("LOOPDECK_DATABASE_URL") or f"sqlite:///{DATA_DIR / 'loopdeck.db'}"


def uses_default_database() -> bool:
    """True when LOOPDECK_DATABASE_URL is unset: the SQLite file in data/ (where the demo may load)."""
    return _get("LOOPDECK_DATABASE_URL") is None


def ui_host() -> str:
    return _get("LOOPDECK_HOST") or "127.0.0.1"


def ui_port() -> int:
    return _int("LOOPDECK_PORT", 8501)


def api_port() -> int:
    return _int("LOOPDECK_API_PORT", 8502)


def artifact_dir() -> Path:
    return Path(_get("LOOPDECK_ARTIFACT_DIR") or DATA_DIR / "artifacts")


def routing_dir() -> Path:
    return Path(_get("LOOPDECK_ROUTING_DIR") or DATA_DIR / "routing")


def raw_store_location(db_url: str | None = None) -> str | None:
    """Where the raw store of the database at `db_url` (default: LOOPDECK_DATABASE_URL) lives: a folder or
    s3://bucket/prefix (services/monitoring/raw_store.open_store). LOOPDECK_RAW_STORE_DIR when set; else
    `raw` beside a SQLite file (each database its own rows: data/raw for the default database), or
    data/raw. None for an in-memory SQLite database (it keeps nothing on disk, so no raw store either)."""
    configured = _get("LOOPDECK_RAW_STORE_DIR")
    if configured:
        return configured
    url = str(db_url or database_url())
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if not path or path == ":memory:" or "mode=memory" in url:
            return None
        return str(Path(path).parent / "raw")
    return str(DATA_DIR / "raw")


def s3_endpoint_url() -> str | None:
    """An S3-compatible endpoint (MinIO, Ceph, R2...); None: AWS itself."""
    return _get("LOOPDECK_S3_ENDPOINT_URL")


def s3_region() -> str | None:
    return _get("LOOPDECK_S3_REGION")


def public_url() -> str:
    """Where users open the UI (no trailing slash): notifications link there."""
    return (_get("LOOPDECK_PUBLIC_URL") or f"http://localhost:{ui_port()}").rstrip("/")


def smtp_url() -> str | None:
    """The apprise mail URL (without a recipient) personal e-mails go through; None: no personal e-mail."""
    return _get("LOOPDECK_SMTP_URL")


def job_retention_days() -> int:
    days = _int("LOOPDECK_JOB_RETENTION_DAYS", 30)
    if days < 1:
        raise ConfigError(f"LOOPDECK_JOB_RETENTION_DAYS must be at least 1; it is {days}.")
    return days


def monitoring_cache_bytes() -> int:
    return _int("LOOPDECK_MONITORING_CACHE_MB", 512) * 2**20


def summary_cache_bytes() -> int:
    """Memory for decoded day summaries (about 2.3 MiB a day on the demo) and merged windows."""
    return _int("LOOPDECK_SUMMARY_CACHE_MB", 256) * 2**20


class ConfigError(ValueError):
    """An environment variable holds a value Loopdeck cannot use; the message names it."""


def audit_key() -> str | None:
    return _get("LOOPDECK_AUDIT_KEY")


def audit_key_file() -> str | None:
    return _get("LOOPDECK_AUDIT_KEY_FILE")


def audit_checkpoint_file() -> str | None:
    return _get("LOOPDECK_AUDIT_CHECKPOINT_FILE")


def _int(name: str, default: int) -> int:
    raw = _get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number; it is {raw!r}.") from None


def child_environment(pycache: Path) -> dict[str, str]:
    """The environment of the processes run.py starts: this one, except that bytecode is cached.

    With PYTHONDONTWRITEBYTECODE set (CI images and our Dockerfile set it, to keep __pycache__ out of the
    sources) every process compiles every module it imports from source, every time: one worker start
    measured 16.7 CPU-s that way against 6.9 with cached bytecode, and the test suite starts dozens of
    processes. The sources stay clean all the same: the cache goes to `pycache` (PYTHONPYCACHEPREFIX),
    written by the first process that imports a module and read by every later one."""
    environment = dict(os.environ)
    if environment.pop("PYTHONDONTWRITEBYTECODE", None):
        environment.setdefault("PYTHONPYCACHEPREFIX", str(pycache))
    return environment
