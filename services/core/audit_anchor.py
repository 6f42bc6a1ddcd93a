"""What anchors the audit chain outside the database: an HMAC key and a file of signed checkpoints.

Key: LOOPDECK_AUDIT_KEY (the secret itself, at least 32 characters), else the file named by
LOOPDECK_AUDIT_KEY_FILE, else `audit.key` beside the SQLite file (data/ for Postgres). The file is
created on the first audit write (32 random bytes as hex, mode 0600) and never stored in the database.

Checkpoints: LOOPDECK_AUDIT_CHECKPOINT_FILE, else `audit-checkpoints.log` beside the key's default
place. One JSON line per committed audit transaction, appended with a single O_APPEND write (atomic
between processes for lines this short), HMAC-signed with the key. Each line names its database
(SQLite: the file's real path; Postgres: `postgresql:<database name>`) so one file can serve several
databases, and says from which event on the chain is keyed (`keyed_from`): events before it were
written unkeyed by older versions and are pinned by the first ("start") line's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from services.core import config

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "LOOPDECK_AUDIT_KEY"
KEY_FILE_ENV = "LOOPDECK_AUDIT_KEY_FILE"
CHECKPOINT_FILE_ENV = "LOOPDECK_AUDIT_CHECKPOINT_FILE"
MIN_KEY_CHARS = 32
LINE_VERSION = 1


# --- environment (one function per variable) ---------------------------------------------------


def key_env() -> str | None:
    return config.audit_key()


def key_file_env() -> str | None:
    return config.audit_key_file()


def checkpoint_file_env() -> str | None:
    return config.audit_checkpoint_file()


# --- where -------------------------------------------------------------------------------------


def _sqlite_path(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).resolve()


def default_folder(engine: Engine) -> Path:
    """Beside the SQLite file; data/ of the checkout for Postgres (or an in-memory SQLite)."""
    path = _sqlite_path(engine)
    return path.parent if path else ROOT / "data"


def database_id(engine: Engine) -> str:
    """How checkpoint lines name this database (something SQL cannot change)."""
    path = _sqlite_path(engine)
    if path:
        return str(path)
    return f"{engine.dialect.name}:{engine.url.database}"


def checkpoint_path(engine: Engine) -> Path:
    configured = checkpoint_file_env()
    return Path(configured) if configured else default_folder(engine) / "audit-checkpoints.log"


# --- the key -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    source: str  # where it came from, for messages (never the secret)
    key_id: str  # a public fingerprint, written into checkpoint lines
    _base: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The keyed inner/outer state computed once; each signature copies it (2x faster at 1M events).
        object.__setattr__(self, "_base", hmac.new(self.secret, digestmod=hashlib.sha256))

    def sign(self, text: str) -> str:
        mac = self._base.copy()
        mac.update(text.encode("utf-8"))
        return mac.hexdigest()


class AuditKeyError(RuntimeError):
    """The key is configured but unusable (too short, unreadable)."""


def _make_key(raw: str, source: str) -> AuditKey:
    raw = raw.strip()
    if len(raw) < MIN_KEY_CHARS:
        raise AuditKeyError(f"the audit key from {source} is shorter than {MIN_KEY_CHARS} characters")
    try:
        secret = bytes.fromhex(raw)
    except ValueError:
        secret = raw.encode("utf-8")
    key_id = hashlib.sha256(b"loopdeck-audit-key-id\x1f" + secret).hexdigest()[:16]
    return AuditKey(secret, source, key_id)


def key_file(engine: Engine) -> Path:
    configured = key_file_env()
    return Path(configured) if configured else default_folder(engine) / "audit.key"


def _create_key_file(path: Path) -> None:
    """Write a new random key with mode 0600; a process that loses the race keeps the winner's key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)  # atomic, and refuses to replace a key that appeared meanwhile
    except FileExistsError:
        pass
    finally:
        temp.unlink()


def load_key(engine: Engine, create: bool = False) -> AuditKey | None:
    """The key from the environment or the key file; with create, a missing key file is made."""
    raw = key_env()
    if raw:
        return _make_key(raw, f"the environment variable {KEY_ENV}")
    path = key_file(engine)
    source = f"{KEY_FILE_ENV}={path}" if key_file_env() else str(path)
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    try:
        return _make_key(path.read_text(encoding="utf-8"), source)
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit key file {path}: {exc}") from exc


