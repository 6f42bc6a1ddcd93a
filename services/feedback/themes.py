"""Feedback themes: cluster the texts, name the themes, follow them over time, turn one into work."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.backlog import items as backlog
from services.core import audit
from services.core.db import read_session, utc_day, write_session
from services.core.errors import InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_backlog import BacklogItem
from services.core.schema_feedback import Feedback, Theme
from services.core.schema_ingest import Prediction
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc
from services.stats.text_themes import cluster_texts, near_duplicate_groups, theme_label

Progress = Callable[[float, str], None]
NEGATIVE_RATING = 2  # ratings 1-2 count as negative


@dataclass(frozen=True)
class ClusteringResult:
    themes: list[Theme]
    assigned: int
    duplicate_items: int
    seconds: float
    method: str


def _carry_over_names(new_terms: list[list[str]], old: list[Theme]) -> dict[int, str]:
    """A renamed theme keeps its name when a new theme shares at least half of its top terms."""
    names = {}
    for index, terms in enumerate(new_terms):
        best, best_score = None, 0.5
        for theme in old:
            if not theme.renamed:
                continue
            a, b = set(terms), set(theme.top_terms or [])
            score = len(a & b) / max(1, len(a | b))
            if score >= best_score:
                best, best_score = theme, score
        if best is not None:
            names[index] = best.label
    return names


def run_clustering(
    engine: Engine, actor: Actor, n_themes: int = 8, progress: Progress | None = None
) -> ClusteringResult:
    """Re-cluster all feedback texts. The previous themes stay (inactive) so old links still read."""
    require(actor, Role.analyst, "cluster feedback into themes")
    if not 2 <= n_themes <= 30:
        raise InvalidInput("Choose between 2 and 30 themes.")
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    report(0.05, "Reading feedback texts")
    with read_session(engine) as session:
        rows = session.exec(select(Feedback.id, Feedback.text).order_by(Feedback.id)).all()
    if len(rows) < n_themes * 5:
        raise InvalidInput(f"{len(rows)} feedback items are too few for {n_themes} themes.")
    ids, texts = [r[0] for r in rows], [r[1] for r in rows]
    report(0.15, f"Clustering {len(ids):,} texts")
    clusters = cluster_texts(texts, n_themes=n_themes)
    report(0.7, "Grouping near-duplicates")
    groups = near_duplicate_groups(ids, texts)
    report(0.8, "Saving themes")
    with write_session(engine) as session:
        old = list(session.exec(select(Theme).where(Theme.active)).all())
        names = _carry_over_names(clusters.top_terms, old)
        for theme in old:
            theme.active = False
            session.add(theme)
        new = []
        for index, terms in enumerate(clusters.top_terms):
            theme = Theme(
                label=names.get(index, theme_label(terms)), top_terms=terms, renamed=index in names,
                size=clusters.sizes[index], created_by=actor.label,
            )  # fmt: skip
            session.add(theme)
            new.append(theme)
        session.flush()
        updates = [
            {"pk": pk, "theme": new[label].id if label >= 0 else None, "dup": groups.get(pk)}
            for pk, label in zip(ids, clusters.labels.tolist(), strict=True)
        ]
        statement = (
            sa.update(Feedback.__table__)
            .where(Feedback.__table__.c.id == sa.bindparam("pk"))
            .values(theme_id=sa.bindparam("theme"), duplicate_group=sa.bindparam("dup"))
        )
        session.connection().execute(statement, updates)
        audit.record(
            session, actor, "theme.cluster", "theme_run", new[0].id,
            {"method": clusters.method, "items": len(ids), "themes": [[t.id, t.label, t.size] for t in new],
             "duplicate_items": len(groups)},
        )  # fmt: skip
    report(1.0, "Done")
    return ClusteringResult(
        new, int((clusters.labels >= 0).sum()), len(groups), time.perf_counter() - started, clusters.method
    )


def rename_theme(engine: Engine, actor: Actor, theme_id: int, label: str) -> Theme:
    require(actor, Role.analyst, "rename themes")
    label = (label or "").strip()
    if not label or len(label) > 200:
        raise InvalidInput("A theme name needs 1 to 200 characters.")
    with write_session(engine) as session:
        theme = session.get(Theme, theme_id)
        if theme is None:
            raise NotFound(f"No theme with id {theme_id}.")
        old = theme.label
        theme.label, theme.renamed = label, True
        session.add(theme)
        audit.record(session, actor, "theme.rename", "theme", theme.id, {"from": old, "to": label})
        return theme


def list_themes(engine: Engine) -> pd.DataFrame:
    """Active themes with volume, negative share and the recent trend (last 14 days vs the 14 before)."""
    with read_session(engine) as session:
        last = session.exec(select(func.max(Feedback.ts))).one()
        rows = session.exec(
            select(
                Theme.id,
                Theme.label,
                Theme.top_terms,
                func.count(Feedback.id).label("items"),
                func.sum(sa.case((Feedback.rating <= NEGATIVE_RATING, 1), else_=0)).label("negative"),
                func.sum(sa.case((Feedback.rating.is_not(None), 1), else_=0)).label("rated"),
                func.sum(sa.case((Feedback.ts >= _days_before(last, 14), 1), else_=0)).label("last_14d"),
                func.sum(
                    sa.case(
                        (sa.and_(Feedback.ts >= _days_before(last, 28), Feedback.ts < _days_before(last, 14)), 1),
                        else_=0,
                    )
                ).label("prior_14d"),
                func.sum(sa.case((Feedback.status == "new", 1), else_=0)).label("untriaged"),
            )
            .join(Feedback, Feedback.theme_id == Theme.id)
            .where(Theme.active)
            .group_by(Theme.id, Theme.label, Theme.top_terms)
        ).all()
    frame = pd.DataFrame([dict(r._mapping) for r in rows])
    if frame.empty:
        return frame
    frame["negative_share"] = frame["negative"] / frame["rated"].where(frame["rated"] > 0)
    frame["top_terms"] = frame["top_terms"].map(lambda t: ", ".join(t or []))
    return frame.sort_values("items", ascending=False).reset_index(drop=True)


def _days_before(ts: datetime | None, days: int) -> datetime:
    return (to_utc(ts) if ts else datetime.now().astimezone()) - pd.Timedelta(days=days).to_pytimedelta()


def theme_volume(engine: Engine, freq: str = "W") -> pd.DataFrame:
    """Items per theme per period (D or W), with the negative share: long format for a chart.
    Counted per day in SQL; days are rolled up to weeks here."""
    if freq not in ("D", "W"):
        raise InvalidInput("Volume is by day (D) or week (W).")
    day = utc_day(Feedback.ts, engine).label("day")
    negative = func.sum(sa.case((Feedback.rating <= NEGATIVE_RATING, 1), else_=0))
    rated = func.sum(sa.case((Feedback.rating.is_not(None), 1), else_=0))
    with read_session(engine) as session:
        rows = session.exec(
            select(Theme.label, day, func.count(), negative, rated)
            .join(Theme, Theme.id == Feedback.theme_id)
            .where(Theme.active)
            .group_by(Theme.label, day)
        ).all()
    frame = pd.DataFrame(rows, columns=["theme", "day", "items", "negative", "rated"])
    if frame.empty:
        return pd.DataFrame(columns=["theme", "period", "items", "negative_share"])
    frame["period"] = pd.to_datetime(frame["day"]).dt.to_period(freq).dt.start_time
    out = frame.groupby(["theme", "period"])[["items", "negative", "rated"]].sum().reset_index()
    out["negative_share"] = out["negative"] / out["rated"].where(out["rated"] > 0)
    return out[["theme", "period", "items", "negative_share"]]


def theme_mix(engine: Engine, theme_id: int, by: str) -> pd.DataFrame:
    """A theme's items by a cohort field of the linked prediction, or by model version (by='model')."""
    with read_session(engine) as session:
        if by == "model":
            key = (ModelVersion.model_name + " v" + sa.cast(ModelVersion.version, sa.String)).label("value")
            query = (
                select(key, func.count())
                .select_from(Feedback)
                .join(Prediction, Prediction.request_id == Feedback.request_id)
                .join(ModelVersion, ModelVersion.id == Prediction.model_version_id)
            )
        else:
            key = Prediction.cohorts[by].as_string().label("value")
            query = (
                select(key, func.count())
                .select_from(Feedback)
                .join(Prediction, Prediction.request_id == Feedback.request_id)
            )
        rows = session.exec(query.where(Feedback.theme_id == theme_id).group_by(key)).all()
    frame = pd.DataFrame(rows, columns=["value", "items"])
    if len(frame):
        frame["share"] = frame["items"] / frame["items"].sum()
    return frame.sort_values("items", ascending=False).reset_index(drop=True)


