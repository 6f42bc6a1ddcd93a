"""Overview: what is in the loop right now (counts and the current champion)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import func, select

from services.db import read_session
from services.schema import Deployment, Feedback, ModelVersion, Outcome, Prediction


@dataclass(frozen=True)
class LoopCounts:
    predictions: int
    outcomes: int
    feedback: int
    model_versions: int
    champion: str | None  # "model v3", or None


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def loop_counts(engine: Engine) -> LoopCounts:
    with read_session(engine) as session:
        champion = session.exec(
            select(ModelVersion.model_name, ModelVersion.version)
            .join(Deployment, Deployment.model_version_id == ModelVersion.id)
            .where(Deployment.stage == "full", Deployment.ended_at.is_(None))
            .order_by(Deployment.started_at.desc())
        ).first()
        return LoopCounts(
            predictions=_count(session, Prediction),
            outcomes=_count(session, Outcome),
            feedback=_count(session, Feedback),
            model_versions=_count(session, ModelVersion),
            champion=f"{champion[0]} v{champion[1]}" if champion else None,
        )


def database_is_empty(engine: Engine) -> bool:
    with read_session(engine) as session:
        return _count(session, Prediction) == 0 and _count(session, ModelVersion) == 0
