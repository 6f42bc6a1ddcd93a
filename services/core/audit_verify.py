"""`audit verify`: walk the chain, check each hash (HMAC with the key from the keyed era on), compare
the chain head and the signed checkpoints written outside the database, and say what was checked."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core import audit_anchor as anchor
from services.core.audit_anchor import AuditKey, AuditKeyError, Checkpoint
from services.core.audit_hash import GENESIS_HASH, hashed_text
from services.core.schema_accounts import AuditHead


@dataclass(frozen=True)
class ChainReport:
    """`intact`, `checked`, `first_bad_id`, `problem` and `message()` are what callers used before
    the keyed chain; the other fields say what was checked."""

    intact: bool
    checked: int
    first_bad_id: int | None = None
    problem: str = ""
    signed: int = 0  # events whose HMAC matched the key
    unsigned: int = 0  # events from before the keyed era, plain SHA-256
    key_source: str = ""  # where the key came from; "" when none was found
    checkpoint_file: str = ""
    checkpoints: int = 0  # signed lines for this database in the checkpoint file
    latest_checkpoint: int | None = None  # the highest event id a checkpoint vouches for
    notes: tuple[str, ...] = ()

    def message(self) -> str:
        if self.intact:
            return f"Audit chain intact: {self.checked:,} events verified. {self.summary()}"
        where = f"BROKEN at event {self.first_bad_id}" if self.first_bad_id is not None else "NOT VERIFIED"
        return f"Audit chain {where}: {self.problem} ({self.checked:,} events checked before it)."

    def summary(self) -> str:
        key = f"key from {self.key_source}" if self.key_source else "no key found"
        text = f"{self.signed:,} signed with the audit key ({key}), {self.unsigned:,} from before the key."
        if self.latest_checkpoint is None:
            return f"{text} No checkpoint for this database in {self.checkpoint_file}."
        return (
            f"{text} Checkpoint file {self.checkpoint_file}: {self.checkpoints:,} checkpoints; "
            f"the latest vouches for events 1-{self.latest_checkpoint:,} and matches."
        )

    def details(self) -> list[str]:
        """The message, then what was checked, one line each (for the shell)."""
        return [self.message(), *(f"  note: {n}" for n in self.notes)] + (
            [] if self.intact else [f"  {self.summary()}"]
        )


@dataclass
class _Log:
    """This database's lines in the checkpoint file."""

    lines: int = 0
    start: Checkpoint | None = None
    marks: dict[int, tuple[str, int]] = field(default_factory=dict)  # event id -> (hash, line number)
    problem: str = ""
    notes: list[str] = field(default_factory=list)


def _check_line(cp: Checkpoint, body: dict, mac: str, key: AuditKey | None, log: _Log) -> str:
    if key is None:
        return f"line {cp.line_no} is signed, but no key was found to check it"
    if cp.key_id != key.key_id:
        return f"line {cp.line_no} was signed with another key (id {cp.key_id}; this key's id is {key.key_id})"
    if not anchor.mac_ok(key, body, mac):
        return f"line {cp.line_no}'s signature does not match (the line was edited)"
    if log.start is not None and cp.keyed_from != log.start.keyed_from:
        return f"line {cp.line_no} disagrees with line {log.start.line_no} on where the keyed era starts"
    seen = log.marks.get(cp.last_id)
    if seen is not None and seen[0] != cp.last_hash:  # the walk finds the event that matches neither or one
        log.notes.append(
            f"lines {seen[1]} and {cp.line_no} of the checkpoint file disagree about event {cp.last_id}: "
            "the database was rolled back (a restore, or tampering) and written again"
        )
    return ""


def _read_log(path: Path, db: str, key: AuditKey | None) -> _Log:
    log = _Log()
    if not path.exists():
        return log
    marker = anchor.db_marker(db)
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line_no, raw in enumerate(handle, 1):
            if marker not in raw:
                continue
            try:
                cp, body, mac = anchor.parse_line(raw, line_no)
            except (ValueError, KeyError, TypeError):
                if raw.endswith("\n"):
                    log.problem = f"line {line_no} of the checkpoint file is not a checkpoint (edited)"
                    return log
                log.notes.append("the last line of the checkpoint file is incomplete (a write was cut short)")
                continue
            log.problem = _check_line(cp, body, mac, key, log)
            if log.problem:
                return log
            log.lines += 1
            log.start = log.start or cp
            log.marks.setdefault(cp.last_id, (cp.last_hash, line_no))
    return log


@dataclass
class _Walk:
    checked: int = 0
    signed: int = 0
    unsigned: int = 0
    last_hash: str = GENESIS_HASH
    bad_id: int | None = None
    problem: str = ""


