"""Model registry: numbered versions of a model with their skops artifacts, and the history of what
served when (deployments).

Artifacts are written with skops (never pickle) under LOOPDECK_ARTIFACT_DIR (default data/artifacts/),
one file per version, and their SHA-256 is stored with the version. Loading re-checks the checksum,
refuses anything that is not a skops file, and trusts only the types on an allow-list.

Deployments are never edited away: a deployment that stops serving gets `ended_at`. Starting a full
deployment ends the model's current full deployment (and this version's canary/shadow); starting a
canary or shadow ends the same version's earlier one at that stage (a new traffic share is a new row).
Approvals and staged rollout rules come on top of this (services/rollout, services/approvals): they
call the in-session functions (`deploy_in_session`, `end_in_session`) so that a deployment, the
approval it executes and their audit events commit together.

Four-eyes holds here too: an approver changes what serves only by executing an approved request
(services/rollout passes the request it has locked). A deployment without a request
(`record_deployment`, `end_deployment`, or the in-session functions without `approval_request_id`)
is an admin's or the system's (the demo loader, an import of history), never a lone approver's.

Aliases: the champion is the version with an open full deployment (exactly one per model while it
serves); challengers are versions with an open canary or shadow deployment.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import skops.io as sio
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from services.core import audit
from services.core.db import ROOT, read_session, write_session
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_governance import ApprovalRequest
from services.core.schema_models import Deployment, ModelVersion
from services.core.timeutil import to_utc, utcnow

ARTIFACT_DIR_ENV = "LOOPDECK_ARTIFACT_DIR"
DEFAULT_ARTIFACT_DIR = ROOT / "data" / "artifacts"
STAGES = ("shadow", "canary", "full")
FEATURE_KINDS = ("numeric", "categorical")
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")

# Types skops does not trust by default that a scikit-learn artifact may still contain. Everything
# else reported by skops.io.get_untrusted_types refuses the file. scikit-learn classes are allowed
# by rule (a class name, not a function), numpy only by this explicit list.
ALLOWED_UNTRUSTED_TYPES = frozenset(
    {
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "numpy.dtype",
        "numpy.float64",
        "numpy.float32",
        "numpy.int64",
        "numpy.int32",
        "numpy.bool_",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random._pcg64.PCG64",
        "numpy.random.bit_generator.SeedSequence",
    }
)


def artifact_dir() -> Path:
    return Path(os.environ.get(ARTIFACT_DIR_ENV) or DEFAULT_ARTIFACT_DIR)


def _type_allowed(name: str) -> bool:
    if name in ALLOWED_UNTRUSTED_TYPES:
        return True
    parts = name.split(".")
    # A scikit-learn class (CamelCase last part), not a function or something from another package.
    return parts[0] == "sklearn" and len(parts) >= 3 and parts[-1].lstrip("_")[:1].isupper()


def trusted_types(data: bytes, source: str = "the artifact") -> list[str]:
    """The types to pass to skops.io.loads: skops' untrusted list, every one checked against the
    allow-list. Raises InvalidInput for a file that is not a skops zip or holds another type."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise InvalidInput(f"{source} is not a skops file (pickles and other formats are never loaded).")
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a zip that is not a skops archive
        raise InvalidInput(f"{source} is not a valid skops file: {exc}") from None
    refused = [t for t in untrusted if not _type_allowed(t)]
    if refused:
        raise InvalidInput(f"{source} contains types that are not allowed: {', '.join(sorted(refused))}.")
    return list(untrusted)


def dumps_artifact(estimator: Any) -> bytes:
    """Serialise with skops; refuses what could not be loaded back under the allow-list."""
    try:
        data = sio.dumps(estimator)
    except Exception as exc:
        raise InvalidInput(f"The model cannot be saved with skops: {exc}") from None
    trusted_types(data, "the model")
    return data


def loads_artifact(data: bytes, expected_sha256: str | None, source: str = "the artifact") -> Any:
    """Checksum first, then format and types, then skops.io.loads."""
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise InvalidInput(
            f"{source} does not match its registered checksum (sha256 {digest[:12]}... instead of "
            f"{expected_sha256[:12]}...): it was changed or replaced after registration."
        )
    types = trusted_types(data, source)
    try:
        return sio.loads(data, trusted=types)
    except Exception as exc:
        raise InvalidInput(f"{source} could not be loaded: {exc}") from None


