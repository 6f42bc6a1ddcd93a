"""Feedback triage: the queue (filters, counts, facets, rows, export), assignment, SLA; edits are in edits.py.

Statuses and the moves between them (anything else is refused):
    new        -> in_review, labelled, dismissed, escalated
    in_review  -> new, labelled, dismissed, escalated
    escalated  -> in_review, labelled, dismissed
    labelled   -> in_review          (reopen to change the decision)
    dismissed  -> new                (reopen)
`labelled` needs a corrected label. Untriaged means `new`; a new item older than the SLA is overdue.
Ages and the SLA are measured against the data clock (services/core/clock.py) unless a caller gives `now`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import func, or_, select

from services.core import clock, settings, text_filter
from services.core.db import read_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Role
from services.core.schema_accounts import User
from services.core.schema_feedback import Feedback, Theme
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc

STATUSES = ("new", "in_review", "labelled", "dismissed", "escalated")
PRIORITIES = ("low", "normal", "high", "urgent")
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"in_review", "labelled", "dismissed", "escalated"}),
    "in_review": frozenset({"new", "labelled", "dismissed", "escalated"}),
    "escalated": frozenset({"in_review", "labelled", "dismissed"}),
    "labelled": frozenset({"in_review"}),
    "dismissed": frozenset({"new"}),
}
UNASSIGNED = "(unassigned)"
MAX_COHORT_VALUES = 50  # a cohort filter names at most this many (field, value) pairs
SORTS = {
    "newest": Feedback.ts.desc(),
    "oldest": Feedback.ts.asc(),
    "rating (low first)": Feedback.rating.asc(),
    "rating (high first)": Feedback.rating.desc(),
    "priority": sa.case({p: i for i, p in enumerate(reversed(PRIORITIES))}, value=Feedback.priority),
}


# --- reading the queue -------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    priorities: tuple[str, ...] = ()
    theme_ids: tuple[int, ...] = ()
    assignee: str | None = None  # an e-mail, or UNASSIGNED
    ratings: tuple[int, ...] = ()
    model_version_ids: tuple[int, ...] = ()
    # ((field, value), ...): values of one field are OR-ed (platform ios or android), fields AND-ed
    cohort: tuple[tuple[str, str], ...] = ()
    has_outcome: bool | None = None
    overdue_only: bool = False
    text: str = ""  # in the text or the feedback id, ASCII case-insensitive; % and _ match themselves
    since: datetime | None = None  # feedback received at or after
    until: datetime | None = None  # ... and before
    score_min: float | None = None  # the linked prediction's score, inclusive
    score_max: float | None = None
    predicted_labels: tuple[int, ...] = ()
    actual_labels: tuple[int, ...] = ()  # the outcome's label (items without an outcome drop out)


@dataclass(frozen=True)
class QueuePage:
    rows: pd.DataFrame
    total: int
    overdue: int
    sla_days: int


def _reference(engine: Engine, now: datetime | None) -> datetime:
    """What ages and the SLA are measured against: `now` when given, else the data clock."""
    return to_utc(now) if now else clock.data_now(engine)


def _sla_cutoff(engine: Engine, now: datetime | None) -> tuple[int, datetime]:
    sla_days = int(settings.get(engine, "feedback.sla_days"))
    return sla_days, _reference(engine, now) - timedelta(days=sla_days)


def _check_strings(f: QueueFilter) -> None:
    """Every piece of user text in the filter, checked before it reaches SQL (InvalidInput, never a
    database error: Postgres refuses NUL in text)."""
    named = [("A status", f.statuses), ("A source", f.sources), ("A category", f.categories)]
    named += [("A priority", f.priorities), ("The assignee", (f.assignee or "",))]
    named += [("A cohort field or value", tuple(part for pair in f.cohort for part in pair))]
    for what, values in named:
        for value in values:
            text_filter.check(value, what)
    if len(f.cohort) > MAX_COHORT_VALUES:
        raise InvalidInput(
            f"The cohort filter names {len(f.cohort)} values; at most {MAX_COHORT_VALUES} can be filtered on at once."
        )


def _cohort_conditions(cohort: tuple[tuple[str, str], ...]) -> list:
    """One condition per cohort field: the prediction's value is any of the values named for it."""
    by_field: dict[str, list[str]] = {}
    for cohort_field, value in cohort:
        by_field.setdefault(cohort_field, []).append(value)
    return [Prediction.cohorts[name].as_string().in_(values) for name, values in by_field.items()]


