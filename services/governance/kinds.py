"""Request kinds: what governance knows about a change it guards, told by the feature that owns it.

Governance imports no feature. Each feature describes its kinds with a `RequestKind` (how to
fingerprint the subject, how to check the payload, what executing would do, the change itself, the
role that may execute it) and registers them from its own package (services/models/requests.py,
services/experiments/requests.py). services/kinds.py, above every feature, imports those modules:
every entry point (the shell, the app, the tests) calls `services.kinds.load()` once at start, so
the registry never depends on which module happened to be imported first. A kind that is not
registered is refused with a message that says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.core import audit
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role
from services.core.schema_governance import ApprovalRequest

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Preview:
    """What executing a request would do now, in plain words, with a digest of the state it was made on
    (the user confirms against it; the executor refuses when it changed)."""

    steps: tuple[str, ...]
    executable: bool = True
    blocker: str = ""  # why not, when not executable
    digest: str = ""
    kind: str = ""  # filled in by the executor
    detail: Any = None  # the feature's own plan object, for its pages


@dataclass(frozen=True)
class RequestKind:
    """One kind of approval request.

    fingerprint(session, subject_id): a digest of what approvers judged; a change resets approvals.
    validate(session, payload): the payload, checked and normalised (raises InvalidInput).
    preview(session, request): a Preview of the execution, from the state as it is now (read only).
    plan(session, request, actor, prepared): performs the change in the executor's transaction and
        returns a JSON-able summary (stored as the request's result).
    execute_role: the role executing needs, from every page and the shell.
    lock_subject(session, request): lock the subject's rows after the request is locked.
    prepare(engine, actor, request, progress): slow work before the transaction (a training run);
        its value reaches plan, and discard(prepared) undoes its side effects when the transaction fails.
    after_commit(engine, result): side effects once committed (e.g. the routing file); its value is
        the Execution's `after`.
    summarize(result, prepared): one line for the user (default: the preview's first step).
    """

    name: str
    subject_type: str
    fingerprint: Callable[[Session, str], str]
    preview: Callable[[Session, ApprovalRequest], Preview]
    plan: Callable[[Session, ApprovalRequest, Actor, Any], dict[str, Any]]
    execute_role: Role = Role.approver
    validate: Callable[[Session, dict[str, Any]], dict[str, Any]] | None = None
    lock_subject: Callable[[Session, ApprovalRequest], None] | None = None
    prepare: Callable[[Engine, Actor, ApprovalRequest, Progress | None], Any] | None = None
    discard: Callable[[Any], None] | None = None
    after_commit: Callable[[Engine, dict[str, Any]], Any] | None = None
    summarize: Callable[[dict[str, Any], Any], str] | None = None
    label: str = field(default="")


# name -> kind, in registration order (the Approvals page lists them in this order)
REGISTRY: dict[str, RequestKind] = {}


def register(*kinds: RequestKind) -> None:
    """Add (or replace, on a module reload) kinds. Two features may not claim one name."""
    for kind in kinds:
        current = REGISTRY.get(kind.name)
        if current is not None and current.plan.__module__ != kind.plan.__module__:
            raise ValueError(f"Request kind {kind.name!r} is registered by {current.plan.__module__} already.")
        REGISTRY[kind.name] = kind


def order(names: tuple[str, ...]) -> None:
    """List the registered kinds in this order (the rest after them): pages show them so."""
    ordered = {n: REGISTRY[n] for n in names if n in REGISTRY}
    ordered.update({n: k for n, k in REGISTRY.items() if n not in ordered})
    REGISTRY.clear()
    REGISTRY.update(ordered)


def get(name: str) -> RequestKind:
    kind = REGISTRY.get(name)
    if kind is None:
        if not REGISTRY:
            raise InvalidInput(
                f"No request kinds are registered (asked for {name!r}): "
                "the entry point must call services.kinds.load()."
            )
        raise InvalidInput(f"Unknown request kind {name!r}; expected one of: {', '.join(REGISTRY)}.")
    return kind


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def digest(value: Any) -> str:
    """SHA-256 of a value's canonical JSON: what fingerprints are made of."""
    return hashlib.sha256(audit.canonical_json(value).encode()).hexdigest()


def simple_digest(request: ApprovalRequest) -> str:
    """The digest of a preview whose only state is the request and its subject's fingerprint."""
    return hashlib.sha256(f"{request.id}:{request.subject_fingerprint}".encode()).hexdigest()[:16]
