"""Model versions trained elsewhere: a pipeline outside Loopdeck registers what it trained (parameters,
metrics overall and per cohort, feature schema, training window, code reference) and, optionally, the
skops artifact with its SHA-256. The version is a candidate like any other: its predictions can be
logged, and it is judged, approved and rolled out through the same services.

Metrics are stored as the registry stores them (`{"accuracy": .., "roc_auc": .., "cohorts": {field:
{value: {metric: ..}}}}`); the training window as `window_start`/`window_end` in training_data, with
`rows`, `source: "external"` and the code reference. An artifact is checked before anything is written:
its SHA-256 must equal the one sent, it must be a skops file whose types are on the registry's
allow-list (never a pickle); it is written like the registry's own artifacts.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_governance import ApprovalRequest
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc
from services.core.tokens import require_scope
from services.models import registry

MAX_ARTIFACT_BYTES = 48 * 1024 * 1024
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MAX_CODE_REFERENCE = 500


@dataclass(frozen=True)
class ExternalVersion:
    """What a pipeline tells about a version it trained."""

    feature_schema: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # overall
    cohort_metrics: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # field -> value -> metric
    window_start: datetime | None = None
    window_end: datetime | None = None
    training_rows: int | None = None
    code_reference: str = ""
    model_card: dict[str, str] = field(default_factory=dict)
    retrain_request_id: int | None = None  # the approved retrain request the pipeline was called for


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{where} must be a finite number; got {value!r}.")
    return float(value)


def _metrics(info: ExternalVersion) -> dict[str, Any]:
    overall = registry.plain_json(info.metrics, "metrics")
    out: dict[str, Any] = {k: _number(v, f"metrics.{k}") for k, v in overall.items() if k != "cohorts"}
    cohorts: dict[str, Any] = {}
    for field_name, values in registry.plain_json(info.cohort_metrics, "cohort metrics").items():
        if not isinstance(values, dict):
            raise InvalidInput(f"cohort metrics.{field_name} must map cohort values to metrics.")
        cohorts[field_name] = {}
        for value, metrics in values.items():
            if not isinstance(metrics, dict):
                raise InvalidInput(f"cohort metrics.{field_name}.{value} must map metric names to numbers.")
            where = f"cohort metrics.{field_name}.{value}"
            cohorts[field_name][value] = {k: _number(v, f"{where}.{k}") for k, v in metrics.items()}
    if cohorts:
        out["cohorts"] = cohorts
    return out


def _training(info: ExternalVersion) -> dict[str, Any]:
    start = to_utc(info.window_start) if info.window_start else None
    end = to_utc(info.window_end) if info.window_end else None
    if start and end and start > end:
        raise InvalidInput("The training window starts after it ends.")
    if info.training_rows is not None and info.training_rows < 0:
        raise InvalidInput("training_rows cannot be negative.")
    if len(info.code_reference or "") > MAX_CODE_REFERENCE:
        raise InvalidInput(f"The code reference is longer than {MAX_CODE_REFERENCE} characters.")
    out: dict[str, Any] = {"source": "external", "code_reference": info.code_reference or ""}
    if start:
        out["window_start"] = start.isoformat()
    if end:
        out["window_end"] = end.isoformat()
    if info.training_rows is not None:
        out["rows"] = info.training_rows
    return out


def check_artifact(data: bytes, sha256: str | None) -> str:
    """The artifact's SHA-256 after checking it equals `sha256` and that the file is an allowed skops file."""
    if len(data) > MAX_ARTIFACT_BYTES:
        raise InvalidInput(f"The artifact has {len(data):,} bytes; the limit is {MAX_ARTIFACT_BYTES:,}.")
    digest = hashlib.sha256(data).hexdigest()
    expected = (sha256 or "").strip().lower()
    if not SHA256_PATTERN.match(expected):
        raise InvalidInput("An artifact needs its SHA-256 (64 hexadecimal characters) to be checked against.")
    if digest != expected:
        raise InvalidInput(
            f"The artifact's SHA-256 is {digest}, not {expected}: it was damaged or replaced on the way."
        )
    registry.trusted_types(data, "the artifact")
    return digest


def register_external_version(
    engine: Engine,
    actor: Actor,
    model_name: str,
    info: ExternalVersion,
    artifact: bytes | None = None,
    artifact_sha256: str | None = None,
) -> ModelVersion:
    """Register the next version of `model_name` (status "candidate"); audited. Its trigger is "external",
    or, when the pipeline names the executed retrain request it was called for, that request (and what
    triggered it: "retrain request #4, alert #12"), with the request's base version as its parent."""
    require_scope(actor, "models:write", [model_name])
    require(actor, Role.analyst, "register model versions")
    name = registry.check_name(model_name)
    schema = registry.check_schema(info.feature_schema)
    params = registry.plain_json(info.params, "params")
    card = {str(k): str(v) for k, v in registry.plain_json(info.model_card, "model_card").items()}
    metrics, training = _metrics(info), _training(info)
    digest = check_artifact(artifact, artifact_sha256) if artifact is not None else None
    new = registry.NewVersion(name, artifact, digest, schema, params, metrics, training, card, None, "external", None)
    detail = {"code_reference": training["code_reference"], "retrain_request_id": info.retrain_request_id}
    prepare = None
    if info.retrain_request_id is not None:
        request_id = int(info.retrain_request_id)
        prepare = lambda session, new: _from_request(session, new, request_id)  # noqa: E731
    return registry.register_prepared(engine, actor, new, "model.register_external", detail, prepare)


def request_trigger(request: ApprovalRequest) -> str:
    """How a version trained for this request names its trigger: the request, and what filed it."""
    filed = str((request.payload or {}).get("trigger") or "manual")
    if filed.startswith("alert:"):
        filed = f"alert #{filed.split(':', 1)[1]}"
    return f"retrain request #{request.id}, {filed}"[:100]


def _from_request(session: Session, new: registry.NewVersion, request_id: int) -> None:
    """Check that the request is an executed retrain request of this model that went to its pipeline and
    has no version yet (one request, one version); record it as the version's trigger and its base as the
    parent (in the registration's transaction)."""
    request = session.get(ApprovalRequest, request_id)
    if request is None or request.kind != "retrain" or request.subject_id != new.name:
        raise NotFound(f"No retrain request #{request_id} for {new.name}.")
    if request.status != "executed" or "external_pipeline" not in (request.result or {}):
        raise InvalidInput(f"Retrain request #{request_id} was not sent to {new.name}'s external pipeline "
                           f"(it is {request.status}): a version cannot name it.")  # fmt: skip
    trigger = request_trigger(request)
    taken = session.exec(select(ModelVersion.version).where(ModelVersion.model_name == new.name,
                                                            ModelVersion.trigger == trigger)).first()  # fmt: skip
    if taken is not None:
        raise Conflict(f"Retrain request #{request_id} already has its version: {new.name} v{taken}.")
    base_id = (request.payload or {}).get("base_version_id")
    base = session.get(ModelVersion, int(base_id)) if base_id is not None else None
    new.parent_id = base.id if base is not None and base.model_name == new.name else None
    new.trigger = trigger
    new.training_data = {**new.training_data, "approval_request_id": request.id,
                         "request_trigger": (request.payload or {}).get("trigger") or "manual"}  # fmt: skip