def _fit(row: tuple, walk: _Walk, key: AuditKey | None, keyed_from: int | None, log: _Log) -> str:
    """Why this event does not fit the chain, or ""."""
    event_id, ts, actor, action, stype, sid, payload, prev_hash, digest = row
    if event_id != walk.checked + 1:
        return f"events {walk.checked + 1}..{event_id - 1} are missing (deleted)"
    if prev_hash != walk.last_hash:
        return "its link to the previous event does not match (rows deleted or reordered)"
    text = hashed_text(event_id, ts, actor, action, stype, sid, payload, prev_hash)
    if keyed_from is not None and event_id >= keyed_from:
        if key is None:
            return f"events from {keyed_from} on are signed, but no audit key was found to check them"
        if key.sign(text) != digest:
            return "its content does not match its signature (row edited, or written without the audit key)"
        walk.signed += 1
    elif hashlib.sha256(text.encode("utf-8")).hexdigest() == digest:
        walk.unsigned += 1
    elif key is not None and key.sign(text) == digest:
        walk.signed += 1
    else:
        return "its content does not match its hash (row edited)"
    mark = log.marks.get(event_id)
    if mark is not None and mark[0] != digest:
        return f"its hash differs from the one signed on line {mark[1]} of the checkpoint file (row edited or replaced)"
    return ""


def _walk(engine: Engine, key: AuditKey | None, log: _Log, batch_size: int) -> tuple[_Walk, dict | None]:
    # Raw SQL on purpose: the driver's values, without ORM type processing (3x faster at 1M rows).
    query = (
        "SELECT id, ts, actor, action, subject_type, subject_id, payload, prev_hash, hash FROM audit_event ORDER BY id"
    )
    keyed_from = log.start.keyed_from if log.start else None
    walk = _Walk()
    with engine.connect() as conn:
        head = conn.execute(sa.select(AuditHead.__table__)).mappings().first()
        result = conn.execution_options(stream_results=True, yield_per=batch_size).exec_driver_sql(query)
        for row in result:
            walk.problem = _fit(tuple(row), walk, key, keyed_from, log)
            if walk.problem:
                walk.bad_id = row[0]
                break
            walk.last_hash, walk.checked = row[8], walk.checked + 1
    return walk, head


def _after_walk(walk: _Walk, head: dict | None, log: _Log, path: Path) -> tuple[int, str] | None:
    """The head and the checkpoints against where the chain ends: (first bad id, problem) or None."""
    head_id = head["last_event_id"] if head else 0
    head_hash = head["last_hash"] if head else GENESIS_HASH
    if head_id != walk.checked or head_hash != walk.last_hash:
        problem = (
            f"the chain head says {head_id} events but the table holds {walk.checked} (head or rows tampered with)"
        )
        return walk.checked + 1, problem
    latest = max(log.marks, default=0)
    if latest > walk.checked:
        line = log.marks[latest][1]
        return walk.checked + 1, (
            f"line {line} of {path} vouches for {latest:,} events but the database has "
            f"{walk.checked:,} (events cut from the end, or wiped)"
        )
    return None


def verify(engine: Engine, batch_size: int = 20_000) -> ChainReport:
    """Walk the whole chain in id order and report the first thing that does not fit."""
    path = anchor.checkpoint_path(engine)
    try:
        key = anchor.load_key(engine)
    except AuditKeyError as exc:
        return ChainReport(False, 0, None, str(exc), checkpoint_file=str(path))
    source = key.source if key else ""
    log = _read_log(path, anchor.database_id(engine), key)
    notes = list(log.notes)
    if key is not None and not anchor.key_env():
        notes += filter(None, [anchor.key_file_warning(anchor.key_file(engine))])
    base = {"key_source": source, "checkpoint_file": str(path), "checkpoints": log.lines}
    if log.problem:
        return ChainReport(False, 0, None, f"checkpoint file {path}: {log.problem}", notes=tuple(notes), **base)
    walk, head = _walk(engine, key, log, batch_size)
    counts = {"signed": walk.signed, "unsigned": walk.unsigned, **base}
    if walk.problem:
        return ChainReport(False, walk.checked, walk.bad_id, walk.problem, notes=tuple(notes), **counts)
    failure = _after_walk(walk, head, log, path)
    if failure:
        return ChainReport(False, walk.checked, failure[0], failure[1], notes=tuple(notes), **counts)
    if log.start is None and walk.checked:
        notes.append(
            f"no checkpoint for this database yet in {path}: the events are not anchored outside the database "
            "(the next audit write anchors them)"
        )
    latest = max(log.marks, default=None)
    if latest is not None and latest < walk.checked:
        notes.append(f"events {latest + 1}-{walk.checked} have no checkpoint yet (a write was interrupted?)")
    return ChainReport(True, walk.checked, latest_checkpoint=latest, notes=tuple(notes), **counts)
