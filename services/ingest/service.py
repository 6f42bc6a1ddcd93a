"""The import service: read -> validate -> (one transaction) check against the database, write new rows,
audit. All or nothing: any bad row rejects the whole file and nothing is written. After new predictions
or outcomes are committed, the alert rules are evaluated (services.monitoring.alerts.evaluate_after_import, its own
audited transaction; one lookup when no rule is enabled); after new exposures or metric observations,
the guard-rails of the running experiments the file touched (services.experiments.guard: SRM and
guardrail alerts, the stop proposal).

Idempotency: a row whose natural id (request_id, feedback_id, experiment+unit+variant,
experiment+unit+metric) is already in the database is "known": it is skipped and the stored row is
left unchanged, even when the file's values differ (re-importing never overwrites; correct data by
importing under a new id). The result counts new and known rows.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core import audit
from services.core.db import write_session
from services.core.errors import Conflict, InvalidInput
from services.core.roles import Actor, Role, require
from services.core.schema_monitoring import AlertRule
from services.core.timeutil import utcnow
from services.experiments import guard as experiment_guard
from services.ingest import readers, write
from services.ingest.kinds import KINDS, KindSpec
from services.ingest.problems import ImportResult, ProblemLog
from services.ingest.validate import Catalog, Prepared, check_database, check_frame
from services.monitoring import alerts

Progress = Callable[[float, str], None]
AUDIT_ACTION = "data.import"
ALERTING_KINDS = ("predictions", "outcomes")  # what alert rules watch: evaluated after these imports
GUARDED_KINDS = ("exposures", "metrics")  # what the experiments' guard-rails read: checked after these imports
logger = logging.getLogger(__name__)

# Share of the progress bar per stage.
_READ, _CHECK, _DB, _WRITE = 0.05, 0.35, 0.45, 0.98


def _spec(kind: str) -> KindSpec:
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidInput(f"Unknown import kind {kind!r}; expected one of: {', '.join(KINDS)}.")
    return spec


class _Reporter:
    """Maps stage-relative progress onto 0..1 and never goes backwards."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        if self.progress is None:
            return
        self.last = max(self.last, min(max(fraction, 0.0), 1.0))
        self.progress(self.last, message)

    def stage(self, low: float, high: float) -> Progress:
        return lambda f, m: self(low + (high - low) * f, m)


