"""Encoding a day's prediction rows as a block: the JSON of features and cohorts parsed in one pyarrow
call (with a pure-Python fallback), each feature typed numeric or categorical, one Arrow table per day."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

from services.monitoring.blocks import (
    BASE_COLUMNS,
    CATEGORICAL,
    COHORT_PREFIX,
    FEATURE_PREFIX,
    NUMERIC,
    as_number,
    as_text,
)


@dataclass
class RawRows:
    ids: list
    ts: np.ndarray  # datetime64[us], UTC
    score: list
    predicted: list
    label: list
    features: list
    cohorts: list


def parse_json_objects(texts: Sequence[str | dict | None]) -> pa.Table:
    """JSON object texts (or dicts) -> one column per key, scalar values only. pyarrow's reader parses the
    whole batch at once; values it cannot type (a key that is a number in one row and text in another,
    numbers beyond double) fall back to Python, where such a column becomes text."""
    lines = []
    simple = True
    for t in texts:
        if t is None:
            lines.append("{}")
        elif isinstance(t, dict):
            lines.append(json.dumps(t))
        else:
            if "\n" in t or "\r" in t:
                simple = False
                break
            lines.append(t if t.strip() not in ("", "null") else "{}")
    if simple:
        try:
            table = pa_json.read_json(io.BytesIO("\n".join(lines).encode("utf-8")))
            keep = [i for i, f in enumerate(table.schema) if _scalar_type(f.type)]
            return table.select(keep)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return _parse_python(texts)


def _scalar_type(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_null(t)
        or pa.types.is_timestamp(t)
    )


def _parse_python(texts: Sequence[str | dict | None]) -> pa.Table:
    dicts = []
    for t in texts:
        if t is None:
            dicts.append({})
        elif isinstance(t, dict):
            dicts.append(t)
        else:
            value = json.loads(t) if t.strip() else None
            dicts.append(value if isinstance(value, dict) else {})
    keys: dict[str, None] = {}
    for d in dicts:
        for k, v in d.items():
            if v is None or isinstance(v, bool | int | float | str):
                keys.setdefault(k, None)
    columns = {}
    for k in keys:
        values = [d.get(k) for d in dicts]
        kinds = {type(v) for v in values if v is not None}
        if kinds and kinds <= {int, float}:
            columns[k] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        elif kinds == {bool}:
            columns[k] = pa.array(values, pa.bool_())
        else:
            columns[k] = pa.array([None if v is None or isinstance(v, dict | list) else str(v) for v in values],
                                  pa.string())  # fmt: skip
    return pa.table(columns) if columns else pa.table({"__empty__": pa.nulls(len(dicts))}).drop(["__empty__"])


def _is_numeric_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def block_table(raw: RawRows, schema: dict[str, str]) -> pa.Table:
    n = len(raw.ids)
    columns: dict[str, pa.Array] = {
        "id": pa.array(raw.ids, pa.int64()),
        "ts": pa.array(raw.ts, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "score": pa.array(raw.score, pa.float64()),
        "predicted_label": pa.array(raw.predicted, pa.int32()),
        "label": pa.array(raw.label, pa.int32()),
    }
    features = parse_json_objects(raw.features)
    kinds: dict[str, str] = {}
    for name in features.column_names:
        arr = features[name]
        declared = schema.get(name)
        kind = declared if declared in (NUMERIC, CATEGORICAL) else (NUMERIC if _is_numeric_type(arr.type) else None)
        if kind is None:
            kind = CATEGORICAL if not pa.types.is_null(arr.type) else NUMERIC
        columns[FEATURE_PREFIX + name] = as_number(arr) if kind == NUMERIC else as_text(arr).dictionary_encode()
        kinds[name] = kind
    for name, kind in schema.items():  # declared features missing from the whole day: all missing
        if name not in kinds and kind in (NUMERIC, CATEGORICAL):
            columns[FEATURE_PREFIX + name] = (
                pa.nulls(n, pa.float64()) if kind == NUMERIC else pa.nulls(n, pa.string()).dictionary_encode()
            )
    cohorts = parse_json_objects(raw.cohorts)
    for name in cohorts.column_names:
        columns[COHORT_PREFIX + name] = as_text(cohorts[name]).dictionary_encode()
    # A fixed column order: blocks of the same version then share one schema and concatenate as they are.
    names = list(BASE_COLUMNS) + sorted(c for c in columns if c not in BASE_COLUMNS)
    return pa.table({name: columns[name] for name in names})