def create_backlog_item(
    engine: Engine, actor: Actor, *, title: str, theme_id: int | None = None, feedback_pks: list[int] | None = None,
    kind: str = "model_improvement", description: str = "",
) -> BacklogItem:  # fmt: skip
    """Turn a theme or a set of feedback items into a backlog item, the evidence attached."""
    require(actor, Role.analyst, "create backlog items")
    if theme_id is None and not feedback_pks:
        raise InvalidInput("Choose a theme or at least one feedback item.")
    with write_session(engine) as session:
        query = select(Feedback.id, Feedback.feedback_id, Feedback.rating)
        if theme_id is not None:
            theme = session.get(Theme, theme_id)
            if theme is None:
                raise NotFound(f"No theme with id {theme_id}.")
            query = query.where(Feedback.theme_id == theme_id)
        else:
            query = query.where(Feedback.id.in_(feedback_pks))
        items = session.exec(query).all()
        if not items:
            raise InvalidInput("No feedback items match.")
        rated = [r for _, _, r in items if r is not None]
        evidence: dict[str, Any] = {
            "feedback_items": len(items),
            "negative_share": round(sum(r <= NEGATIVE_RATING for r in rated) / len(rated), 3) if rated else None,
            "sample_feedback_ids": [fid for _, fid, _ in items[:20]],
        }
        if theme_id is not None:
            evidence |= {"theme": theme.label, "top_terms": theme.top_terms}
            source = ("theme", str(theme_id))
        else:
            evidence["feedback_pks"] = sorted(feedback_pks)[:500]
            source = ("feedback", ",".join(str(i) for i in sorted(feedback_pks)[:20]))
        return backlog.add_in_session(
            session, actor, kind=kind, title=title, description=description, source_type=source[0],
            source_id=source[1], evidence=evidence, reach=float(len(items)),
        )  # fmt: skip