# --- validation ------------------------------------------------------------------------------------


def _plain_json(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a dict.")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must hold plain JSON values (numbers, text, lists, dicts): {exc}") from None
    return json.loads(text)


def _check_schema(feature_schema: dict[str, str]) -> dict[str, str]:
    schema = _plain_json(feature_schema, "feature_schema")
    if not schema:
        raise InvalidInput("feature_schema must name at least one feature.")
    bad = {k: v for k, v in schema.items() if v not in FEATURE_KINDS}
    if bad:
        raise InvalidInput(f"feature_schema values must be 'numeric' or 'categorical'; got {bad}.")
    return schema


def _check_name(model_name: str) -> str:
    name = (model_name or "").strip()
    if not MODEL_NAME_PATTERN.match(name):
        raise InvalidInput(
            f"Model name {model_name!r} is not valid: use letters, digits, '.', '_' or '-' (at most 200)."
        )
    return name


# --- model versions --------------------------------------------------------------------------------


def register_model_version(
    engine: Engine,
    actor: Actor,
    model_name: str,
    estimator: Any,
    *,
    feature_schema: dict[str, str],
    params: dict[str, Any] | None,
    metrics: dict[str, Any] | None,
    training_data: dict[str, Any] | None,
    model_card: dict[str, Any] | None,
    parent_id: int | None = None,
    trigger: str = "manual",
    created_at: datetime | None = None,
    also: Callable[[Session, ModelVersion], None] | None = None,
) -> ModelVersion:
    """Save `estimator` as the next version of `model_name` (status "candidate").

    `also(session, row)` runs inside the same transaction once the row is written (before its audit
    event), e.g. to mark the approval request that asked for this retraining as executed; when it
    raises, nothing is registered and the artifact file is removed again."""
    require(actor, Role.analyst, "register model versions")
    name = _check_name(model_name)
    if not hasattr(estimator, "predict"):
        raise InvalidInput("The model must be a fitted estimator with a predict method.")
    schema = _check_schema(feature_schema)
    params_, metrics_ = _plain_json(params, "params"), _plain_json(metrics, "metrics")
    training_, card = _plain_json(training_data, "training_data"), _plain_json(model_card, "model_card")
    data = dumps_artifact(estimator)
    digest = hashlib.sha256(data).hexdigest()
    written: Path | None = None
    try:
        with write_session(engine) as session:
            if parent_id is not None:
                parent = session.get(ModelVersion, parent_id)
                if parent is None:
                    raise NotFound(f"No model version with id {parent_id} (the parent).")
                if parent.model_name != name:
                    raise InvalidInput(f"The parent version belongs to {parent.model_name}, not {name}.")
            last = session.exec(select(func.max(ModelVersion.version)).where(ModelVersion.model_name == name)).one()
            version = (last or 0) + 1
            path = _artifact_path(name, version, digest)
            written = _write_artifact(path, data)
            uri = str(path)
            row = ModelVersion(
                model_name=name,
                version=version,
                created_by=actor.label,
                created_at=to_utc(created_at) if created_at else utcnow(),
                training_data=training_,
                feature_schema=schema,
                params=params_,
                metrics=metrics_,
                model_card=card,
                artifact_uri=uri,
                artifact_sha256=digest,
                parent_id=parent_id,
                trigger=(trigger or "manual")[:100],
                status="candidate",
            )
            session.add(row)
            session.flush()
            if also is not None:  # before the audit event: the chain's lock is always taken last
                also(session, row)
            audit.record(
                session,
                actor,
                "model.register",
                "model_version",
                row.id,
                {
                    "model_name": name,
                    "version": version,
                    "sha256": digest,
                    "artifact_uri": uri,
                    "parent_id": parent_id,
                    "trigger": row.trigger,
                    "metrics": metrics_,
                },
            )
            return row
    except sa.exc.IntegrityError:
        _remove(written)
        raise Conflict(f"Another version of {name} was registered at the same time; try again.") from None
    except BaseException:
        _remove(written)
        raise


def _artifact_path(name: str, version: int, digest: str) -> Path:
    return artifact_dir().resolve() / name / f"v{version}-{digest[:16]}.skops"


