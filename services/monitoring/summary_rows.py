"""Prediction rows read from the tables for the day summaries and the raw store (services/monitoring/
summary_fold.py): one SQL read per batch on the driver's cursor, the features' and cohorts' JSON parsed in
one pyarrow call each (services/monitoring/block_codec.py), every field typed by its version's summary
fields (table monitoring_summary_schema) so all days of a version agree.

A version's fields are fixed when first seen and only ever extended: a feature is numeric or categorical
as the version's feature_schema declares, else as its first values look (numbers: numeric; anything else:
categorical), as the day blocks type them. A feature or cohort field whose name is taken (a base column
such as `score`, or a cohort field named like a feature) is stored as `feature_<name>` / `cohort_<name>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlmodel import Session, select

from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import MonitoringSummarySchema
from services.core.schema_retention import RetentionPolicy
from services.core.timeutil import utcnow
from services.monitoring import day_summary as dsum
from services.monitoring.block_codec import gc_paused, parse_json_objects, take
from services.monitoring.blocks import CATEGORICAL, NUMERIC, as_number, as_text

BASE = ("request_id", "ts", "score", "predicted_label", "label", "previous_label", "priority")


@dataclass
class VersionInfo:
    id: int
    model_name: str
    version: int
    declared: dict[str, str]  # feature_schema: {name: "numeric" | "categorical"}
    fields: dict = field(default_factory=dict)  # numeric, categorical, cohorts (column names), keys {column: key}
    purged_before: date | None = None  # days before this one are frozen (retention purged their rows)
    grown: bool = False  # fields were added by this batch: save them and widen the stored days

    def schema(self) -> dsum.SummarySchema:
        f = self.fields
        return dsum.SummarySchema(tuple(f.get("numeric", ())), tuple(f.get("categorical", ())),
                                  tuple(f.get("cohorts", ())))  # fmt: skip

    def frozen(self, day: date) -> bool:
        return self.purged_before is not None and day < self.purged_before


def versions(session: Session, ids: Sequence[int]) -> dict[int, VersionInfo]:
    """Each version's name, declared features, summary fields and retention cutoff."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        return {}
    rows = session.exec(select(ModelVersion.id, ModelVersion.model_name, ModelVersion.version,
                               ModelVersion.feature_schema).where(ModelVersion.id.in_(ids))).all()  # type: ignore[union-attr]  # fmt: skip
    out = {int(i): VersionInfo(int(i), n, int(v), dict(s or {})) for i, n, v, s in rows}
    for mv, fields in session.exec(select(MonitoringSummarySchema.model_version_id, MonitoringSummarySchema.fields)
                                   .where(MonitoringSummarySchema.model_version_id.in_(ids))).all():  # type: ignore[attr-defined]  # fmt: skip
        out[int(mv)].fields = dict(fields or {})
    names = {info.model_name for info in out.values()}
    purged = dict(session.exec(select(RetentionPolicy.model_name, RetentionPolicy.purged_before)
                               .where(RetentionPolicy.model_name.in_(names))).all())  # type: ignore[attr-defined]  # fmt: skip
    for info in out.values():
        cut = purged.get(info.model_name)
        info.purged_before = cut if cut is None or isinstance(cut, date) else date.fromisoformat(str(cut))
    return out


def save_fields(session: Session, info: VersionInfo) -> None:
    row = session.get(MonitoringSummarySchema, info.id)
    if row is None:
        session.add(MonitoringSummarySchema(model_version_id=info.id, fields=info.fields))
    else:
        row.fields, row.updated_at = dict(info.fields), utcnow()
        session.add(row)
    info.grown = False


# --- reading ------------------------------------------------------------------------------------------


@dataclass
class Rows:
    """Prediction rows as columns (positions shared); label NaN where no outcome is counted."""

    version: np.ndarray  # model version id per row
    ids: np.ndarray  # prediction id
    request_id: Sequence[str]
    ts: np.ndarray  # datetime64[us], UTC
    score: np.ndarray
    predicted: np.ndarray
    label: np.ndarray  # float64, NaN: unknown
    features: Sequence  # JSON text or dict (None: no features column read)
    cohorts: Sequence

    def __len__(self) -> int:
        return len(self.ids)


