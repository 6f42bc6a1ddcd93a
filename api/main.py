"""The FastAPI application: `create_app(engine)` for tests, `app` for uvicorn ("api.main:app")."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from api import erasure, errors, ingest, models, monitoring
from api.limits import BodyLimitMiddleware, RateLimiter
from services import kinds
from services.core.db import make_engine

VERSION = "1"


class Health(BaseModel):
    status: str
    api_version: str


def create_app(engine: Engine | None = None) -> FastAPI:
    kinds.load()  # the request kinds, as every entry point registers them (services/kinds.py)
    app = FastAPI(
        title="Loopdeck API",
        version=VERSION,
        description="Log predictions, outcomes, feedback, exposures and metrics; read what production should "
        "serve; register model versions trained elsewhere; query and export raw rows. "
        "Authenticate with `Authorization: Bearer <token>`.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.engine = engine if engine is not None else make_engine()
    app.state.limiter = RateLimiter()
    errors.install(app)
    app.add_middleware(BodyLimitMiddleware)
    app.include_router(ingest.router)
    app.include_router(models.router)
    app.include_router(erasure.router)
    app.include_router(monitoring.router)

    @app.get("/api/v1/health", response_model=Health, tags=["health"], summary="Liveness (no token needed)")
    def health() -> Health:
        return Health(status="ok", api_version=VERSION)

    return app


app = create_app()
