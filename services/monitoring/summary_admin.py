"""Day summaries for an admin: check a version's summaries and raw store against its table rows, and
rebuild them from the rows (audited; worker job `monitoring.summaries.rebuild`, CLI
`python -m services monitoring rebuild-summaries MODEL VERSION` and `check-summaries`).

The check holds the watermark row's lock while it reads, so no refresh moves it meanwhile, and compares
what the fold rule (services/monitoring/summary_fold.py) says the summaries hold, i.e. the predictions with
id <= P labelled by outcomes with id <= O, day by day: rows, labelled rows and positives, overall and per
cohort value, and the raw store's rows per day. Days before the version's retention purge are skipped
(their rows are gone on purpose; their summaries stay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_ingest import Prediction
from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import MonitoringDaySummary
from services.monitoring import day_summary as dsum
from services.monitoring import raw_store, summary_fold
from services.monitoring import summary_rows as sr
from services.monitoring.day_summary_codec import from_bytes

KIND = "monitoring.summaries.rebuild"


@dataclass(frozen=True)
class Mismatch:
    day: date
    stratum: tuple[str, str]  # ("", "") every row; else (cohort field, value); ("raw", "") the raw store
    what: str  # rows, labelled, positives
    summary: int
    table: int


@dataclass(frozen=True)
class CheckResult:
    model_version_id: int
    days: int
    rows: int
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        if self.ok:
            return f"Day summaries agree with the table: {self.days} day(s), {self.rows:,} row(s)."
        first = "; ".join(f"{m.day} {m.stratum} {m.what}: summary {m.summary}, table {m.table}"
                          for m in self.mismatches[:5])  # fmt: skip
        return f"{len(self.mismatches)} difference(s) between the day summaries and the table: {first}."


def _counts(summary: dsum.DaySummary) -> dict[tuple[str, str], tuple[int, int, int]]:
    c = summary.counts
    return {key: (int(c[i].sum()), int(c[i, 1:].sum()), int(c[i, 2].sum())) for i, key in enumerate(summary.strata)}


def _table_counts(frame, cohorts: tuple[str, ...]) -> dict[tuple[str, str], tuple[int, int, int]]:
    label = frame["label"].to_numpy(dtype=np.float64)
    known, positive = np.isin(label, (0, 1)), label == 1
    out = {dsum.ALL: (len(frame), int(known.sum()), int(positive.sum()))}
    for f in cohorts:
        values = frame[f].astype(object)
        for v in values.dropna().unique():
            sel = (values == v).to_numpy()
            out[(f, str(v))] = (int(sel.sum()), int((known & sel).sum()), int((positive & sel).sum()))
    return out


def check_version(engine: Engine, model_version_id: int) -> CheckResult:
    """Each day's summary counts against the table's, and the raw store's rows per day (see the module)."""
    root = raw_store.root_for(engine)
    mismatches: list[Mismatch] = []
    with write_session(engine) as session:
        p, o = summary_fold.lock(session)
        info = sr.versions(session, [model_version_id]).get(model_version_id)
        if info is None:
            raise NotFound(f"No model version with id {model_version_id}.")
        bounds = session.execute(sa.select(sa.func.min(Prediction.ts), sa.func.max(Prediction.ts))
                                 .where(Prediction.model_version_id == model_version_id)).first()  # fmt: skip
        rows = sr.empty() if bounds is None or bounds[0] is None else sr.version_days(
            session, model_version_id, bounds[0].date(), bounds[1].date(), p, o)  # fmt: skip
        stored = {d if isinstance(d, date) else date.fromisoformat(str(d)): from_bytes(b) for d, b in session.execute(
            sa.select(MonitoringDaySummary.day, MonitoringDaySummary.data)
            .where(MonitoringDaySummary.model_version_id == model_version_id)).all()}  # fmt: skip
    frame = sr.fold_frame(sr.typed(rows, np.arange(len(rows)), info), info) if len(rows) else None
    by_day = {} if frame is None else dict(tuple(frame.groupby(frame["ts"].dt.date)))
    days = sorted(d for d in {*by_day, *stored} if not info.frozen(d))
    for d in days:
        mine = _counts(stored[d]) if d in stored else {}
        theirs = _table_counts(by_day[d], info.schema().cohorts) if d in by_day else {}
        for key in sorted({*mine, *theirs}):
            for what, a, b in zip(("rows", "labelled", "positives"), mine.get(key, (0, 0, 0)),
                                  theirs.get(key, (0, 0, 0)), strict=True):  # fmt: skip
                if a != b:
                    mismatches.append(Mismatch(d, key, what, a, b))
        if root is not None and raw_store.NAME.match(info.model_name):
            raw = raw_store.day_row_count(root, info.model_name, info.version, d)
            table = len(by_day[d]) if d in by_day else 0
            if raw != table:
                mismatches.append(Mismatch(d, ("raw", ""), "rows", raw, table))
    return CheckResult(model_version_id, len(days), len(rows), mismatches)


def version_id(engine: Engine, model_name: str, version: int) -> int:
    with read_session(engine) as session:  # a lookup: no write lock (the raw-row queries call it per request)
        found = session.exec(select(ModelVersion.id).where(ModelVersion.model_name == model_name,
                                                           ModelVersion.version == int(version))).first()  # fmt: skip
    if found is None:
        raise NotFound(f"No version {version} of a model named {model_name!r}.")
    return int(found)


def rebuild_summaries(engine: Engine, actor: Actor, model_name: str, version: int,
                      progress: summary_fold.Progress | None = None) -> summary_fold.FoldResult:  # fmt: skip
    """Rebuild one version's day summaries and raw-store days from its table rows (admins only). The
    audit event is written in the rebuild's last transaction, with what it rebuilt."""
    require(actor, Role.admin, "rebuild the day summaries")
    mv = version_id(engine, model_name, version)

    def record(session, result: summary_fold.FoldResult) -> None:
        audit.record(session, actor, "monitoring.summaries_rebuild", "model_version", str(mv), {
            "model": model_name, "version": int(version), "predictions": result.predictions,
            "days": len(result.days)})  # fmt: skip

    return summary_fold.rebuild_version(engine, mv, progress, on_last=record)