def import_file(
    engine: Engine,
    actor: Actor,
    kind: str,
    source: str | Path | bytes | BinaryIO,
    file_name: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one CSV or Parquet file (path, bytes or file-like such as Streamlit's UploadedFile).
    Raises ImportRejected (nothing written) listing the first 20 problems, PermissionDenied below analyst."""
    spec = _spec(kind)
    require(actor, Role.analyst, f"import {kind}")
    started = time.perf_counter()
    report = _Reporter(progress)
    report(0.0, "reading the file")
    loaded = readers.load(source, file_name)
    report(_READ, f"read {len(loaded.frame):,} rows")
    return _run(engine, actor, spec, loaded, started, report)


def import_frame(
    engine: Engine,
    actor: Actor,
    kind: str,
    frame: pd.DataFrame,
    source_name: str,
    progress: Progress | None = None,
) -> ImportResult:
    """Same as import_file for a DataFrame with the file's columns (text or typed values).
    The audit payload's sha256 is taken over the column names and pandas' row hashes."""
    spec = _spec(kind)
    require(actor, Role.analyst, f"import {kind}")
    started = time.perf_counter()
    report = _Reporter(progress)
    loaded = readers.from_frame(frame, source_name)
    report(_READ, f"{len(loaded.frame):,} rows")
    return _run(engine, actor, spec, loaded, started, report)


def _write_rows(
    session: Session, actor: Actor, spec: KindSpec, prep: Prepared, columns: write.Columns, log: ProblemLog,
    loaded: readers.Loaded, import_id: str, report: _Reporter,
) -> tuple[int, int, np.ndarray, int]:  # fmt: skip
    """Inside the import's transaction: check against the database, insert the new rows, audit.
    (new rows, known rows, the known mask, redactions in the new rows)."""
    conn = session.connection()
    if write.is_postgres(conn):  # one import per table at a time: known-id lookups stay true
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"loopdeck.ingest.{write.TABLES[spec.name]}"},
        )
    report(_CHECK, "checking against the database")
    check_database(conn, prep, log, write.existing)
    log.raise_if_any()
    known = prep.known
    n_known = int(known.sum())
    new_rows = np.flatnonzero(~known) if n_known else None
    n_new = prep.n - n_known
    report(_DB, f"writing {n_new:,} new rows")
    write_stage = report.stage(_DB, _WRITE)
    write.insert(
        conn,
        spec.name,
        columns,
        new_rows,
        prep.n,
        lambda done: write_stage(done / max(n_new, 1), f"wrote {done:,} of {n_new:,} rows"),
    )
    redactions = 0
    if prep.redactions is not None:
        redactions = int(prep.redactions[~known].sum())
    audit.record(
        session,
        actor,
        AUDIT_ACTION,
        "import",
        import_id,
        {
            "kind": spec.name,
            "file_name": loaded.file_name,
            "format": loaded.format,
            "rows": prep.n,
            "new": n_new,
            "known": n_known,
            "redactions": redactions,
            "sha256": loaded.sha256,
        },
    )
    return n_new, n_known, known, redactions


def _follow_ups(
    engine: Engine, actor: Actor, kind: str, import_id: str, n_new: int, prep: Prepared, known: np.ndarray,
    report: _Reporter,
) -> tuple[tuple[int, ...], str]:  # fmt: skip
    """After the commit: the alert rules (predictions, outcomes) or the touched experiments' guard rails
    (exposures, metric observations), each in transactions of their own."""
    opened: tuple[int, ...] = ()
    alerts_error = ""
    if kind in ALERTING_KINDS and n_new:
        report(_WRITE, "evaluating alert rules")
        opened, alerts_error = _evaluate_alerts(engine, actor, import_id)
    if kind in GUARDED_KINDS and n_new:
        report(_WRITE, "checking the experiments' guard-rails")
        touched = prep.columns["experiment_id"][~known].dropna()
        opened, alerts_error = _evaluate_guards(engine, actor, import_id, pd.unique(touched).tolist())
    return opened, alerts_error


def _run(
    engine: Engine, actor: Actor, spec: KindSpec, loaded: readers.Loaded, started: float, report: _Reporter
) -> ImportResult:
    log = ProblemLog(loaded.file_name, loaded.row_offset)
    with engine.connect() as conn:
        catalog = Catalog.load(conn, spec.name)
    prep = check_frame(spec, loaded.frame, catalog, log, report.stage(_READ, _CHECK))
    loaded.frame = None  # the typed columns are all we need from here on
    if log:
        # Report database problems too (outcome for an unknown prediction...), without the write lock.
        with engine.connect() as conn:
            check_database(conn, prep, log, write.existing)
        raise log.reject()
    columns = write.Columns(prep, _constants(spec.name, actor), postgres=engine.dialect.name == "postgresql")
    prep.release_all_but_keys()  # the formatted columns hold the values now; keep memory down
    import_id = f"imp-{utcnow():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    try:
        with write_session(engine) as session:
            n_new, n_known, known, redactions = _write_rows(
                session, actor, spec, prep, columns, log, loaded, import_id, report
            )
            report(_WRITE, "committing")
    except (sqlite3.IntegrityError, sa.exc.IntegrityError) as exc:
        raise Conflict(
            f"{loaded.file_name} was not imported: the database changed while importing ({exc}). Try again."
        ) from None
    except Exception as exc:
        if _is_psycopg_integrity(exc):
            raise Conflict(
                f"{loaded.file_name} was not imported: the database changed while importing "
                f"({str(exc).splitlines()[0]}). Try again."
            ) from None
        raise
    opened, alerts_error = _follow_ups(engine, actor, spec.name, import_id, n_new, prep, known, report)
    seconds = time.perf_counter() - started
    report(1.0, "done")
    return ImportResult(
        spec.name,
        loaded.file_name,
        prep.n,
        n_new,
        n_known,
        redactions,
        seconds,
        import_id,
        loaded.sha256,
        opened,
        alerts_error,
    )


def _evaluate_alerts(engine: Engine, actor: Actor, import_id: str) -> tuple[tuple[int, ...], str]:
    """Evaluate the alert rules on the committed import (their own transaction, audited with the import id).
    A failure here does not undo the import: it is reported with the result and logged."""
    try:
        with engine.connect() as conn:  # nothing watches: one lookup, no refresh of the blocks
            if conn.execute(sa.select(AlertRule.id).where(AlertRule.enabled.is_(True)).limit(1)).first() is None:  # type: ignore[attr-defined]
                return (), ""
        return tuple(a.id for a in alerts.evaluate_after_import(engine, actor, import_id)), ""
    except Exception as exc:  # the import is committed: say so rather than fail it
        logger.exception("alert rules were not evaluated after import %s", import_id)
        return (), f"{type(exc).__name__}: {exc}"


def _evaluate_guards(engine: Engine, actor: Actor, import_id: str, experiment_ids: list) -> tuple[tuple[int, ...], str]:
    """The guard-rails of the running experiments among those the import touched (their own
    transactions). A failure here does not undo the import: it is reported with the result and logged."""
    try:
        results = experiment_guard.evaluate_after_import(engine, actor, experiment_ids)
        return tuple(i for r in results for i in r.opened), ""
    except Exception as exc:  # the import is committed: say so rather than fail it
        logger.exception("experiment guard-rails were not checked after import %s", import_id)
        return (), f"{type(exc).__name__}: {exc}"


def _is_psycopg_integrity(exc: Exception) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.errors.IntegrityError)


def _constants(kind: str, actor: Actor) -> dict[str, object]:
    if kind == "feedback":
        return {"status": "new", "priority": "normal", "version": 1, "updated_at": utcnow(), "updated_by": actor.label}
    return {}


HISTORY_COLUMNS = ["when", "who", "kind", "file_name", "rows", "new", "known", "redactions", "import_id", "sha256"]


def import_history(engine: Engine, limit: int = 200) -> pd.DataFrame:
    """Past imports from the audit log, newest first: when, who, kind, file, rows, new, known..."""
    events = audit.list_events(engine, audit.AuditFilter(action=AUDIT_ACTION), limit=limit)
    rows = []
    for ev in events.itertuples(index=False):
        payload = json.loads(ev.payload) if ev.payload else {}
        rows.append(
            {
                "when": ev.ts,
                "who": ev.actor,
                "kind": payload.get("kind"),
                "file_name": payload.get("file_name"),
                "rows": payload.get("rows"),
                "new": payload.get("new"),
                "known": payload.get("known"),
                "redactions": payload.get("redactions", 0),
                "import_id": ev.subject_id,
                "sha256": payload.get("sha256"),
            }
        )
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