def _apply_filter(query, f: QueueFilter, cutoff: datetime):
    _check_strings(f)
    conditions = []
    if f.statuses:
        conditions.append(Feedback.status.in_(f.statuses))
    if f.sources:
        conditions.append(Feedback.source.in_(f.sources))
    if f.categories:
        conditions.append(Feedback.category.in_(f.categories))
    if f.priorities:
        conditions.append(Feedback.priority.in_(f.priorities))
    if f.theme_ids:
        conditions.append(Feedback.theme_id.in_(f.theme_ids))
    if f.ratings:
        conditions.append(Feedback.rating.in_(f.ratings))
    if f.assignee == UNASSIGNED:
        conditions.append(Feedback.assignee_id.is_(None))
    elif f.assignee:
        conditions.append(Feedback.assignee_id == select(User.id).where(User.email == f.assignee).scalar_subquery())
    if f.model_version_ids:
        conditions.append(Prediction.model_version_id.in_(f.model_version_ids))
    conditions += _cohort_conditions(f.cohort)
    if f.has_outcome is not None:
        conditions.append(Outcome.id.is_not(None) if f.has_outcome else Outcome.id.is_(None))
    if f.actual_labels:
        conditions.append(Outcome.actual_label.in_(f.actual_labels))
    if f.predicted_labels:
        conditions.append(Prediction.predicted_label.in_(f.predicted_labels))
    if f.score_min is not None:
        conditions.append(Prediction.score >= f.score_min)
    if f.score_max is not None:
        conditions.append(Prediction.score <= f.score_max)
    if f.overdue_only:
        conditions.append(sa.and_(Feedback.status == "new", Feedback.ts < cutoff))
    if f.text.strip():
        # The same rule on every database: control characters refused, ASCII-only case folding,
        # % and _ literal (services/core/text_filter.py).
        conditions.append(
            or_(text_filter.contains_ci(Feedback.text, f.text), text_filter.contains_ci(Feedback.feedback_id, f.text))
        )
    if f.since:
        conditions.append(Feedback.ts >= to_utc(f.since))
    if f.until:
        conditions.append(Feedback.ts < to_utc(f.until))
    return query.where(*conditions) if conditions else query


def _joined(query):
    return (
        query.outerjoin(Prediction, Prediction.request_id == Feedback.request_id)
        .outerjoin(Outcome, Outcome.request_id == Feedback.request_id)
        .outerjoin(ModelVersion, ModelVersion.id == Prediction.model_version_id)
        .outerjoin(Theme, Theme.id == Feedback.theme_id)
        .outerjoin(User, User.id == Feedback.assignee_id)
    )


QUEUE_COLUMNS = [
    Feedback.id, Feedback.feedback_id, Feedback.ts, Feedback.status, Feedback.source, Feedback.rating,
    Feedback.category, Theme.label.label("theme"), User.email.label("assignee"), Feedback.priority,
    Feedback.corrected_label, Feedback.text, Feedback.request_id, ModelVersion.model_name,
    ModelVersion.version.label("model_version"), Prediction.score, Prediction.predicted_label,
    Prediction.cohorts, Outcome.actual_label, Feedback.version, Feedback.duplicate_group,
]  # fmt: skip


@dataclass(frozen=True)
class QueueCounts:
    total: int
    overdue: int  # new and older than the SLA
    untriaged: int  # new
    sla_days: int


def _needed_joins(query, f: QueueFilter):
    if f.model_version_ids or f.cohort or f.predicted_labels or f.score_min is not None or f.score_max is not None:
        query = query.outerjoin(Prediction, Prediction.request_id == Feedback.request_id)
    if f.has_outcome is not None or f.actual_labels:
        query = query.outerjoin(Outcome, Outcome.request_id == Feedback.request_id)
    return query


def queue_counts(engine: Engine, f: QueueFilter = QueueFilter(), now: datetime | None = None) -> QueueCounts:
    """How many items match the filter, how many of them are overdue and how many untriaged."""
    sla_days, cutoff = _sla_cutoff(engine, now)
    is_new = Feedback.status == "new"
    query = select(
        func.count(),
        func.coalesce(func.sum(sa.case((sa.and_(is_new, Feedback.ts < cutoff), 1), else_=0)), 0),
        func.coalesce(func.sum(sa.case((is_new, 1), else_=0)), 0),
    ).select_from(Feedback)
    with read_session(engine) as session:
        total, overdue, untriaged = session.exec(_apply_filter(_needed_joins(query, f), f, cutoff)).one()
    return QueueCounts(int(total), int(overdue), int(untriaged), sla_days)


