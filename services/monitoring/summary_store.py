"""Day summaries in the database (monitoring_day_summary): fold new rows in, apply late outcomes and
erasures in place, read a window's days (docs/scale.md).

Derived data, like monitoring_block: written by the import path, not by a person, so no actor and no
audit event of its own (the import that brings the rows, and the erasure request, are audited where
they happen). Each change of a day is one transaction that locks the day's row (FOR UPDATE on
Postgres; SQLite serialises writers), reads the blob, updates it and bumps its generation, so two
imports touching the same day never lose each other's rows. A day's blob is the same size whatever its
row count. The monitoring refresh (services/monitoring/summary_fold.py) is what calls the `*_in`
functions, inside the transaction that also moves the summaries' watermark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core.db import read_session, write_session
from services.core.schema_monitoring import MonitoringDaySummary
from services.core.timeutil import utcnow
from services.monitoring import day_summary as dsum
from services.monitoring.day_summary_codec import FORMAT, from_bytes, to_bytes


@dataclass(frozen=True)
class DayEntry:
    day: date
    n_rows: int
    generation: int


def _locked(session: Session, model_version_id: int, day: date) -> MonitoringDaySummary | None:
    query = select(MonitoringDaySummary).where(
        MonitoringDaySummary.model_version_id == model_version_id, MonitoringDaySummary.day == day
    )
    return session.exec(query.with_for_update()).first()


def _save(session: Session, row: MonitoringDaySummary | None, model_version_id: int, summary: dsum.DaySummary) -> None:
    if row is None:
        session.add(MonitoringDaySummary(model_version_id=model_version_id, day=summary.day, n_rows=summary.n_rows,
                                         format_version=FORMAT, data=to_bytes(summary)))  # fmt: skip
        return
    row.data, row.n_rows, row.format_version = to_bytes(summary), summary.n_rows, FORMAT
    row.generation += 1
    row.updated_at = utcnow()


def fold_rows(
    engine: Engine, model_version_id: int, frame: pd.DataFrame, schema: dsum.SummarySchema
) -> dict[date, int]:
    """Folds new predictions (request_id, ts, score, predicted_label, label or NaN, features, cohorts)
    into their days' summaries, in one transaction. Returns rows folded per day."""
    with write_session(engine) as session:
        return fold_in(session, model_version_id, frame, schema)


def fold_in(session: Session, model_version_id: int, frame: pd.DataFrame, schema: dsum.SummarySchema,
            replace: bool = False) -> dict[date, int]:  # fmt: skip
    """`fold_rows` inside the caller's transaction. replace=True: the frame holds all of its days' rows
    (a rebuild), so each day's summary is replaced instead of added to."""
    if frame.empty:
        return {}
    folded = dsum.fold_chunk(frame, schema)
    for day in sorted(folded):
        row = _locked(session, model_version_id, day)
        if row is None or replace:
            summary = folded[day]
        else:
            summary = dsum.merge_days(dsum.widen(from_bytes(row.data), schema), folded[day])
        _save(session, row, model_version_id, summary)
    return {day: s.n_rows for day, s in folded.items()}


def widen_all(session: Session, model_version_id: int, schema: dsum.SummarySchema) -> int:
    """Every stored day of the version under its wider schema (the version met a new field), so all of a
    version's days share one schema; returns the days rewritten."""
    rows = session.exec(select(MonitoringDaySummary).where(
        MonitoringDaySummary.model_version_id == model_version_id).with_for_update()).all()  # fmt: skip
    for row in rows:
        _save(session, row, model_version_id, dsum.widen(from_bytes(row.data), schema))
    return len(rows)


def delete_days(session: Session, model_version_id: int, days: list[date]) -> int:
    """Removes the summaries of these days (a rebuild found no rows for them)."""
    gone = 0
    for day in days:
        row = _locked(session, model_version_id, day)
        if row is not None:
            session.delete(row)
            gone += 1
    return gone


def _update_days(engine: Engine, model_version_id: int, rows: pd.DataFrame,
                 change: Callable[[dsum.DaySummary, pd.DataFrame], int]) -> int:  # fmt: skip
    with write_session(engine) as session:
        return _update_in(session, model_version_id, rows, change)


def _update_in(session: Session, model_version_id: int, rows: pd.DataFrame,
               change: Callable[[dsum.DaySummary, pd.DataFrame], int]) -> int:  # fmt: skip
    """Applies `change` to each day the rows' prediction timestamps fall on, in the caller's transaction."""
    if rows.empty:
        return 0
    days = rows["ts"].dt.tz_convert("UTC").dt.date
    done = 0
    for day in sorted(set(days)):
        row = _locked(session, model_version_id, day)
        if row is None:
            continue  # nothing summarised for that day: the rows were never folded
        summary = from_bytes(row.data)
        done += change(summary, rows[(days == day).to_numpy()])
        _save(session, row, model_version_id, summary)
    return done


def apply_outcomes(engine: Engine, model_version_id: int, rows: pd.DataFrame) -> int:
    """Late outcomes: `rows` as day_summary.apply_outcomes wants them, plus the prediction's `ts`."""
    return _update_days(engine, model_version_id, rows, dsum.apply_outcomes)


def apply_outcomes_in(session: Session, model_version_id: int, rows: pd.DataFrame) -> int:
    """`apply_outcomes` inside the caller's transaction."""
    return _update_in(session, model_version_id, rows, dsum.apply_outcomes)


def erase(engine: Engine, model_version_id: int, rows: pd.DataFrame) -> int:
    """Erased requests leave their days' counts and samples: `rows` as day_summary.erase wants them, plus `ts`."""
    return _update_days(engine, model_version_id, rows, dsum.erase)


def erase_in(session: Session, model_version_id: int, rows: pd.DataFrame) -> int:
    """`erase` inside the caller's transaction (the audited erasure request): `rows` hold request_id, ts,
    score, predicted_label, label (NaN: none) and whatever features and cohort fields the row had; the
    ones a day's schema names but the row lacks count as missing."""
    return _update_in(session, model_version_id, rows, _erase_padded)


def _erase_padded(summary: dsum.DaySummary, part: pd.DataFrame) -> int:
    """day_summary.erase with the columns the day's schema names but the rows lack, as missing."""
    names = [*summary.schema.numeric, *summary.schema.categorical, *summary.schema.cohorts]
    return dsum.erase(summary, part.reindex(columns=[*part.columns, *[n for n in names if n not in part.columns]]))


def day_index(engine: Engine, model_version_id: int) -> list[DayEntry]:
    with read_session(engine) as session:
        query = select(MonitoringDaySummary.day, MonitoringDaySummary.n_rows, MonitoringDaySummary.generation).where(
            MonitoringDaySummary.model_version_id == model_version_id
        )
        return [DayEntry(d, n, g) for d, n, g in session.exec(query.order_by(MonitoringDaySummary.day)).all()]


def load_days(
    engine: Engine, model_version_id: int, first: date, last: date, serving: bool = True
) -> list[dsum.DaySummary]:
    """The summaries of the days from `first` to `last` that have data (serving=True: without request ids,
    for views; see day_summary_codec.from_bytes)."""
    with read_session(engine) as session:
        query = select(MonitoringDaySummary.data).where(
            MonitoringDaySummary.model_version_id == model_version_id,
            MonitoringDaySummary.day >= first, MonitoringDaySummary.day <= last,
        ).order_by(MonitoringDaySummary.day)  # fmt: skip
        blobs = session.exec(query).all()
    return [from_bytes(b, serving=serving) for b in blobs]
