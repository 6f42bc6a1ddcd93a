"""What every view of the Models screen gets: the signed-in user, the engine and the chosen model with its
versions and aliases."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from services.core.roles import Actor, Role
from services.core.schema_models import ModelVersion
from services.models import registry


@dataclass
class ModelsPage:
    me: Actor
    engine: Engine
    model_name: str
    versions: list[ModelVersion]
    aliases: registry.Aliases

    @property
    def by_id(self) -> dict[int, ModelVersion]:
        return {v.id: v for v in self.versions}

    @property
    def can_request(self) -> bool:
        return self.me.can(Role.analyst)


def version_option(p: ModelsPage, version_id: int) -> str:
    """A version in a picker: number, status and alias."""
    v = p.by_id[version_id]
    alias = p.aliases.label(v.id)
    return f"v{v.version} · {v.status}" + (f" · {alias}" if alias and alias != v.status else "")
