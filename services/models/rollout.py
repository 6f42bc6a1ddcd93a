"""Rollout, as the Models page sees it: the plan of an approved promote, canary/shadow or rollback
request, shadow scores, guard rails, routing and the deployment history with its versions.

Where each part lives (this module re-exports their public names):
- plans of the rollout requests: services/models/plans.py;
- the request kinds and their execution by the governance executor (one transaction: the deployment
  changes, the request's "executed" status and every audit event; the model's version rows locked with
  SELECT ... FOR UPDATE on Postgres, BEGIN IMMEDIATE on SQLite, so two approvers racing get one
  execution and one refusal, and a reader never sees a model with no champion or two):
  services/models/requests.py and services/governance/executor.py;
- guard rails: services/models/guardrails.py; routing: services/models/routing.py.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_governance import ApprovalRequest
from services.core.schema_ingest import Prediction
from services.core.schema_models import Deployment, ModelVersion, ShadowScore
from services.core.timeutil import to_utc, utcnow
from services.models import registry
from services.models.guardrails import (  # noqa: F401  (re-exported: rollout's public names)
    GUARDRAIL_RULE_PREFIX,
    GuardrailCheck,
    check_guardrails,
    guardrail_rule_id,
    guardrail_rule_name,
    stage_guardrail,
)
from services.models.plans import (  # noqa: F401  (re-exported)
    DEFAULT_CANARY_SHARE,
    DEFAULT_MAX_DROP,
    GUARDRAIL_METRICS,
    MODEL_KINDS,
    Plan,
    guardrail_condition,
    plan_in,
)
from services.models.requests import request_rollback  # noqa: F401  (re-exported)
from services.models.routing import (  # noqa: F401  (re-exported)
    ROUTING_DIR_ENV,
    Route,
    Routing,
    current_routing,
    routing_dir,
    write_routing_file,
)
from services.models.serving import aliases
from services.models.training_data import feature_frame


def plan(engine: Engine, request_id: int) -> Plan:
    """What executing a promote, canary or rollback request would do now (read only). The executor's
    preview (services.governance.executor.preview) gives every kind's."""
    with read_session(engine) as session:
        row = session.get(ApprovalRequest, request_id)
        if row is None:
            raise NotFound(f"No approval request #{request_id}.")
        return plan_in(session, row)


# --- shadow scores -------------------------------------------------------------------------------


def record_shadow_scores(engine: Engine, actor: Actor, model_name: str, limit: int = 200_000) -> int:
    """Score the requests served since each open shadow deployment started with the shadow version
    (features as recorded) and store the scores once per request. Returns how many were added."""
    require(actor, Role.analyst, "record shadow scores")
    added = 0
    for version, deployment in aliases(engine, model_name).challengers:
        if deployment.stage != "shadow":
            continue
        p, s = Prediction.__table__.c, ShadowScore.__table__.c
        with read_session(engine) as session:
            rows = session.exec(
                select(p.request_id, p.features)
                .where(p.ts >= to_utc(deployment.started_at))
                .where(~sa.exists().where(s.deployment_id == deployment.id, s.request_id == p.request_id))
                .where(p.model_version_id.in_(select(ModelVersion.id).where(ModelVersion.model_name == model_name)))
                .order_by(p.request_id)
                .limit(limit)
            ).all()
        if not rows:
            continue
        model = registry.load_model(engine, version.id)
        x = feature_frame(pd.Series([r[1] for r in rows]), dict(version.feature_schema or {}))
        scores = model.predict_proba(x)[:, 1]
        now = utcnow()
        with write_session(engine) as session:
            session.execute(
                sa.insert(ShadowScore),
                [
                    {"deployment_id": deployment.id, "model_version_id": version.id, "request_id": r[0],
                     "score": float(sc), "predicted_label": int(sc >= 0.5), "scored_at": now}
                    for r, sc in zip(rows, scores, strict=True)
                ],
            )  # fmt: skip
            audit.record(session, actor, "model.shadow_scores", "deployment", deployment.id,
                         {"model_name": model_name, "version": version.version, "scores": len(rows)})  # fmt: skip
        added += len(rows)
    return added


def history_with_versions(engine: Engine, model_name: str) -> list[tuple[Deployment, ModelVersion]]:
    """The deployment history (oldest first) with each row's version: what the timeline draws."""
    with read_session(engine) as session:
        return list(
            session.exec(
                select(Deployment, ModelVersion)
                .join(ModelVersion, ModelVersion.id == Deployment.model_version_id)
                .where(ModelVersion.model_name == model_name)
                .order_by(Deployment.started_at, col(Deployment.id))
            ).all()
        )