def _postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def _fetch(session: Session, sqlite_sql: str, postgres_sql: str, params: tuple) -> Rows:
    """The query's rows as columns; the collector paused while the row tuples exist (block_codec.gc_paused)."""
    conn = session.connection()
    cursor = conn.connection.driver_connection.cursor()
    try:
        with gc_paused():
            cursor.execute(postgres_sql if _postgres(session) else sqlite_sql, params)
            return _rows(session, cursor.fetchall())
    finally:
        cursor.close()


def _select(session: Session, with_features: bool) -> str:
    pg = _postgres(session)
    ts = "(extract(epoch FROM p.ts) * 1000000)::bigint" if pg else "p.ts"
    feats = ("p.features::text" if pg else "p.features") if with_features else "NULL"
    cohorts = "p.cohorts::text" if pg else "p.cohorts"
    return (f"SELECT p.model_version_id, p.id, p.request_id, {ts}, p.score, p.predicted_label, o.actual_label, "
            f"{feats}, {cohorts}")  # fmt: skip


def empty() -> Rows:
    e, i = np.zeros(0), np.zeros(0, dtype=np.int64)
    return Rows(i, i, [], e.astype("datetime64[us]"), e, i, e, [], [])


def _rows(session: Session, fetched: list[tuple]) -> Rows:
    if not fetched:
        return empty()
    # zip(*rows) builds each column as a tuple in C; text columns stay tuples (no per-row copy).
    mv, ids, req, ts, score, pred, label, feats, cohorts = zip(*fetched, strict=True)
    ts_arr = np.asarray(ts, dtype=np.int64).astype("datetime64[us]") if _postgres(session) else np.asarray(
        ts, dtype="datetime64[us]")  # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' text  # fmt: skip
    lab = np.asarray(label, dtype=np.float64) if None not in label else pd.Series(label, dtype="float64").to_numpy()
    return Rows(np.asarray(mv, dtype=np.int64), np.asarray(ids, dtype=np.int64), req, ts_arr,
                np.asarray(score, dtype=np.float64), np.asarray(pred, dtype=np.int64), lab, feats, cohorts)  # fmt: skip


def new_predictions(session: Session, after: int, upto: int, outcomes_upto: int, limit: int) -> Rows:
    """Predictions with id in (after, upto], lowest first, at most `limit`, each with its outcome when the
    outcome's id is at most `outcomes_upto`."""
    base = _select(session, True) + " FROM prediction p LEFT JOIN outcome o ON o.request_id = p.request_id AND o.id <= "
    sqlite = base + "? WHERE p.id > ? AND p.id <= ? ORDER BY p.id LIMIT ?"
    pg = base + "%s WHERE p.id > %s AND p.id <= %s ORDER BY p.id LIMIT %s"
    return _fetch(session, sqlite, pg, (outcomes_upto, after, upto, limit))


def by_ids(session: Session, ids: Sequence[int], outcomes_upto: int) -> Rows:
    """These predictions, each with its outcome when the outcome's id is at most `outcomes_upto`."""
    ids = [int(i) for i in ids]
    if not ids:
        return empty()
    base = _select(session, True) + " FROM prediction p LEFT JOIN outcome o ON o.request_id = p.request_id AND o.id <= "
    marks = ", ".join(["%s" if _postgres(session) else "?"] * len(ids))
    sqlite = base + f"? WHERE p.id IN ({marks}) ORDER BY p.id"
    pg = base + f"%s WHERE p.id IN ({marks}) ORDER BY p.id"
    return _fetch(session, sqlite, pg, (outcomes_upto, *ids))


