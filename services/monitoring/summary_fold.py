"""Day summaries and the raw store kept current as rows arrive, incrementally (docs/scale.md, "Folding").

Every way rows arrive (file import, API, demo loader, rows a test inserts) ends in the prediction and
outcome tables, so the monitoring refresh (services/monitoring/refresh.py) is the single place that
folds, driven by its own watermark in monitoring_sync (summary_prediction_id P, summary_outcome_id O):

    the day summaries and the raw store hold exactly the predictions with id <= P,
    each labelled by its outcome when that outcome's id is <= O.

`refresh` moves (P, O) to the newest ids in steps, each one transaction holding the step's summary
changes and the new watermark, so a crash anywhere leaves a state that satisfies the rule and the next
refresh goes on from it (nothing counted twice, nothing missed):
1. outcomes with id in (O, O'] whose predictions are already folded (id <= P) move their rows between
   cells of their days' summaries (day_summary.apply_outcomes; a day is never rewritten);
2. predictions with id in (P, P'], with their outcomes up to O', are folded into their days' summaries
   and appended to the raw store as one part file per day named after the step's first id (a step
   retried after a crash rewrites the same files).
Each step locks the watermark row and goes on only if the watermark is still the one it started from, so
two refreshes, or a refresh and an erasure (which locks the same row), never interleave. Days before a
version's retention purge (`purged_before`) are frozen, as the day blocks are: their rows are gone, so
nothing is added to or moved in their summaries.

An outcome is never replaced: Outcome.request_id is unique and an import skips a known request id (a
re-sent outcome with another label changes nothing). Deleting outcome or prediction rows other than by
erasure or retention is not a supported path; `rebuild` repairs a version from its rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core.db import write_session
from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import MonitoringDaySummary, MonitoringSync
from services.monitoring import raw_store, summary_store
from services.monitoring import summary_rows as sr

Progress = Callable[[float, str], None]
PREDICTION_STEP = 100_000  # predictions folded per transaction (memory: one step's rows)
OUTCOME_STEP = 200_000  # outcome ids applied per transaction
REBUILD_DAYS = 7  # days of one version rebuilt per transaction


@dataclass
class FoldResult:
    predictions: int = 0
    outcomes: int = 0
    days: set = field(default_factory=set)  # (version, day) summaries changed
    seconds: float = 0.0
    rebuilt: bool = False
    stale: bool = False  # another refresh moved the watermark meanwhile: it goes on from there

    def summary(self) -> str:
        if not (self.predictions or self.outcomes or self.rebuilt):
            return "Day summaries are up to date."
        what = "rebuilt" if self.rebuilt else "updated"
        return (f"Day summaries {what}: {self.predictions:,} prediction(s) folded, {self.outcomes:,} late "
                f"outcome(s) applied, {len(self.days):,} day(s) changed in {self.seconds:.1f} s.")  # fmt: skip


# --- the watermark -------------------------------------------------------------------------------------


def watermark(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(MonitoringSync.summary_prediction_id, MonitoringSync.summary_outcome_id)
                           .where(MonitoringSync.id == 1)).first()  # fmt: skip
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _ensure_row(engine: Engine) -> None:
    with write_session(engine) as session:
        if session.get(MonitoringSync, 1) is None:
            session.add(MonitoringSync(id=1))


def lock(session: Session) -> tuple[int, int]:
    """Locks the watermark row for this transaction (FOR UPDATE; SQLite's write lock is already held)
    and returns (P, O)."""
    row = session.execute(sa.select(MonitoringSync.summary_prediction_id, MonitoringSync.summary_outcome_id)
                          .where(MonitoringSync.id == 1).with_for_update()).first()  # fmt: skip
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _move(session: Session, p: int, o: int) -> None:
    session.execute(sa.update(MonitoringSync).where(MonitoringSync.id == 1)
                    .values(summary_prediction_id=p, summary_outcome_id=o))  # fmt: skip


def _maxima(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        p = conn.execute(sa.text("SELECT max(id) FROM prediction")).scalar() or 0
        o = conn.execute(sa.text("SELECT max(id) FROM outcome")).scalar() or 0
    return int(p), int(o)


def behind(engine: Engine) -> bool:
    """True when predictions or outcomes wait to be folded (two index lookups)."""
    return watermark(engine) != _maxima(engine)


# --- folding -------------------------------------------------------------------------------------------


def _live_rows(session: Session, rows: sr.Rows):
    """Per model version among the rows: its fold info and the positions of its rows on days not frozen by
    a retention purge (a version with none is left out)."""
    for mv, info in sr.versions(session, np.unique(rows.version).tolist()).items():
        pick = np.flatnonzero(rows.version == mv)
        if info.purged_before is not None:
            pick = pick[rows.ts[pick].astype("datetime64[D]") >= np.datetime64(info.purged_before, "D")]
        if len(pick):
            yield mv, info, pick


def _fold_step(session: Session, rows: sr.Rows, root: Path | None, result: FoldResult, replace: bool = False,
               part: str | None = None) -> None:  # fmt: skip
    """Folds rows (any versions) into their days' summaries and appends them to the raw store."""
    for mv, info, pick in _live_rows(session, rows):
        table = sr.typed(rows, pick, info)
        if info.grown:
            sr.save_fields(session, info)
            summary_store.widen_all(session, mv, info.schema())
        if root is not None and raw_store.NAME.match(info.model_name):
            raw_store.append_table(root, info.model_name, info.version, table, part)
        folded = summary_store.fold_in(session, mv, sr.fold_frame(table, info), info.schema(), replace=replace)
        result.days |= {(mv, d) for d in folded}


def _outcome_step(session: Session, rows: sr.Rows, result: FoldResult) -> None:
    for mv, info, pick in _live_rows(session, rows):
        frame = sr.fold_frame(sr.typed(rows, pick, info, with_features=False), info)
        if info.grown:  # a cohort field only outcomes' predictions have: the fold met it already
            info.grown = False
        frame["previous_label"] = np.nan  # outcomes are never replaced (see the module)
        frame = frame.dropna(subset=["label"])
        summary_store.apply_outcomes_in(session, mv, frame)
        result.days |= {(mv, d) for d in set(frame["ts"].dt.date)}


def refresh(engine: Engine, progress: Progress | None = None) -> FoldResult:
    """Folds every prediction and outcome newer than the summaries' watermark (see the module)."""
    started = time.perf_counter()
    result = FoldResult()
    p0, o0 = watermark(engine)
    max_p, max_o = _maxima(engine)
    if (p0, o0) == (max_p, max_o):
        return result
    if max_p < p0 or max_o < o0:  # rows were deleted from the end (ids may be reused): start over
        return rebuild_all(engine, progress)
    _ensure_row(engine)
    root = raw_store.root_for(engine)
    total = max(max_p - p0 + (max_o - o0), 1)
    o = o0
    while o < max_o:  # 1. late outcomes of predictions already folded
        hi = min(o + OUTCOME_STEP, max_o)
        with write_session(engine) as session:
            if lock(session) != (p0, o):
                result.stale = True
                return _done(result, started)
            rows = sr.late_outcomes(session, o, hi, p0)
            _outcome_step(session, rows, result)
            _move(session, p0, hi)
        result.outcomes += len(rows)
        o = hi
        if progress:
            progress((o - o0) / total, f"late outcomes applied up to id {o:,}")
    p = p0
    while p < max_p:  # 2. new predictions, with their outcomes so far
        with write_session(engine) as session:
            if lock(session) != (p, max_o):
                result.stale = True
                return _done(result, started)
            rows = sr.new_predictions(session, p, max_p, max_o, PREDICTION_STEP)
            hi = int(rows.ids[-1]) if len(rows) and len(rows) == PREDICTION_STEP else max_p
            if len(rows):
                _fold_step(session, rows, root, result, part=f"p{int(rows.ids[0])}")
            _move(session, hi, max_o)
        result.predictions += len(rows)
        p = hi
        if progress:
            progress(((max_o - o0) + (p - p0)) / total, f"predictions folded up to id {p:,}")
    return _done(result, started)


def _done(result: FoldResult, started: float) -> FoldResult:
    result.seconds = time.perf_counter() - started
    return result


# --- rebuilding ----------------------------------------------------------------------------------------


def rebuild_all(engine: Engine, progress: Progress | None = None) -> FoldResult:
    """Every version from the tables: in one transaction the summaries of every day that is not frozen,
    their raw-store days and the watermark are reset to nothing, then `refresh` folds every row again.
    A crash in between leaves the empty state, which the next refresh fills."""
    started = time.perf_counter()
    _ensure_row(engine)
    root = raw_store.root_for(engine)
    with write_session(engine) as session:
        lock(session)
        stored = session.execute(sa.select(MonitoringDaySummary.model_version_id, MonitoringDaySummary.day)).all()
        all_versions = session.execute(sa.select(ModelVersion.id)).scalars().all()
        infos = sr.versions(session, [int(v) for v in all_versions])
        for mv, info in infos.items():
            days = {_as_date(d) for m, d in stored if int(m) == mv} | set(_raw_days(root, info))
            gone = sorted(d for d in days if not info.frozen(d))
            summary_store.delete_days(session, mv, gone)
            _drop_raw(root, info, gone)
        _move(session, 0, 0)
    result = refresh(engine, progress)
    result.rebuilt, result.seconds = True, time.perf_counter() - started
    return result


def rebuild_version(engine: Engine, model_version_id: int, progress: Progress | None = None,
                    on_last: Callable[[Session, FoldResult], None] | None = None) -> FoldResult:  # fmt: skip
    """One version's summaries and raw-store days from its rows, a run of days per transaction: each run
    is read and replaced under the watermark's lock, with the watermark of that moment, so refreshes may
    go on in between. Days before the version's retention purge keep their summaries. `on_last(session,
    result)` runs inside the last transaction (the admin service's audit event)."""
    started = time.perf_counter()
    result = FoldResult(rebuilt=True)
    _ensure_row(engine)
    root = raw_store.root_for(engine)
    with write_session(engine) as session:
        p, _ = lock(session)
        info = sr.versions(session, [model_version_id]).get(model_version_id)
        if info is None:
            return _done(result, started)
        stored = session.execute(sa.select(MonitoringDaySummary.day).where(
            MonitoringDaySummary.model_version_id == model_version_id)).scalars().all()  # fmt: skip
        days = sorted({*sr.day_counts(session, model_version_id, p), *(_as_date(d) for d in stored),
                       *_raw_days(root, info)})  # fmt: skip
        days = [d for d in days if not info.frozen(d)]
        runs = _runs(days)
        if not runs and on_last:
            on_last(session, result)
            return _done(result, started)
    for i, (first, last) in enumerate(runs):
        with write_session(engine) as session:
            p, o = lock(session)
            info = sr.versions(session, [model_version_id])[model_version_id]
            rows = sr.version_days(session, model_version_id, first, last, p, o)
            run_days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
            _drop_raw(root, info, run_days)
            with_rows = set(rows.ts.astype("datetime64[D]").astype(object).tolist()) if len(rows) else set()
            summary_store.delete_days(session, model_version_id, [d for d in run_days if d not in with_rows])
            if len(rows):
                _fold_step(session, rows, root, result, replace=True, part=f"r{int(rows.ids[0])}")
            result.predictions += len(rows)
            if on_last and i == len(runs) - 1:
                on_last(session, result)
        if progress:
            progress((i + 1) / len(runs), f"version {model_version_id}: {first} to {last} rebuilt")
    return _done(result, started)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for d in days:
        if runs and (d - runs[-1][0]).days < REBUILD_DAYS:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def _drop_raw(root: Path | None, info: sr.VersionInfo, days: list[date]) -> None:
    if root is not None and raw_store.NAME.match(info.model_name):
        raw_store.drop_days(root, info.model_name, info.version, days)


def _raw_days(root: Path | None, info: sr.VersionInfo) -> list[date]:
    if root is None or not raw_store.NAME.match(info.model_name):
        return []
    return raw_store.days(root, info.model_name, info.version)


def _as_date(d) -> date:
    return d if isinstance(d, date) else date.fromisoformat(str(d))