def _write_artifact(path: Path, data: bytes) -> Path | None:
    """Write the file (atomically). Returns its path, or None when the same file (same name, hence
    same content) was already there: then a failed registration must not delete it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return None
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _remove(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def get_version(engine: Engine, model_version_id: int) -> ModelVersion:
    with read_session(engine) as session:
        row = session.get(ModelVersion, model_version_id)
    if row is None:
        raise NotFound(f"No model version with id {model_version_id}.")
    return row


def find_version(engine: Engine, model_name: str, version: int) -> ModelVersion:
    with read_session(engine) as session:
        row = session.exec(
            select(ModelVersion).where(ModelVersion.model_name == model_name, ModelVersion.version == version)
        ).first()
    if row is None:
        raise NotFound(f"No version {version} of model {model_name}.")
    return row


def list_versions(engine: Engine, model_name: str | None = None) -> list[ModelVersion]:
    query = select(ModelVersion).order_by(ModelVersion.model_name, ModelVersion.version)
    if model_name is not None:
        query = query.where(ModelVersion.model_name == model_name)
    with read_session(engine) as session:
        return list(session.exec(query).all())


def load_model(engine: Engine, model_version_id: int) -> Any:
    """The fitted estimator of a version, after checking its file against the stored SHA-256."""
    row = get_version(engine, model_version_id)
    if not row.artifact_uri or not row.artifact_sha256:
        raise NotFound(f"{row.model_name} v{row.version} has no artifact.")
    path = Path(row.artifact_uri)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"The artifact of {row.model_name} v{row.version} is missing ({path}).") from None
    return loads_artifact(data, row.artifact_sha256, f"The artifact of {row.model_name} v{row.version}")


# --- artifacts on demand -------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactCheck:
    """The result of re-reading a version's artifact: checksum, format and types, then loading it."""

    ok: bool
    expected_sha256: str
    actual_sha256: str | None
    size_bytes: int | None
    message: str


def verify_artifact(engine: Engine, model_version_id: int) -> ArtifactCheck:
    """Read the artifact file again and load it exactly as serving would (checksum first)."""
    row = get_version(engine, model_version_id)
    expected = row.artifact_sha256 or ""
    path = Path(row.artifact_uri) if row.artifact_uri else None
    if path is None or not path.is_file():
        return ArtifactCheck(False, expected, None, None, f"The artifact file is missing ({path}).")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    try:
        loads_artifact(data, row.artifact_sha256, f"The artifact of {row.model_name} v{row.version}")
    except InvalidInput as exc:
        return ArtifactCheck(False, expected, actual, len(data), str(exc))
    return ArtifactCheck(True, expected, actual, len(data), "Checksum matches; the skops file loads.")


def update_model_card(engine: Engine, actor: Actor, model_version_id: int, changes: dict[str, str]) -> ModelVersion:
    """Edit the text fields of a model card (intended use, limitations, ...). Audited with the old text."""
    require(actor, Role.analyst, "edit model cards")
    cleaned = _plain_json(changes, "the model card")
    bad = [k for k, v in cleaned.items() if not isinstance(v, str) or len(v) > 5000]
    if bad:
        raise InvalidInput(f"Model card fields are text of at most 5,000 characters: {', '.join(bad)}.")
    with write_session(engine) as session:
        row = session.get(ModelVersion, model_version_id)
        if row is None:
            raise NotFound(f"No model version with id {model_version_id}.")
        before = dict(row.model_card or {})
        changed = {k: v for k, v in cleaned.items() if before.get(k) != v}
        if not changed:
            return row
        row.model_card = {**before, **changed}
        session.add(row)
        audit.record(
            session, actor, "model.card", "model_version", row.id,
            {"changed": {k: {"from": before.get(k), "to": v} for k, v in changed.items()}},
        )  # fmt: skip
        return row


# --- deployments -----------------------------------------------------------------------------------


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


def _check_share(stage: str, traffic_share: float) -> float:
    if stage not in STAGES:
        raise InvalidInput(f"Unknown stage {stage!r}; expected one of: {', '.join(STAGES)}.")
    try:
        share = float(traffic_share)
    except (TypeError, ValueError):
        raise InvalidInput("traffic_share must be a number between 0 and 1.") from None
    if not math.isfinite(share) or not 0.0 <= share <= 1.0:
        raise InvalidInput("traffic_share must be between 0 and 1.")
    if stage == "shadow" and share != 0.0:
        raise InvalidInput("A shadow deployment serves no traffic: its share is 0.")
    if stage != "shadow" and share <= 0.0:
        raise InvalidInput(f"A {stage} deployment needs a traffic share above 0.")
    return share