def version_days(session: Session, mv: int, first: date, last: date, upto: int, outcomes_upto: int) -> Rows:
    """The predictions of one version on the days [first, last] with id at most `upto` (a rebuild)."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + pd.Timedelta(days=1)
    base = _select(session, True) + " FROM prediction p LEFT JOIN outcome o ON o.request_id = p.request_id AND o.id <= "
    sqlite = base + "? WHERE p.model_version_id = ? AND p.ts >= ? AND p.ts < ? AND p.id <= ? ORDER BY p.id"
    pg = base + "%s WHERE p.model_version_id = %s AND p.ts >= %s AND p.ts < %s AND p.id <= %s ORDER BY p.id"
    if _postgres(session):
        params: tuple = (outcomes_upto, mv, start, end, upto)
    else:
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        params = (outcomes_upto, mv, start.strftime(fmt), end.strftime(fmt), upto)
    return _fetch(session, sqlite, pg, params)


def late_outcomes(session: Session, after: int, upto: int, predictions_upto: int) -> Rows:
    """Outcomes with id in (after, upto] of predictions with id at most `predictions_upto` (already folded):
    the prediction's columns (no features) with the outcome's label."""
    base = _select(session, False) + " FROM outcome o JOIN prediction p ON p.request_id = o.request_id "
    sqlite = base + "WHERE o.id > ? AND o.id <= ? AND p.id <= ?"
    pg = base + "WHERE o.id > %s AND o.id <= %s AND p.id <= %s"
    return _fetch(session, sqlite, pg, (after, upto, predictions_upto))


def day_counts(session: Session, mv: int, upto: int) -> dict[date, int]:
    """Rows per UTC day of one version with id at most `upto`."""
    day = "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')" if _postgres(session) else "substr(ts, 1, 10)"
    rows = session.execute(sa.text(f"SELECT {day}, count(*) FROM prediction WHERE model_version_id = :mv "
                                   f"AND id <= :hi GROUP BY 1"), {"mv": mv, "hi": upto}).all()  # fmt: skip
    return {date.fromisoformat(d): int(n) for d, n in rows}


# --- typing -------------------------------------------------------------------------------------------


def _column(info: VersionInfo, key: str, taken: set[str], prefix: str) -> str:
    return f"{prefix}_{key}" if key in BASE or key in taken else key


def _learn(info: VersionInfo, features: pa.Table, cohorts: pa.Table) -> None:
    """Adds the fields this batch brings that the version has not met yet."""
    f = info.fields
    for name in ("numeric", "categorical", "cohorts"):
        f.setdefault(name, [])
    keys: dict[str, list] = f.setdefault("keys", {})  # column -> [kind, JSON key]
    known = {(kind, key) for kind, key in keys.values()}
    taken = set(keys)
    for key in features.column_names:
        if ("feature", key) in known:
            continue
        arr = features[key]
        kind = info.declared.get(key)
        if kind not in (NUMERIC, CATEGORICAL):
            numeric = pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_null(arr.type)
            kind = NUMERIC if numeric else CATEGORICAL
        col = _column(info, key, taken, "feature")
        f[kind].append(col)
        keys[col], taken, info.grown = ["feature", key], taken | {col}, True
    for key in cohorts.column_names:
        if ("cohort", key) in known:
            continue
        col = _column(info, key, taken, "cohort")
        f["cohorts"].append(col)
        keys[col], taken, info.grown = ["cohort", key], taken | {col}, True


def _field(table: pa.Table, key: str, n: int, numeric: bool) -> pa.Array:
    if key not in table.column_names:
        return pa.nulls(n, pa.float64() if numeric else pa.string())
    return as_number(table[key]) if numeric else as_text(table[key])


def typed(rows: Rows, pick: np.ndarray, info: VersionInfo, with_features: bool = True) -> pa.Table:
    """The rows at `pick` (one version's) as the raw store's table: request_id, ts (UTC), score,
    predicted_label, label (null: unknown), then the version's features and cohort fields by column name.
    Learns new fields into `info` (info.grown)."""
    n = len(pick)
    empty = pa.table({"__n__": pa.nulls(n)}).drop(["__n__"])
    features = parse_json_objects(take(rows.features, pick)) if with_features else empty
    cohorts = parse_json_objects(take(rows.cohorts, pick))
    _learn(info, features, cohorts)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(take(rows.request_id, pick), pa.string()),
        "ts": pa.array(rows.ts[pick], pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "score": pa.array(rows.score[pick], pa.float64()),
        "predicted_label": pa.array(rows.predicted[pick], pa.int64()),
        "label": pa.array(rows.label[pick], pa.float64(), from_pandas=True),
    }
    keys = info.fields["keys"]
    if with_features:
        for col in info.fields["numeric"]:
            columns[col] = _field(features, keys[col][1], n, True)
        for col in info.fields["categorical"]:
            columns[col] = _field(features, keys[col][1], n, False)
    for col in info.fields["cohorts"]:
        columns[col] = _field(cohorts, keys[col][1], n, False)
    return pa.table(columns)


def fold_frame(table: pa.Table, info: VersionInfo) -> pd.DataFrame:
    """The raw table as day_summary wants it: label NaN for unknown, categories as pandas categories."""
    coded = set(info.fields.get("categorical", ())) | set(info.fields.get("cohorts", ()))
    arrays = [table[c].dictionary_encode() if c in coded else table[c] for c in table.column_names]
    frame = pa.table(arrays, names=table.column_names).to_pandas()
    frame["label"] = frame["label"].astype(np.float64)
    return frame
