"""Model registry: numbered versions of a model with their skops artifacts, and the history of what
served when (deployments).

Artifacts are written with skops (never pickle) under LOOPDECK_ARTIFACT_DIR (default data/artifacts/),
one file per version, and their SHA-256 is stored with the version. Loading re-checks the checksum,
refuses anything that is not a skops file, and trusts only the types on an allow-list.

The deployment history lives in services/models/deployments.py (writes) and serving.py (reads:
aliases, open deployments); this module re-exports their names, so `registry.aliases`,
`registry.record_deployment` and the like keep working for the pages, the shell and the demo.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from services.core import audit, config
from services.core.db import read_session, write_session
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.roles import Actor, Role, require
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc, utcnow
from services.models.deployments import (  # noqa: F401  (re-exported: the registry's public names)
    STAGES,
    deploy_in_session,
    end_deployment,
    end_in_session,
    record_deployment,
)
from services.models.serving import (  # noqa: F401  (re-exported)
    Aliases,
    aliases,
    aliases_in,
    list_deployments,
    lock_model,
    model_names,
    open_deployments_in,
    previous_champion,
    previous_champion_in,
)


def _skops() -> ModuleType:
    """skops.io, imported on first use, not with the registry: importing it imports every scikit-learn
    estimator (its trusted-type list, ~1-2.5 CPU-s), which every process that never reads or writes an
    artifact (the worker, the API, most page views) would pay at start."""
    import skops.io

    return skops.io


ARTIFACT_DIR_ENV = "LOOPDECK_ARTIFACT_DIR"
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
    return config.artifact_dir()


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
        untrusted = _skops().get_untrusted_types(data=data)
    except Exception as exc:  # a zip that is not a skops archive
        raise InvalidInput(f"{source} is not a valid skops file: {exc}") from None
    refused = [t for t in untrusted if not _type_allowed(t)]
    if refused:
        raise InvalidInput(f"{source} contains types that are not allowed: {', '.join(sorted(refused))}.")
    return list(untrusted)


def dumps_artifact(estimator: Any) -> bytes:
    """Serialise with skops; refuses what could not be loaded back under the allow-list."""
    try:
        data = _skops().dumps(estimator)
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
        return _skops().loads(data, trusted=types)
    except Exception as exc:
        raise InvalidInput(f"{source} could not be loaded: {exc}") from None


# --- validation ------------------------------------------------------------------------------------


def plain_json(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a dict.")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must hold plain JSON values (numbers, text, lists, dicts): {exc}") from None
    return json.loads(text)


def check_schema(feature_schema: dict[str, str]) -> dict[str, str]:
    schema = plain_json(feature_schema, "feature_schema")
    if not schema:
        raise InvalidInput("feature_schema must name at least one feature.")
    bad = {k: v for k, v in schema.items() if v not in FEATURE_KINDS}
    if bad:
        raise InvalidInput(f"feature_schema values must be 'numeric' or 'categorical'; got {bad}.")
    return schema


def check_name(model_name: str) -> str:
    name = (model_name or "").strip()
    if not MODEL_NAME_PATTERN.match(name):
        raise InvalidInput(
            f"Model name {model_name!r} is not valid: use letters, digits, '.', '_' or '-' (at most 200)."
        )
    return name


# --- model versions --------------------------------------------------------------------------------


@dataclass
class NewVersion:
    """A version checked and serialised, ready to be written (register_in_session). `written` is the
    artifact file once written, so that a failed transaction can remove it again (discard)."""

    name: str
    data: bytes | None  # None: a version without an artifact here (trained and served elsewhere)
    sha256: str | None
    feature_schema: dict[str, str]
    params: dict[str, Any]
    metrics: dict[str, Any]
    training_data: dict[str, Any]
    model_card: dict[str, Any]
    parent_id: int | None
    trigger: str
    created_at: datetime | None
    written: Path | None = None

    def discard(self) -> None:
        remove_artifact(self.written)
        self.written = None


def new_version(
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
) -> NewVersion:
    """Check a version's inputs and serialise the estimator with skops (no database, no file yet)."""
    name = check_name(model_name)
    if not hasattr(estimator, "predict"):
        raise InvalidInput("The model must be a fitted estimator with a predict method.")
    data = dumps_artifact(estimator)
    return NewVersion(
        name, data, hashlib.sha256(data).hexdigest(), check_schema(feature_schema), plain_json(params, "params"),
        plain_json(metrics, "metrics"), plain_json(training_data, "training_data"),
        plain_json(model_card, "model_card"), parent_id, (trigger or "manual")[:100], created_at,
    )  # fmt: skip


