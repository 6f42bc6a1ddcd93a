"""Saved per-column drift overrides: a model's chosen test and threshold for one column."""

from __future__ import annotations

import math

from sqlalchemy.engine import Engine
from sqlmodel import select

from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role, require
from services.core.schema_models import ModelVersion
from services.core.schema_monitoring import DriftOverride
from services.core.timeutil import utcnow
from services.monitoring.views import OUTPUT_COLUMNS
from services.stats import drift as d
from services.stats import drift_select as ds

# --- overrides ------------------------------------------------------------------------------------


def overrides(engine: Engine, model_name: str) -> dict[str, ds.ColumnOverride]:
    with read_session(engine) as session:
        rows = session.exec(select(DriftOverride).where(DriftOverride.model_name == model_name)).all()
    return {r.column_name: ds.ColumnOverride(r.method, r.threshold) for r in rows}


def list_overrides(engine: Engine, model_name: str) -> list[DriftOverride]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(DriftOverride).where(DriftOverride.model_name == model_name).order_by(DriftOverride.column_name)
            ).all()
        )


def _column_kind(engine: Engine, model_name: str, column: str) -> str | None:
    if column in OUTPUT_COLUMNS:
        return OUTPUT_COLUMNS[column]
    with read_session(engine) as session:
        schemas = session.exec(select(ModelVersion.feature_schema).where(ModelVersion.model_name == model_name)).all()
    for schema in schemas:
        if schema and column in schema:
            return schema[column]
    return None


def _check_threshold(method: str | None, threshold: float | None) -> None:
    if threshold is None:
        return
    if not math.isfinite(threshold) or threshold <= 0:
        raise InvalidInput("A drift threshold is a positive number.")
    if method in d.P_VALUE_METHODS and threshold >= 1:
        raise InvalidInput("A p-value threshold lies between 0 and 1 (e.g. 0.05).")


def set_override(
    engine: Engine, actor: Actor, model_name: str, column: str, method: str | None = None,
    threshold: float | None = None,
) -> DriftOverride:  # fmt: skip
    """Save the test and/or threshold for one column of a model (None keeps that part's default)."""
    require(actor, Role.analyst, "change drift tests")
    column = (column or "").strip()
    if not column:
        raise InvalidInput("Choose the column whose drift test you change.")
    if method is None and threshold is None:
        raise InvalidInput("Choose a test or a threshold (or reset the column to its default).")
    if method is not None and method not in set(d.Method):
        raise InvalidInput(f"Unknown drift test {method!r}; choose one of {', '.join(d.Method)}.")
    kind = _column_kind(engine, model_name, column)
    if method is not None and kind is not None:
        allowed = d.NUMERIC_METHODS | {d.Method.CHI_SQUARE, d.Method.Z} if kind == "numeric" else d.CATEGORICAL_METHODS
        if method not in allowed:
            raise InvalidInput(f"{d.METHOD_LABELS[method]} does not apply to the {kind} column {column!r}.")
    _check_threshold(method, threshold)
    with write_session(engine) as session:
        row = session.exec(
            select(DriftOverride).where(DriftOverride.model_name == model_name, DriftOverride.column_name == column)
        ).first()
        previous = {"method": row.method, "threshold": row.threshold} if row else None
        if row is None:
            row = DriftOverride(model_name=model_name, column_name=column)
        row.method, row.threshold = method, threshold
        row.updated_by, row.updated_at = actor.label, utcnow()
        session.add(row)
        session.flush()
        audit.record(
            session, actor, "monitoring.override.set", "drift_override", f"{model_name}:{column}",
            {"model": model_name, "column": column, "method": method, "threshold": threshold, "previous": previous},
        )  # fmt: skip
        return row


def clear_override(engine: Engine, actor: Actor, model_name: str, column: str) -> bool:
    """Back to the default test and threshold for the column. False when there was nothing to clear."""
    require(actor, Role.analyst, "change drift tests")
    with write_session(engine) as session:
        row = session.exec(
            select(DriftOverride).where(DriftOverride.model_name == model_name, DriftOverride.column_name == column)
        ).first()
        if row is None:
            return False
        previous = {"method": row.method, "threshold": row.threshold}
        session.delete(row)
        audit.record(
            session, actor, "monitoring.override.clear", "drift_override", f"{model_name}:{column}",
            {"model": model_name, "column": column, "previous": previous},
        )  # fmt: skip
        return True
