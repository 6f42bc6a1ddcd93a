"""SQLModel tables: user feedback, its themes, and immutable training dataset versions.

Conventions: timestamps are aware UTC; JSON columns hold plain dicts/lists (JSONB on Postgres); changed
only through Alembic migrations; services/core/schema.py imports every table module.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow


class Feedback(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    feedback_id: str = Field(max_length=200, unique=True)
    request_id: str | None = Field(default=None, max_length=200, foreign_key="prediction.request_id", index=True)
    ts: datetime = Field(index=True)
    source: str = Field(default="", max_length=100)
    rating: int | None = None
    text: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False, server_default=""))
    redactions: int = 0
    category: str | None = Field(default=None, max_length=100)
    status: str = Field(default="new", max_length=20, index=True)
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id")
    corrected_label: int | None = None
    priority: str = Field(default="normal", max_length=20)
    theme_id: int | None = Field(default=None, foreign_key="theme.id", index=True)
    duplicate_group: int | None = Field(default=None, index=True)  # feedback.id of the group's first item
    label_set_by: str | None = Field(default=None, max_length=320)
    label_set_at: datetime | None = None
    version: int = 1  # optimistic concurrency
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: str = Field(default="", max_length=320)


class Theme(SQLModel, table=True):
    """A cluster of feedback texts. `label` starts as the top terms; an analyst may rename it."""

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=200)
    top_terms: list | None = json_field()
    renamed: bool = False
    size: int = 0
    active: bool = True  # false once a later clustering run replaced it
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="", max_length=320)


class TrainingDataset(SQLModel, table=True):
    """A versioned, immutable set of corrected labels taken from feedback for the next training run."""

    __tablename__ = "training_dataset"
    __table_args__ = (sa.UniqueConstraint("name", "version", name="uq_training_dataset_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    version: int
    description: str = Field(default="", max_length=2000)
    item_count: int = 0
    label_counts: dict | None = json_field()
    content_sha256: str = Field(max_length=64)  # over the sorted (feedback id, request id, label) rows
    created_by: str = Field(max_length=320)
    created_at: datetime = Field(default_factory=utcnow)


class TrainingDatasetItem(SQLModel, table=True):
    __tablename__ = "training_dataset_item"

    dataset_id: int = Field(foreign_key="training_dataset.id", primary_key=True)
    feedback_id: int = Field(foreign_key="feedback.id", primary_key=True)
    request_id: str | None = Field(default=None, max_length=200)
    label: int
    labelled_by: str | None = Field(default=None, max_length=320)
    labelled_at: datetime | None = None


def immutable_table_ddl(table: str, dialect: str) -> list[str]:
    """Triggers that refuse every UPDATE and DELETE of `table`'s rows (training dataset versions are
    immutable in the database, not only by convention). Migration 0009 creates the same triggers;
    the listeners below add them to tables made by metadata.create_all (tests, the demo)."""
    message = f"{table} rows are immutable: a training dataset version never changes once created"
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{op} refused: {message}'); END"
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION loopdeck_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION USING MESSAGE = TG_OP || ' refused: ' || TG_ARGV[0]; END $$",
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION loopdeck_refuse_change('{message}')",
        ]
    return []


def drop_immutable_table_ddl(table: str, dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}"]
    return []


IMMUTABLE_TABLES = (TrainingDataset.__table__, TrainingDatasetItem.__table__)
for _table in IMMUTABLE_TABLES:
    for _dialect in ("sqlite", "postgresql"):
        for _statement in immutable_table_ddl(_table.name, _dialect):
            sa.event.listen(_table, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))