def register_in_session(
    session: Session, actor: Actor, new: NewVersion, action: str = "model.register", detail: dict | None = None
) -> ModelVersion:
    """Write the next version of `new.name` (status "candidate") and its artifact file (when it has one) in
    the caller's transaction, audited as `action` with `detail` added to the payload; the caller calls
    new.discard() when the transaction fails."""
    require(actor, Role.analyst, "register model versions")
    if new.parent_id is not None:
        parent = session.get(ModelVersion, new.parent_id)
        if parent is None:
            raise NotFound(f"No model version with id {new.parent_id} (the parent).")
        if parent.model_name != new.name:
            raise InvalidInput(f"The parent version belongs to {parent.model_name}, not {new.name}.")
    last = session.exec(select(func.max(ModelVersion.version)).where(ModelVersion.model_name == new.name)).one()
    version = (last or 0) + 1
    path = artifact_path(new.name, version, new.sha256) if new.data is not None and new.sha256 else None
    if path is not None:
        new.written = write_artifact(path, new.data)
    row = ModelVersion(
        model_name=new.name, version=version, created_by=actor.label,
        created_at=to_utc(new.created_at) if new.created_at else utcnow(), training_data=new.training_data,
        feature_schema=new.feature_schema, params=new.params, metrics=new.metrics, model_card=new.model_card,
        artifact_uri=str(path) if path else None, artifact_sha256=new.sha256, parent_id=new.parent_id,
        trigger=new.trigger,
        status="candidate",
    )  # fmt: skip
    session.add(row)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        raise Conflict(f"Another version of {new.name} was registered at the same time; try again.") from None
    audit.record(
        session, actor, action, "model_version", row.id,
        {"model_name": new.name, "version": version, "sha256": new.sha256, "artifact_uri": row.artifact_uri,
         "parent_id": new.parent_id, "trigger": row.trigger, "metrics": new.metrics, **(detail or {})},
    )  # fmt: skip
    return row


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
) -> ModelVersion:
    """Save `estimator` as the next version of `model_name` (status "candidate"), in one transaction;
    when it fails, the artifact file is removed again."""
    require(actor, Role.analyst, "register model versions")
    new = new_version(
        model_name, estimator, feature_schema=feature_schema, params=params, metrics=metrics,
        training_data=training_data, model_card=model_card, parent_id=parent_id, trigger=trigger,
        created_at=created_at,
    )  # fmt: skip
    return register_prepared(engine, actor, new)


def register_prepared(
    engine: Engine,
    actor: Actor,
    new: NewVersion,
    action: str = "model.register",
    detail: dict | None = None,
    prepare: Callable[[Session, NewVersion], None] | None = None,
) -> ModelVersion:
    """register_in_session in a transaction of its own; the artifact file is removed when it fails.
    `prepare` runs first in that transaction (checks and completes `new` from rows it reads there)."""
    try:
        with write_session(engine) as session:
            if prepare is not None:
                prepare(session, new)
            return register_in_session(session, actor, new, action, detail)
    except sa.exc.IntegrityError:
        new.discard()
        raise Conflict(f"Another version of {new.name} was registered at the same time; try again.") from None
    except BaseException:
        new.discard()
        raise


def artifact_path(name: str, version: int, digest: str) -> Path:
    return artifact_dir().resolve() / name / f"v{version}-{digest[:16]}.skops"


def write_artifact(path: Path, data: bytes) -> Path | None:
    """Write the file (atomically). Returns its path, or None when the same file (same name, hence
    same content) was already there: then a failed registration must not delete it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return None
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def remove_artifact(path: Path | None) -> None:
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
    cleaned = plain_json(changes, "the model card")
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
