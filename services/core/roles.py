"""Roles and the acting user. Permission checks live here and are called by every mutating service."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
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

    @classmethod
    def cli(cls) -> Actor:
        """A shell user on the server host: they own the database file, so they act as admin."""
        return cls(label=f"cli:{getpass.getuser()}", role=Role.admin, operator=True)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(label=name, role=Role.admin, operator=True)

    def can(self, role: Role) -> bool:
        return self.role >= role


def require(actor: Actor, role: Role, action: str) -> None:
    """Raise PermissionDenied unless the actor's role is at least `role`."""
    if not actor.can(role):
        raise PermissionDenied(
            f"{actor.label} ({actor.role.name}) may not {action}: needs the {role.name} role or higher."
        )
