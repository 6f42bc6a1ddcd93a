"""Who serves what, read from the deployment history: the champion and challengers of a model
(aliases), its open deployments, the previous champion, and the lock that serialises a model's
deployments. Read side of services/models/deployments.py; routing and the rollout plans read it too.

Aliases: the champion is the version with an open full deployment (exactly one per model while it
serves); challengers are versions with an open canary or shadow deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.core.db import read_session
from services.core.errors import NotFound
from services.core.schema_models import Deployment, ModelVersion


def lock_model(session: Session, model_name: str) -> list[ModelVersion]:
    """Lock the model's version rows (in id order, so lockers queue instead of deadlocking):
    deployments of one model are recorded one at a time. Returns the rows, fresh."""
    rows = list(
        session.exec(
            select(ModelVersion)
            .where(ModelVersion.model_name == model_name)
            .order_by(ModelVersion.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    )
    if not rows:
        raise NotFound(f"No model named {model_name}.")
    return rows


_lock_model = lock_model  # the old private name


def open_deployments_in(session: Session, version_ids: list[int]) -> list[Deployment]:
    return list(
        session.exec(
            select(Deployment)
            .where(col(Deployment.model_version_id).in_(version_ids), col(Deployment.ended_at).is_(None))
            .order_by(Deployment.started_at, Deployment.id)
            .execution_options(populate_existing=True)
        ).all()
    )


_open_deployments = open_deployments_in


def list_deployments(engine: Engine, model_name: str | None = None) -> list[Deployment]:
    """The whole history, oldest first."""
    query = select(Deployment).order_by(Deployment.started_at, Deployment.id)
    if model_name is not None:
        query = query.join(ModelVersion, ModelVersion.id == Deployment.model_version_id).where(
            ModelVersion.model_name == model_name
        )
    with read_session(engine) as session:
        return list(session.exec(query).all())


def model_names(engine: Engine) -> list[str]:
    with read_session(engine) as session:
        return list(session.exec(select(ModelVersion.model_name).distinct().order_by(ModelVersion.model_name)).all())


# --- aliases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aliases:
    """Who serves now: the champion (open full deployment) and the challengers (open canary/shadow)."""

    model_name: str
    champion: ModelVersion | None
    champion_deployment: Deployment | None
    challengers: tuple[tuple[ModelVersion, Deployment], ...]

    def label(self, version_id: int) -> str:
        if self.champion is not None and self.champion.id == version_id:
            return "champion"
        return "challenger" if any(v.id == version_id for v, _ in self.challengers) else ""


def aliases_in(session: Session, model_name: str) -> Aliases:
    versions = {v.id: v for v in session.exec(select(ModelVersion).where(ModelVersion.model_name == model_name)).all()}
    open_rows = open_deployments_in(session, list(versions)) if versions else []
    full = [d for d in open_rows if d.stage == "full"]
    champion = versions[full[-1].model_version_id] if full else None
    challengers = tuple((versions[d.model_version_id], d) for d in open_rows if d.stage != "full")
    return Aliases(model_name, champion, full[-1] if full else None, challengers)


def aliases(engine: Engine, model_name: str) -> Aliases:
    with read_session(engine) as session:
        return aliases_in(session, model_name)


def previous_champion_in(session: Session, model_name: str) -> ModelVersion | None:
    """The version whose full deployment ended most recently and that is not the champion now:
    what a one-step rollback goes back to."""
    current = aliases_in(session, model_name).champion
    rows = session.exec(
        select(Deployment, ModelVersion)
        .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
        .where(
            ModelVersion.model_name == model_name,
            Deployment.stage == "full",
            col(Deployment.ended_at).is_not(None),
        )
        .order_by(col(Deployment.ended_at).desc(), col(Deployment.id).desc())
    ).all()
    for _, version in rows:
        if current is None or version.id != current.id:
            return version
    return None


def previous_champion(engine: Engine, model_name: str) -> ModelVersion | None:
    with read_session(engine) as session:
        return previous_champion_in(session, model_name)