def queue_rows(
    engine: Engine, f: QueueFilter = QueueFilter(), sort: str = "newest", limit: int = 100, offset: int = 0,
    now: datetime | None = None,
) -> pd.DataFrame:  # fmt: skip
    """One page of the queue with its prediction, outcome, age, SLA flag and cohort_* columns.
    Two cheap steps: the page's ids (joining only what the filter needs), then the joined columns
    of just those ids (all five joins over 100,000 items cost ~150 ms a query)."""
    order = SORTS.get(sort)
    if order is None:
        raise InvalidInput(f"Unknown sort {sort!r}; choose one of {', '.join(SORTS)}.")
    _, cutoff = _sla_cutoff(engine, now)
    with read_session(engine) as session:
        ids_query = _apply_filter(_needed_joins(select(Feedback.id).select_from(Feedback), f), f, cutoff)
        ids = list(session.exec(ids_query.order_by(order, Feedback.id.desc()).limit(limit).offset(offset)).all())
        rows = []
        if ids:
            rows = session.exec(_joined(select(*QUEUE_COLUMNS).select_from(Feedback)).where(Feedback.id.in_(ids))).all()
    position = {pk: i for i, pk in enumerate(ids)}
    records = sorted((dict(r._mapping) for r in rows), key=lambda r: position[r["id"]])
    return _queue_frame(records, _reference(engine, now), cutoff)


def _queue_frame(records: list[dict[str, Any]], reference: datetime, cutoff: datetime) -> pd.DataFrame:
    """Joined queue rows -> the queue's frame: age in days, the SLA flag, one cohort_* column per field."""
    frame = pd.DataFrame(records, columns=[c.key for c in QUEUE_COLUMNS])
    if len(frame):
        ts = pd.to_datetime(frame["ts"], utc=True)
        frame["age_days"] = ((reference - ts).dt.total_seconds() / 86400).round(1)
        frame["overdue"] = (frame["status"] == "new") & (ts < cutoff)
        cohorts = pd.json_normalize(frame.pop("cohorts").map(lambda c: c or {}).tolist())
        cohorts.index = frame.index
        frame = frame.join(cohorts.add_prefix("cohort_"))
    else:
        frame = frame.drop(columns=["cohorts"]).assign(age_days=pd.Series(dtype=float), overdue=pd.Series(dtype=bool))
    return frame


