"""What production should serve now, for the API's routing endpoint: the same answer as the routing
file (services.models.routing.current_routing), read from the database on every call, with an ETag
over its content (not over `as_of`) so a fleet polling it gets 304 until the routing changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.core.audit import canonical_json
from services.core.errors import NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_models import ModelVersion
from services.core.tokens import require_scope
from services.models import routing


@dataclass(frozen=True)
class RoutingAnswer:
    body: dict[str, Any]
    etag: str  # quoted, as the ETag header carries it


def routing_etag(body: dict[str, Any]) -> str:
    stable = {k: v for k, v in body.items() if k != "as_of"}
    return '"' + hashlib.sha256(canonical_json(stable).encode("utf-8")).hexdigest()[:32] + '"'


def routing_for(engine: Engine, actor: Actor, model_name: str) -> RoutingAnswer:
    """NotFound for a model without registered versions; a token needs routing:read for this model."""
    require_scope(actor, "routing:read", [model_name])
    require(actor, Role.viewer, "read the routing")
    with engine.connect() as conn:
        known = conn.execute(sa.select(ModelVersion.id).where(ModelVersion.model_name == model_name).limit(1)).first()
    if known is None:
        raise NotFound(f"No model named {model_name!r} is registered.")
    body = routing.current_routing(engine, model_name).as_dict()
    return RoutingAnswer(body, routing_etag(body))
