"""Encoding a day's prediction rows as a block: the JSON of features and cohorts parsed in one pyarrow
call (with a pure-Python fallback), each feature typed numeric or categorical, one Arrow table per day."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import operator
from collections.abc import Iterator, Sequence
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
    ids: Sequence
    ts: np.ndarray  # datetime64[us], UTC
    score: Sequence
    predicted: Sequence
    label: Sequence
    features: Sequence
    cohorts: Sequence


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a read builds row tuples: a million tracked tuples per million
    rows set off full collections that scan every live object, for nothing (tuples of text and numbers
    hold no cycles). Re-enabled at the end unless it was off already (another reader's pause)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def take(values: Sequence, pick: np.ndarray) -> Sequence:
    """values[i] for i in pick, in C (operator.itemgetter) rather than a per-row list comprehension; the
    sequence itself when pick is every position in order (one version, nothing frozen: the usual step)."""
    n = len(pick)
    if n == len(values) and np.array_equal(pick, np.arange(n)):
        return values
    if n == 0:
        return []
    got = operator.itemgetter(*pick.tolist())(values)
    return got if n > 1 else (got,)


def parse_json_objects(texts: Sequence[str | dict | None]) -> pa.Table:
    """JSON object texts (or dicts) -> one column per key, scalar values only. pyarrow's reader parses the
    whole batch at once; values it cannot type (a key that is a number in one row and text in another,
    numbers beyond double) fall back to Python, where such a column becomes text."""
    data = _joined(texts)
    if data is None:
        data = _lines(texts)
    table = _read(data, len(texts)) if data is not None else None
    return table if table is not None else _parse_python(texts)


def _joined(texts: Sequence[str | dict | None]) -> bytes | None:
    """The common case without a per-row Python loop (the refresh reads a million texts per million rows):
    every value a one-line JSON object text, joined by newlines in C. None when that does not hold (a None,
    a dict, a value with a line break, a blank or "null" text, leading blanks): the per-row path decides."""
    if not texts:
        return None
    try:
        joined = "\n".join(texts)  # type: ignore[arg-type]  # TypeError on a None or a dict
    except TypeError:
        return None
    # Instead of a check per value: exactly one line per value, each starting with '{'. (pyarrow would skip
    # a blank line and read "null" as a row, so these must not reach it unnoticed.)
    lines = len(texts) - 1
    if joined[:1] != "{" or "\r" in joined or joined.count("\n") != lines or joined.count("\n{") != lines:
        return None
    return joined.encode("utf-8")


def _lines(texts: Sequence[str | dict | None]) -> bytes | None:
    """The per-row path: None and blank or "null" texts as {}, dicts dumped; None when a value holds a line
    break (the pure-Python parser reads those)."""
    lines = []
    for t in texts:
        if t is None:
            lines.append("{}")
        elif isinstance(t, dict):
            lines.append(json.dumps(t))
        else:
            if "\n" in t or "\r" in t:
                return None
            lines.append(t if t.strip() not in ("", "null") else "{}")
    return "\n".join(lines).encode("utf-8")


def _read(data: bytes, rows: int) -> pa.Table | None:
    """pyarrow's reader on one object per line, scalar columns kept; None when it cannot type the values."""
    try:
        table = pa_json.read_json(io.BytesIO(data))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != rows:
        return None
    keep = [i for i, f in enumerate(table.schema) if _scalar_type(f.type)]
    return table.select(keep)


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