def duplicates(engine: Engine, feedback_pk: int, limit: int = 10) -> pd.DataFrame:
    """The other items of this item's near-duplicate group, newest first (empty when it has none)."""
    columns = ["id", "feedback_id", "ts", "status", "rating", "text"]
    with read_session(engine) as session:
        group = session.exec(select(Feedback.duplicate_group).where(Feedback.id == feedback_pk)).first()
        if group is None:
            return pd.DataFrame(columns=columns)
        rows = session.exec(
            select(Feedback.id, Feedback.feedback_id, Feedback.ts, Feedback.status, Feedback.rating, Feedback.text)
            .where(Feedback.duplicate_group == group, Feedback.id != feedback_pk)
            .order_by(Feedback.ts.desc())
            .limit(limit)
        ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def list_queue(
    engine: Engine,
    f: QueueFilter = QueueFilter(),
    sort: str = "newest",
    limit: int = 200,
    offset: int = 0,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the queue plus the totals."""
    counts = queue_counts(engine, f, now)
    rows = queue_rows(engine, f, sort, limit, offset, now)
    return QueuePage(rows, counts.total, counts.overdue, counts.sla_days)


def queue_ids(engine: Engine, f: QueueFilter = QueueFilter(), sort: str = "newest", limit: int = 5000) -> list[int]:
    """Ids in queue order: what review mode walks through."""
    _, cutoff = _sla_cutoff(engine, None)
    with read_session(engine) as session:
        query = _apply_filter(_joined(select(Feedback.id).select_from(Feedback)), f, cutoff)
        return list(session.exec(query.order_by(SORTS[sort], Feedback.id.desc()).limit(limit)).all())


@dataclass(frozen=True)
class QueueFacets:
    sources: list[str]
    categories: list[str]
    themes: list[tuple[int, str]]
    assignees: list[str]
    model_versions: list[tuple[int, str]]
    cohort_fields: dict[str, list[str]]


def facets(engine: Engine) -> QueueFacets:
    """The values each filter can take."""
    with read_session(engine) as session:
        sources = sorted(s for s in session.exec(select(Feedback.source).distinct()).all() if s)
        used = {c for c in session.exec(select(Feedback.category).distinct()).all() if c}
        themes = [(t.id, t.label) for t in session.exec(select(Theme).where(Theme.active).order_by(Theme.id)).all()]
        assignees = list(
            session.exec(
                select(User.email).where(User.disabled.is_(False), User.role != Role.viewer.name).order_by(User.email)
            ).all()
        )
        versions = [
            (mv.id, f"{mv.model_name} v{mv.version}")
            for mv in session.exec(select(ModelVersion).order_by(ModelVersion.model_name, ModelVersion.version)).all()
        ]
        sample = session.exec(
            select(Prediction.cohorts).join(Feedback, Feedback.request_id == Prediction.request_id).limit(2000)
        ).all()
    cohort_fields: dict[str, set[str]] = {}
    for cohorts in sample:
        for key, value in (cohorts or {}).items():
            cohort_fields.setdefault(key, set()).add(str(value))
    categories = list(settings.get(engine, "feedback.categories"))
    categories += sorted(used - set(categories))
    return QueueFacets(
        sources, categories, themes, assignees, versions, {k: sorted(v) for k, v in sorted(cohort_fields.items())}
    )


@dataclass(frozen=True)
class ItemDetail:
    item: dict[str, Any]
    theme: str | None
    assignee: str | None
    prediction: dict[str, Any] | None
    outcome: dict[str, Any] | None
    duplicates: int


def get_item(engine: Engine, feedback_pk: int) -> ItemDetail:
    with read_session(engine) as session:
        item = session.get(Feedback, feedback_pk)
        if item is None:
            raise NotFound(f"No feedback item with id {feedback_pk}.")
        prediction = outcome = None
        if item.request_id:
            row = session.exec(
                select(Prediction, ModelVersion)
                .join(ModelVersion, ModelVersion.id == Prediction.model_version_id)
                .where(Prediction.request_id == item.request_id)
            ).first()
            if row:
                p, mv = row
                prediction = {
                    "request_id": p.request_id, "model": f"{mv.model_name} v{mv.version}", "ts": p.ts,
                    "score": p.score, "predicted_label": p.predicted_label,
                    "features": p.features or {}, "cohorts": p.cohorts or {},
                }  # fmt: skip
            o = session.exec(select(Outcome).where(Outcome.request_id == item.request_id)).first()
            if o:
                outcome = {"actual_label": o.actual_label, "actual_value": o.actual_value, "ts": o.ts}
        theme = session.get(Theme, item.theme_id).label if item.theme_id else None
        assignee = session.get(User, item.assignee_id).email if item.assignee_id else None
        duplicates = 0
        if item.duplicate_group is not None:
            duplicates = (
                session.exec(
                    select(func.count()).select_from(Feedback).where(Feedback.duplicate_group == item.duplicate_group)
                ).one()
                - 1
            )
    return ItemDetail(item.model_dump(), theme, assignee, prediction, outcome, duplicates)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defuse_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV formula injection: a spreadsheet runs a cell that begins with = + - @ (or a tab or carriage
    return before one) as a formula, so such text cells get a leading apostrophe and open as text.
    Numbers are left alone (a negative score is a number, not a formula)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
            )
    return out


def export_csv(
    engine: Engine, f: QueueFilter = QueueFilter(), sort: str = "newest", limit: int = 1_000_000,
    now: datetime | None = None,
) -> bytes:  # fmt: skip
    """Every item of the view as CSV, in the view's order, with its prediction, outcome, age and SLA
    flag. One joined query with the filter in SQL: no list of ids goes in as bound parameters (Postgres
    takes at most 65,535 a statement, and a view can hold more items than that)."""
    order = SORTS.get(sort)
    if order is None:
        raise InvalidInput(f"Unknown sort {sort!r}; choose one of {', '.join(SORTS)}.")
    _, cutoff = _sla_cutoff(engine, now)
    query = _apply_filter(_joined(select(*QUEUE_COLUMNS).select_from(Feedback)), f, cutoff)
    with read_session(engine) as session:
        rows = session.exec(query.order_by(order, Feedback.id.desc()).limit(limit)).all()
    frame = _queue_frame([dict(r._mapping) for r in rows], _reference(engine, now), cutoff)
    buffer = io.StringIO()
    # CRLF rows (RFC 4180): a text holding a bare carriage return is then quoted, not split into two rows.
    defuse_formulas(frame).to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8")