def _check_authority(
    session: Session,
    actor: Actor,
    approval_request_id: int | None,
    action: str,
    kinds: tuple[str, ...],
    version: ModelVersion,
) -> None:
    """An approver acts on what serves only under an approved request of a matching kind about this
    model (the caller has locked it with approvals.lock_for_execution); without one, only an admin
    (or the system)."""
    require(actor, Role.approver, action)
    if approval_request_id is None:
        require(actor, Role.admin, f"{action} without an approved request (request the change instead)")
        return
    request = session.get(ApprovalRequest, approval_request_id)
    if request is None:
        raise NotFound(f"No approval request #{approval_request_id}.")
    if request.status != "approved" or request.kind not in kinds:
        raise Conflict(f"Request #{request.id} ({request.kind}, {request.status}) does not authorise you to {action}.")
    subject = str(version.id) if request.subject_type == "model_version" else version.model_name
    if request.subject_id != subject:
        raise Conflict(
            f"Request #{request.id} is about {request.subject_type} {request.subject_id}, "
            f"not {version.model_name} v{version.version}."
        )


def deploy_in_session(
    session: Session,
    actor: Actor,
    model_version_id: int,
    stage: str,
    traffic_share: float,
    started_at: datetime | None = None,
    reason: str = "",
    approval_request_id: int | None = None,
) -> Deployment:
    """record_deployment inside the caller's transaction (the caller commits; see record_deployment).

    Locks the model's versions first, then writes; the audit event goes last so that the audit
    chain's lock is always taken after the model's (one lock order for every writer).
    With `approval_request_id`, the request must be an approved promote, canary or rollback request;
    without one, the actor must be an admin (see the module docstring)."""
    require(actor, Role.approver, "deploy model versions")
    share = _check_share(stage, traffic_share)
    when = to_utc(started_at) if started_at else utcnow()
    row = session.get(ModelVersion, model_version_id)
    if row is None:
        raise NotFound(f"No model version with id {model_version_id}.")
    _check_authority(
        session, actor, approval_request_id, "deploy model versions", ("promote", "canary", "rollback"), row
    )
    versions = {v.id: v for v in lock_model(session, row.model_name)}
    row = versions[row.id]
    open_rows = open_deployments_in(session, list(versions))
    if stage == "full":
        to_end = [d for d in open_rows if d.stage == "full" or d.model_version_id == row.id]
    else:
        if any(d.model_version_id == row.id and d.stage == "full" for d in open_rows):
            raise InvalidInput(f"{row.model_name} v{row.version} already serves full traffic.")
        to_end = [d for d in open_rows if d.model_version_id == row.id and d.stage in (stage, "shadow", "canary")]
    for d in to_end:
        if to_utc(d.started_at) > when:
            raise InvalidInput(
                f"Deployment {d.id} started at {to_utc(d.started_at):%Y-%m-%d %H:%M} UTC, after "
                f"{when:%Y-%m-%d %H:%M} UTC: a deployment cannot end before it started."
            )
        d.ended_at, d.ended_by = when, actor.label
        d.end_reason = f"replaced by a {stage} deployment of v{row.version}"
        session.add(d)
    deployment = Deployment(
        model_version_id=row.id,
        stage=stage,
        traffic_share=share,
        started_at=when,
        started_by=actor.label,
        reason=(reason or "")[:2000],
        approval_request_id=approval_request_id,
    )
    session.add(deployment)
    ended_ids = {d.id for d in to_end}
    still_open = {d.model_version_id for d in open_rows if d.id not in ended_ids}
    status_changes: dict[int, tuple[str, str]] = {}

    def set_status(version: ModelVersion, status: str) -> None:
        if version.status != status:
            status_changes[version.version] = (version.status, status)
            version.status = status
            session.add(version)

    if stage == "full":
        for d in to_end:
            old = versions[d.model_version_id]
            if old.id != row.id and d.stage == "full":
                set_status(old, "challenger" if old.id in still_open else "archived")
        set_status(row, "champion")
    elif row.status != "champion":
        set_status(row, "challenger")
    session.flush()
    audit.record(
        session,
        actor,
        "model.deploy",
        "deployment",
        deployment.id,
        {
            "model_name": row.model_name,
            "version": row.version,
            "model_version_id": row.id,
            "stage": stage,
            "traffic_share": share,
            "started_at": when.isoformat(),
            "reason": deployment.reason,
            "ended_deployments": [d.id for d in to_end],
            "status_changes": {str(k): list(v) for k, v in status_changes.items()},
            "approval_request_id": approval_request_id,
        },
    )
    return deployment


