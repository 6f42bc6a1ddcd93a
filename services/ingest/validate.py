"""Validation of an import, vectorised with pandas (no Python loop over rows).

Two phases:
- `check_frame`: header (unknown / missing / repeated columns), cell types, ranges, duplicate natural
  ids inside the file, and lookups in the small reference tables (model versions, experiments and
  their variants) read beforehand into a `Catalog`.
- `check_database` (inside the write transaction): outcomes / feedback that point at a prediction
  that is not in the database, and which natural ids are already known (those rows are skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from services.core.schema_experiments import Experiment
from services.core.schema_models import ModelVersion
from services.feedback import pii
from services.ingest import convert
from services.ingest.bounds import check_header_width, check_width
from services.ingest.erased import refuse_erased
from services.ingest.kinds import COHORT_FIELD, COHORT_FIELD_MAX, MAX_COHORT_VALUES, KindSpec
from services.ingest.problems import ProblemLog, quote

Progress = Callable[[float, str], None]


@dataclass
class Catalog:
    """Reference data the rows point at (small tables, read once per import)."""

    model_versions: dict[tuple[str, int], tuple[int, dict | None]]  # (name, version) -> (id, feature_schema)
    experiments: dict[str, tuple[int, list[str]]]  # key -> (id, variant keys)

    @classmethod
    def load(cls, conn: sa.Connection, kind: str) -> Catalog:
        versions: dict[tuple[str, int], tuple[int, dict | None]] = {}
        experiments: dict[str, tuple[int, list[str]]] = {}
        if kind == "predictions":
            t = ModelVersion.__table__
            for id_, name, version, schema in conn.execute(
                sa.select(t.c.id, t.c.model_name, t.c.version, t.c.feature_schema)
            ):
                versions[(name, int(version))] = (id_, schema if isinstance(schema, dict) else None)
        if kind in ("exposures", "metrics"):
            t = Experiment.__table__
            for id_, key, variants in conn.execute(sa.select(t.c.id, t.c.key, t.c.variants)):
                keys = [str(v.get("key")) for v in (variants or []) if isinstance(v, dict) and v.get("key") is not None]
                experiments[key] = (id_, keys)
        return cls(versions, experiments)


@dataclass
class Prepared:
    """A checked file: typed columns by their database name, ready to write."""

    spec: KindSpec
    n: int
    columns: dict[str, pd.Series] = field(default_factory=dict)
    features: list[tuple[str, convert.Feature]] = field(default_factory=list)
    cohorts: list[tuple[str, pd.Series]] = field(default_factory=list)
    redactions: np.ndarray | None = None  # per row (feedback)
    bad: np.ndarray | None = None  # rows with a problem
    known: np.ndarray | None = None  # natural id already in the database

    def release_all_but_keys(self) -> None:
        """Drop the typed values that check_database() does not need."""
        keep = set(KNOWN_KEYS[self.spec.name][1]) | {"request_id"}
        self.columns = {k: v for k, v in self.columns.items() if k in keep}
        self.features, self.cohorts = [], []


# --- header ------------------------------------------------------------------------------------


@dataclass
class Header:
    fixed: dict[str, str]  # spec column name -> file column name
    features: list[tuple[str, str]]  # (file column, feature name)
    cohorts: list[tuple[str, str]]


def check_header(spec: KindSpec, columns: list[str], log: ProblemLog) -> Header:
    fixed_names = {c.name for c in spec.fixed_columns}
    prefixes = {c.stem: c for c in spec.prefix_columns}
    header = Header({}, [], [])
    for col in columns:
        low = col.lower()
        if low in fixed_names:
            if low in header.fixed:
                log.add(f"column {quote(low)} appears more than once", column=col)
            header.fixed[low] = col
            continue
        stem = next((p for p in prefixes if low.startswith(p) and len(col) > len(p)), None)
        if stem == "feature_":
            header.features.append((col, col[len(stem) :]))
        elif stem == "cohort_":
            header.cohorts.append((col, col[len(stem) :]))
        else:
            expected = ", ".join(c.name for c in spec.columns)
            log.add(f"unknown column {quote(col)}; the {spec.name} columns are: {expected}", column=col or None)
    for name in spec.required_columns:
        if name not in header.fixed:
            log.add(f"missing column {quote(name)}", column=name)
    return header


# --- rows --------------------------------------------------------------------------------------


def _quoted(raw: pd.Series, what: str) -> Callable[[np.ndarray], list[str]]:
    def build(positions: np.ndarray) -> list[str]:
        return [f"{what}: {quote(v)}" for v in raw.iloc[positions].tolist()]

    return build


class _Rows:
    """Converts the columns of one frame and logs each bad cell with its row and column."""

    def __init__(self, spec: KindSpec, frame: pd.DataFrame, header: Header, log: ProblemLog):
        self.spec, self.frame, self.header, self.log = spec, frame, header, log
        self.n = len(frame)
        self.bad = np.zeros(self.n, dtype=bool)

    def flag(self, mask: np.ndarray, column: str, message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.log.add_rows(mask, column, message)
            self.bad |= mask

    def raw(self, name: str) -> pd.Series | None:
        col = self.header.fixed.get(name)
        return None if col is None else self.frame[col]

    def get(self, name: str) -> pd.Series | None:
        spec = self.spec.column(name)
        raw = self.raw(name)
        if raw is None:
            return None
        col = self.header.fixed[name]
        if spec.type == "text":
            c = convert.to_text(raw, strip=name != "text")
            if spec.max_length:
                lengths = c.values.str.len().to_numpy(dtype="float64", na_value=0)
                self.flag(lengths > spec.max_length, col, f"longer than {spec.max_length} characters")
            nul = c.values.str.contains("\x00", regex=False).to_numpy(dtype=bool, na_value=False)
            self.flag(nul, col, "contains a NUL character")
        elif spec.type == "integer":
            c = convert.to_int(raw)
        elif spec.type == "number":
            c = convert.to_float(raw)
        elif spec.type == "timestamp":
            c = convert.to_timestamp(raw)
        else:  # pragma: no cover - specs only use the types above
            raise ValueError(spec.type)
        if c.bad.any():
            self.flag(c.bad, col, _quoted(raw, c.what or f"not {spec.type}"))
        if spec.required and name != "text":
            self.flag(c.missing, col, "missing value")
        values = c.values
        if name == "text":  # required column, but an empty text is allowed
            values = values.fillna("")
        return values

    def in_range(self, values: pd.Series, name: str, low: float, high: float) -> None:
        arr = values.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            out = ~np.isnan(arr) & ((arr < low) | (arr > high))
        if out.any():
            col = self.header.fixed[name]
            self.flag(out, col, lambda pos: [f"{name} {arr[p]:g} is outside [{low:g}, {high:g}]" for p in pos])


def _duplicates(rows: _Rows, keys: dict[str, pd.Series]) -> None:
    """Duplicate natural ids inside the file: every repeat after the first is a problem."""
    names = list(keys)
    frame = pd.DataFrame({k: v for k, v in keys.items()})
    complete = frame.notna().all(axis=1).to_numpy()
    dup = frame.duplicated(keep="first").to_numpy() & complete
    if not dup.any():
        return
    label = "+".join(names)
    blamed = names[1] if len(names) > 1 else names[0]  # unit_id for the experiment kinds
    column = rows.header.fixed.get(blamed, blamed)

    def describe(positions: np.ndarray) -> list[str]:
        out = []
        for p in positions.tolist():
            same = np.ones(rows.n, dtype=bool)
            for k in names:
                same &= (frame[k] == frame[k].iloc[p]).to_numpy(dtype=bool, na_value=False)
            first = int(np.flatnonzero(same)[0]) + rows.log.row_offset
            shown = "/".join(str(frame[k].iloc[p]) for k in names)
            out.append(f"duplicate {label} {quote(shown)} (first at row {first})")
        return out

    rows.flag(dup, column, describe)


def check_frame(
    spec: KindSpec, frame: pd.DataFrame, catalog: Catalog, log: ProblemLog, progress: Progress | None = None
) -> Prepared:
    if not check_width(list(frame.columns), log):
        log.raise_if_any()
    header = check_header(spec, list(frame.columns), log)
    check_header_width(len(header.features), len(header.cohorts), log)
    if spec.name == "exposures":
        check_cohort_fields(header, header.fixed.get("segment"), log)
    log.raise_if_any()  # rows cannot be checked against a wrong header
    rows = _Rows(spec, frame, header, log)
    prep = Prepared(spec, len(frame))
    step = _stepper(progress, len(spec.fixed_columns) + len(header.features) + len(header.cohorts) + 2)
    typed: dict[str, pd.Series] = {}
    for c in spec.fixed_columns:
        values = rows.get(c.name)
        if values is not None:
            typed[c.name] = values
        step(f"checked {c.name}")
    if spec.name == "predictions":
        _predictions(rows, typed, catalog, prep, header, step)
    elif spec.name == "outcomes":
        prep.columns = {k: typed[k] for k in ("request_id", "ts", "actual_label")}
        prep.columns["actual_value"] = typed.get("actual_value", _nulls(rows.n, "float64"))
    elif spec.name == "feedback":
        _feedback(rows, typed, prep, step)
    else:
        _experiment_rows(rows, typed, catalog, prep)
    _duplicates(rows, {k: typed[k] for k in spec.natural_key})
    step("checked duplicates")
    prep.bad = rows.bad
    return prep


def _nulls(n: int, dtype: str) -> pd.Series:
    if dtype == "float64":
        return pd.Series(np.full(n, np.nan))
    if dtype == "Int64":
        return pd.Series(pd.array([pd.NA] * n, dtype="Int64"))
    if dtype == "ts":
        return pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    return pd.Series([None] * n, dtype="str")


def _stepper(progress: Progress | None, steps: int) -> Callable[[str], None]:
    done = [0]

    def step(message: str) -> None:
        done[0] += 1
        if progress:
            progress(min(done[0] / max(steps, 1), 1.0), message)

    return step


def _predictions(rows: _Rows, typed, catalog: Catalog, prep: Prepared, header: Header, step) -> None:
    names, versions = typed["model_name"], typed["model_version"]
    ok = names.notna().to_numpy() & versions.notna().to_numpy()
    codes, uniques = pd.factorize(names)
    ver = versions.to_numpy(dtype="int64", na_value=0)
    pair = codes.astype(np.int64) * (2**33) + (ver + 2**32)
    ids = np.full(rows.n, -1, dtype=np.int64)
    schemas: list[dict] = []
    if ok.any():
        uniq, inverse = np.unique(pair[ok], return_inverse=True)
        found = np.full(len(uniq), -1, dtype=np.int64)
        for i, key in enumerate(uniq.tolist()):
            name = uniques[key // (2**33)]
            hit = catalog.model_versions.get((name, key % (2**33) - 2**32))
            if hit:
                found[i] = hit[0]
                if hit[1]:
                    schemas.append(hit[1])
        ids[ok] = found[inverse]
    unknown = ok & (ids < 0)
    if unknown.any():
        known_names = {name for name, _ in catalog.model_versions}
        no_model = unknown & ~names.isin(known_names).to_numpy()
        rows.flag(
            no_model,
            header.fixed["model_name"],
            lambda pos: [
                f"unknown model version {names.iloc[p]} v{int(ver[p])}: no model {quote(names.iloc[p])} is registered"
                for p in pos
            ],
        )
        rows.flag(
            unknown & ~no_model,
            header.fixed["model_version"],
            lambda pos: [f"unknown model version {names.iloc[p]} v{int(ver[p])}: register it first" for p in pos],
        )
    rows.in_range(typed["score"], "score", 0.0, 1.0)
    declared = _merge_schemas(schemas)
    for col, name in header.features:
        feature = convert.to_feature(rows.frame[col], declared.get(name))
        if feature.bad.any():
            rows.flag(feature.bad, col, _quoted(rows.frame[col], feature.what or "not a valid value"))
        prep.features.append((name, feature))
        step(f"checked {col}")
    _cohorts(rows, prep, header, step)
    prep.columns = {
        "request_id": typed["request_id"],
        "model_version_id": pd.Series(pd.arrays.IntegerArray(np.where(ids < 0, 0, ids), ids < 0)),
        "ts": typed["ts"],
        "score": typed["score"],
        "predicted_label": typed["predicted_label"],
    }


def _cohorts(rows: _Rows, prep: Prepared, header: Header, step) -> None:
    for col, name in header.cohorts:
        c = convert.to_text(rows.frame[col])
        nul = c.values.str.contains("\x00", regex=False).to_numpy(dtype=bool, na_value=False)
        rows.flag(nul, col, "contains a NUL character")
        distinct = c.values.nunique()
        if distinct > MAX_COHORT_VALUES:
            rows.log.add(
                f"cohort field {quote(name)} has {distinct:,} distinct values in this file; at most "
                f"{MAX_COHORT_VALUES:,} are allowed (a cohort groups many rows: an id is not a cohort)",
                column=col,
            )
        prep.cohorts.append((name, c.values))
        step(f"checked {col}")


def check_cohort_fields(header: Header, legacy_segment: str | None, log: ProblemLog) -> None:
    """Exposures: each cohort field a plain name (it becomes a JSON key and a label), each field once
    (names compared case-insensitively; the legacy `segment` column is the field "segment")."""
    seen: dict[str, str] = {}
    named = list(header.cohorts) + ([(legacy_segment, "segment")] if legacy_segment else [])
    for col, name in named:
        if not COHORT_FIELD.fullmatch(name):
            log.add(
                f"cohort column {quote(col)}: the field name {quote(name)} must start with a letter and have "
                f"only letters, digits and _ (at most {COHORT_FIELD_MAX} characters)",
                column=col,
            )
        elif name.lower() in seen:
            log.add(
                f"cohort field {quote(name)} appears more than once (columns {quote(seen[name.lower()])} and "
                f"{quote(col)})",
                column=col,
            )
        else:
            seen[name.lower()] = col


def _merge_schemas(schemas: list[dict]) -> dict[str, str]:
    """Feature types the referenced model versions agree on ("numeric" / "categorical")."""
    merged: dict[str, str] = {}
    conflicts: set[str] = set()
    for schema in schemas:
        for name, kind in schema.items():
            kind = str(kind).lower()
            kind = (
                "numeric"
                if kind in ("numeric", "number", "float", "int", "integer")
                else ("categorical" if kind in ("categorical", "category", "text", "string", "str") else None)
            )
            if kind is None:
                continue
            if merged.get(name, kind) != kind:
                conflicts.add(name)
            merged.setdefault(name, kind)
    return {k: v for k, v in merged.items() if k not in conflicts}


def _feedback(rows: _Rows, typed, prep: Prepared, step) -> None:
    n = rows.n
    for name in ("rating",):
        if name in typed:
            rows.in_range(typed[name], name, 1, 5)
    texts = typed["text"]
    redacted, counts = pii.redact_many(texts.tolist())
    step("redacted PII")
    prep.redactions = np.asarray(counts, dtype=np.int64)
    prep.columns = {
        "feedback_id": typed["feedback_id"],
        "request_id": typed.get("request_id", _nulls(n, "str")),
        "ts": typed["ts"],
        "source": typed["source"],
        "rating": typed.get("rating", _nulls(n, "Int64")),
        "text": pd.Series(redacted, dtype="str"),
        "redactions": pd.Series(prep.redactions),
        "category": typed.get("category", _nulls(n, "str")),
        "corrected_label": typed.get("corrected_label", _nulls(n, "Int64")),
    }


def _experiment_rows(rows: _Rows, typed, catalog: Catalog, prep: Prepared) -> None:
    keys = typed["experiment_key"]
    ids = np.full(rows.n, -1, dtype=np.int64)
    present = keys.notna().to_numpy()
    col_key = rows.header.fixed["experiment_key"]
    variant = typed.get("variant")
    for key in pd.unique(keys[present]).tolist():
        mask = (keys == key).to_numpy(dtype=bool, na_value=False)
        hit = catalog.experiments.get(key)
        if hit is None:
            rows.flag(mask, col_key, f"unknown experiment {quote(key)}: create it first")
            continue
        ids[mask] = hit[0]
        if rows.spec.name == "exposures":
            wrong = mask & variant.notna().to_numpy() & ~variant.isin(hit[1]).to_numpy()
            if wrong.any():
                allowed = ", ".join(hit[1]) or "(none defined)"
                rows.flag(
                    wrong,
                    rows.header.fixed["variant"],
                    lambda pos, k=key, a=allowed: [
                        f"unknown variant {quote(variant.iloc[p])} for experiment {quote(k)} (its variants: {a})"
                        for p in pos
                    ],
                )
    exp_id = pd.Series(pd.arrays.IntegerArray(np.where(ids < 0, 0, ids), ids < 0))
    if rows.spec.name == "exposures":
        prep.columns = {
            "experiment_id": exp_id,
            "unit_id": typed["unit_id"],
            "variant": typed["variant"],
            "ts": typed["ts"],
        }
        _cohorts(rows, prep, rows.header, lambda message: None)
        if "segment" in typed:  # the legacy column: the cohort field "segment" (empty cells left out)
            prep.cohorts.append(("segment", typed["segment"]))
    else:
        prep.columns = {
            "experiment_id": exp_id,
            "unit_id": typed["unit_id"],
            "metric": typed["metric"],
            "value": typed["value"],
            "pre_value": typed.get("pre_value", _nulls(rows.n, "float64")),
            "ts": typed.get("ts", _nulls(rows.n, "ts")),
        }


# --- database phase ----------------------------------------------------------------------------

# kind -> (table, its natural-key columns; the prepared columns have the same names)
KNOWN_KEYS = {
    "predictions": ("prediction", ("request_id",)),
    "outcomes": ("outcome", ("request_id",)),
    "feedback": ("feedback", ("feedback_id",)),
    "exposures": ("exposure", ("experiment_id", "unit_id", "variant")),
    "metrics": ("metric_observation", ("experiment_id", "unit_id", "metric")),
}


def check_database(conn: sa.Connection, prep: Prepared, log: ProblemLog, existing) -> None:
    """Rows pointing at predictions that are not in the database; which natural ids are known.
    `existing(conn, table, columns, frame) -> bool array` looks keys up in bulk."""
    kind = prep.spec.name
    ok = ~prep.bad
    if kind in ("predictions", "outcomes", "feedback"):  # an erased request id stays erased
        req = prep.columns["request_id"]
        ok = ok & ~refuse_erased(conn, req, ok & req.notna().to_numpy(), log)
    if kind in ("outcomes", "feedback"):
        req = prep.columns["request_id"]
        has = ok & req.notna().to_numpy()
        if has.any():
            found = np.zeros(prep.n, dtype=bool)
            found[has] = existing(conn, "prediction", ("request_id",), pd.DataFrame({"request_id": req[has]}))
            missing = has & ~found
            if missing.any():
                what = "outcome" if kind == "outcomes" else "feedback"
                log.add_rows(
                    missing,
                    "request_id",
                    lambda pos: [
                        f"{what} for an unknown prediction {quote(req.iloc[p])}: import the prediction first"
                        for p in pos
                    ],
                )
    table, key_cols = KNOWN_KEYS[kind]
    known = np.zeros(prep.n, dtype=bool)
    if ok.any() and not log:
        keys = pd.DataFrame({c: prep.columns[c] for c in key_cols})
        known = existing(conn, table, key_cols, keys)
    prep.known = known
