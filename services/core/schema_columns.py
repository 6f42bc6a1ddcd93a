"""Column helpers shared by the table modules: JSON columns (JSONB on Postgres)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

JsonType = sa.JSON().with_variant(JSONB(), "postgresql")


def json_field(*, nullable: bool = True, default: Any = None) -> Any:
    if default is not None:
        return Field(default_factory=default, sa_column=sa.Column(JsonType, nullable=nullable))
    return Field(default=None, sa_column=sa.Column(JsonType, nullable=nullable))