def record_deployment(
    engine: Engine,
    actor: Actor,
    model_version_id: int,
    stage: str,
    traffic_share: float,
    started_at: datetime | None = None,
    reason: str = "",
) -> Deployment:
    """Start serving a version at `stage` with `traffic_share` (0..1) from `started_at` (default now).

    full: ends the model's open full deployment and this version's open canary/shadow; the version
    becomes champion, the replaced one archived (or challenger while it still serves a canary).
    canary/shadow: ends this version's open canary or shadow (a new traffic share is a new row); a
    candidate or archived version becomes challenger. A version that serves full cannot also be a
    canary or shadow.

    No approval request is involved, so this is for admins and the system (the demo loader, importing
    a deployment history): approvers deploy by executing an approved request (services/rollout).
    """
    require(actor, Role.admin, "deploy model versions without an approved request (request the change instead)")
    _check_share(stage, traffic_share)
    with write_session(engine) as session:
        deployment = deploy_in_session(session, actor, model_version_id, stage, traffic_share, started_at, reason)
        model_name = session.get(ModelVersion, model_version_id).model_name
    _write_routing(engine, model_name)
    return deployment


def _write_routing(engine: Engine, model_name: str) -> None:
    """Every change of what serves rewrites the routing file production reads (services/rollout)."""
    from services.models import rollout  # rollout builds on this module

    rollout.write_routing_file(engine, model_name)


def end_in_session(
    session: Session,
    actor: Actor,
    deployment_id: int,
    ended_at: datetime | None = None,
    reason: str = "",
    approval_request_id: int | None = None,
) -> Deployment:
    """end_deployment inside the caller's transaction. Ending a full deployment is refused: a model
    always keeps a champion (replace it with deploy_in_session instead). Needs an approved rollback
    request (`approval_request_id`) or an admin, like deploy_in_session."""
    require(actor, Role.approver, "end deployments")
    when = to_utc(ended_at) if ended_at else utcnow()
    deployment = session.get(Deployment, deployment_id)
    if deployment is None:
        raise NotFound(f"No deployment with id {deployment_id}.")
    version = session.get(ModelVersion, deployment.model_version_id)
    _check_authority(session, actor, approval_request_id, "end deployments", ("rollback",), version)
    versions = {v.id: v for v in lock_model(session, version.model_name)}
    version = versions[version.id]
    session.refresh(deployment)
    if deployment.ended_at is not None:
        raise Conflict(f"Deployment {deployment_id} already ended.")
    if deployment.stage == "full":
        raise InvalidInput(
            "A full deployment is never just ended (the model would have no champion): promote or roll back instead."
        )
    if to_utc(deployment.started_at) > when:
        raise InvalidInput("A deployment cannot end before it started.")
    deployment.ended_at, deployment.ended_by, deployment.end_reason = when, actor.label, (reason or "")[:2000]
    session.add(deployment)
    session.flush()
    status_change = None
    still_serving = [d for d in open_deployments_in(session, [version.id]) if d.id != deployment.id]
    if not still_serving and version.status == "challenger":
        status_change = [version.status, "archived"]
        version.status = "archived"
        session.add(version)
    audit.record(
        session,
        actor,
        "model.undeploy",
        "deployment",
        deployment.id,
        {
            "model_name": version.model_name,
            "version": version.version,
            "stage": deployment.stage,
            "ended_at": when.isoformat(),
            "reason": reason,
            "status_change": status_change,
            "approval_request_id": approval_request_id,
        },
    )
    return deployment


def end_deployment(
    engine: Engine, actor: Actor, deployment_id: int, ended_at: datetime | None = None, reason: str = ""
) -> Deployment:
    """Stop one open canary or shadow deployment without starting another. Admins and the system only:
    approvers end a canary by executing an approved rollback request (services/rollout)."""
    require(actor, Role.admin, "end deployments without an approved request (request a rollback instead)")
    with write_session(engine) as session:
        deployment = end_in_session(session, actor, deployment_id, ended_at, reason)
        model_name = session.get(ModelVersion, deployment.model_version_id).model_name
    _write_routing(engine, model_name)
    return deployment


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