def key_file_warning(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return None
    if mode & 0o077:
        return f"the key file {path} is readable by others (mode {mode:04o}); chmod 600 it"
    return None


# --- checkpoint lines --------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    kind: str  # "start" (first line for a database) or "checkpoint"
    db: str
    keyed_from: int  # the first event id hashed with the key
    last_id: int  # events 1..last_id existed, the last with last_hash (ids have no gaps)
    last_hash: str
    ts: str
    key_id: str
    line_no: int = 0


def _body(cp: Checkpoint) -> dict:
    return {
        "v": LINE_VERSION,
        "kind": cp.kind,
        "db": cp.db,
        "keyed_from": cp.keyed_from,
        "events": cp.last_id,
        "last_id": cp.last_id,
        "last_hash": cp.last_hash,
        "ts": cp.ts,
        "key_id": cp.key_id,
    }


def _mac(key: AuditKey, body: dict) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return key.sign("loopdeck-audit-checkpoint\x1f" + text)


def format_line(key: AuditKey, cp: Checkpoint) -> str:
    body = _body(cp)
    return json.dumps({**body, "mac": _mac(key, body)}, sort_keys=True, separators=(",", ":")) + "\n"


def db_marker(db: str) -> str:
    """The text every line for `db` contains (a cheap filter before parsing)."""
    return '"db":' + json.dumps(db)


def parse_line(text: str, line_no: int) -> tuple[Checkpoint, dict, str]:
    """The checkpoint, its signed body and its MAC; ValueError when the line is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("v") != LINE_VERSION:
        raise ValueError("not a checkpoint line of this version")
    mac = str(data.pop("mac", ""))
    cp = Checkpoint(
        kind=str(data["kind"]),
        db=str(data["db"]),
        keyed_from=int(data["keyed_from"]),
        last_id=int(data["last_id"]),
        last_hash=str(data["last_hash"]),
        ts=str(data["ts"]),
        key_id=str(data["key_id"]),
        line_no=line_no,
    )
    return cp, data, mac


def mac_ok(key: AuditKey, body: dict, mac: str) -> bool:
    return hmac.compare_digest(_mac(key, body), mac)


def append_line(path: Path, line: str) -> None:
    """One write with O_APPEND: lines from several processes never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# --- where the keyed era starts, per database (read once per process, then incrementally) -------


class _StartIndex:
    """The `keyed_from` of the first line for each database in a checkpoint file. First lines never
    change (the file is append-only), so each process reads the file once and then only what was added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[int, dict[str, int]]] = {}  # path -> (bytes read, db -> keyed_from)

    def keyed_from(self, path: Path, db: str) -> int | None:
        with self._lock:
            offset, starts = self._files.get(path, (0, {}))
            if db in starts:
                return starts[db]
            size = path.stat().st_size if path.exists() else 0
            if size < offset:  # the file was replaced: read it again
                offset, starts = 0, {}
            if size > offset:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read(size - offset)
                complete = chunk.rfind(b"\n") + 1  # a line being written now is read next time
                for raw in chunk[:complete].splitlines():
                    self._note(raw, starts)
                offset += complete
            self._files[path] = (offset, starts)
            return starts.get(db)

    @staticmethod
    def _note(raw: bytes, starts: dict[str, int]) -> None:
        try:
            data = json.loads(raw)
            starts.setdefault(str(data["db"]), int(data["keyed_from"]))
        except (ValueError, KeyError, TypeError):
            pass  # not a checkpoint line; verify reports it

    def remember(self, path: Path, db: str, keyed_from: int) -> None:
        with self._lock:
            offset, starts = self._files.get(path, (0, {}))
            starts.setdefault(db, keyed_from)
            self._files[path] = (offset, starts)


STARTS = _StartIndex()


@dataclass(frozen=True)
class Anchor:
    """What an appending transaction needs: the key, the file, this database's name and keyed era."""

    key: AuditKey
    path: Path
    db: str
    keyed_from: int


def anchor_for_append(engine: Engine, head_id: int, head_hash: str) -> Anchor:
    """Call with the chain head locked. The first time a database is seen in the checkpoint file, a
    "start" line pins the chain as it stands (events 1..head_id, written unkeyed by older versions)."""
    key = load_key(engine, create=True)
    assert key is not None
    path, db = checkpoint_path(engine), database_id(engine)
    keyed_from = STARTS.keyed_from(path, db)
    if keyed_from is None:
        keyed_from = head_id + 1
        start = Checkpoint("start", db, keyed_from, head_id, head_hash, now_text(), key.key_id)
        append_line(path, format_line(key, start))
        STARTS.remember(path, db, keyed_from)
    return Anchor(key, path, db, keyed_from)


def write_checkpoint(anchor: Anchor, last_id: int, last_hash: str) -> None:
    """After a commit: sign where the chain now ends. A failure is logged (the change is committed)."""
    cp = Checkpoint("checkpoint", anchor.db, anchor.keyed_from, last_id, last_hash, now_text(), anchor.key.key_id)
    try:
        append_line(anchor.path, format_line(anchor.key, cp))
    except OSError:
        log.exception("could not append an audit checkpoint to %s", anchor.path)
