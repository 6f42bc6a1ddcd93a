"""Routing: what production should serve right now for a model (champion and its share, canaries and
theirs, shadows), written to <routing dir>/<model>.json (LOOPDECK_ROUTING_DIR, default data/routing/)
after every change of what serves; `python -m services routing --json` prints the same.

The deployments code writes it itself (services/models/deployments.py, and the request kinds in
services/models/requests.py once their transaction commits): nothing below calls up for it.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from services.core import config
from services.core.db import read_session
from services.core.schema_models import Deployment, ModelVersion
from services.core.timeutil import to_utc, utcnow
from services.models.serving import aliases_in

ROUTING_DIR_ENV = "LOOPDECK_ROUTING_DIR"


@dataclass(frozen=True)
class Route:
    model_version_id: int
    version: int
    stage: str
    traffic_share: float
    deployment_id: int
    since: str
    artifact_uri: str | None
    artifact_sha256: str | None


@dataclass(frozen=True)
class Routing:
    model_name: str
    champion: Route | None
    challengers: tuple[Route, ...] = ()  # canaries: they take their share from the champion
    shadows: tuple[Route, ...] = ()  # score every request, serve none
    as_of: str = field(default_factory=lambda: utcnow().isoformat())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (what the routing file holds)."""
        return json.loads(json.dumps(asdict(self)))


def _route(d: Deployment, v: ModelVersion, share: float | None = None) -> Route:
    return Route(v.id, v.version, d.stage, round(d.traffic_share if share is None else share, 6), d.id,
                 to_utc(d.started_at).isoformat(), v.artifact_uri, v.artifact_sha256)  # fmt: skip


def current_routing(engine: Engine, model_name: str) -> Routing:
    with read_session(engine) as session:
        a = aliases_in(session, model_name)
    canaries = [(v, d) for v, d in a.challengers if d.stage == "canary"]
    shadows = [(v, d) for v, d in a.challengers if d.stage == "shadow"]
    champion = None
    if a.champion is not None:
        share = max(0.0, 1.0 - sum(d.traffic_share for _, d in canaries))
        champion = _route(a.champion_deployment, a.champion, share)
    return Routing(model_name, champion, tuple(_route(d, v) for v, d in canaries),
                   tuple(_route(d, v) for v, d in shadows))  # fmt: skip


def routing_dir() -> Path:
    return config.routing_dir()


def write_routing_file(engine: Engine, model_name: str) -> Path:
    """Write <routing dir>/<model>.json atomically (a reader sees the old file or the new one)."""
    routing = current_routing(engine, model_name)
    folder = routing_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model_name}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(routing.as_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
