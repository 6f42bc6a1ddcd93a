"""Roles and the acting user. Permission checks live here and are called by every mutating service."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from services.core.errors import PermissionDenied


class Role(IntEnum):
    viewer = 1
    analyst = 2
    approver = 3
    admin = 4

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        if isinstance(value, Role):
            return value
        try:
            return cls[str(value).strip().lower()]
        except KeyError:
            names = ", ".join(r.name for r in cls)
            raise ValueError(f"Unknown role {value!r}; expected one of: {names}") from None


ROLE_NAMES: tuple[str, ...] = tuple(r.name for r in Role)


@dataclass(frozen=True)
class Actor:
    """Who is acting. `label` is what the audit log records (an e-mail, or `cli:<os user>`)."""

    label: str
    role: Role
    user_id: int | None = None
    # the host's operator (a shell user, the system, the demo loader): owns the database, no account
    operator: bool = False
    # for an account's actor: reads the account's role now (None: disabled or gone); `require` calls it,
    # so a stale actor (an open session, an actor kept by a page) loses what its account lost
    recheck: Callable[[Actor], Role | None] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def cli(cls) -> Actor:
        """A shell user on the server host: they own the database file, so they act as admin."""
        return cls(label=f"cli:{getpass.getuser()}", role=Role.admin, operator=True)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(label=name, role=Role.admin, operator=True)

    def can(self, role: Role) -> bool:
        return self.role >= role


def current_role(actor: Actor) -> Role:
    """The role the actor holds now: for an account, the lower of the actor's and the account's current
    role (one primary-key read); PermissionDenied when the account is disabled or gone."""
    if actor.recheck is None:
        return actor.role
    now = actor.recheck(actor)
    if now is None:
        raise PermissionDenied(f"{actor.label}'s account is disabled or no longer exists: it may do nothing.")
    return min(now, actor.role)


def allowed(actor: Actor, role: Role) -> bool:
    """Whether the actor holds at least `role` now (see current_role)."""
    return current_role(actor) >= role


def require(actor: Actor, role: Role, action: str) -> None:
    """Raise PermissionDenied unless the actor's role (now, for an account) is at least `role`."""
    held = current_role(actor)
    if held < role:
        raise PermissionDenied(f"{actor.label} ({held.name}) may not {action}: needs the {role.name} role or higher.")
