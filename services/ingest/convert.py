"""Vectorised column converters: raw cells (CSV text or typed Parquet/DataFrame values) -> typed values,
with a mask of the cells that could not be converted, so that problems can name row and column."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

# Cells that mean "no value" in a CSV besides the empty cell.
NA_TOKENS = frozenset({"nan", "na", "n/a", "null", "none"})
INT32_MAX = 2**31 - 1


@dataclass
class Converted:
    values: pd.Series  # typed; missing and bad cells are missing
    missing: np.ndarray  # no value in the cell
    bad: np.ndarray  # a value that is not of the column's type
    what: str = ""  # describes the problem for bad cells ("not an integer", ...)


def _is_textual(s: pd.Series) -> bool:
    return ptypes.is_string_dtype(s.dtype) or ptypes.is_object_dtype(s.dtype)


def _np(mask) -> np.ndarray:
    if isinstance(mask, pd.Series):
        return mask.to_numpy(dtype=bool, na_value=False)
    return np.asarray(mask, dtype=bool)


def _text_cells(s: pd.Series) -> pd.Series:
    """Stripped text cells (str dtype; missing stays missing)."""
    if not ptypes.is_string_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype("str")
    return s.str.strip()


def _missing_text(t: pd.Series, na_tokens: bool) -> np.ndarray:
    missing = t.isna() | (t == "")
    if na_tokens:
        missing |= t.str.lower().isin(NA_TOKENS)
    return _np(missing)


def to_text(s: pd.Series, strip: bool = True) -> Converted:
    """Any column -> str. Numbers become their usual text (integral floats without '.0')."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.cat.categories.dtype)
    if ptypes.is_bool_dtype(s.dtype):
        t = s.map({True: "true", False: "false"}).astype("str")
    elif ptypes.is_float_dtype(s.dtype):
        finite = s.dropna()
        integral = len(finite) and np.isfinite(finite).all() and (finite == np.floor(finite)).all()
        integral = integral and finite.abs().max() < 2**53
        t = s.astype("Int64").astype("str") if integral else s.astype("str")
    elif ptypes.is_datetime64_any_dtype(s.dtype):
        t = s.map(lambda v: v.isoformat(), na_action="ignore").astype("str")
    elif ptypes.is_numeric_dtype(s.dtype):
        t = s.astype("str")
    else:
        t = s if ptypes.is_string_dtype(s.dtype) and not ptypes.is_object_dtype(s.dtype) else s.astype("str")
    if strip:
        t = t.str.strip()
    missing = _np(t.isna() | (t == ""))
    values = t.where(~missing) if missing.any() else t
    return Converted(values, missing, np.zeros(len(s), dtype=bool))


def _numeric(s: pd.Series, integer: bool) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """-> (float64 values, missing, bad)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.cat.categories.dtype)
    if ptypes.is_bool_dtype(s.dtype):
        num = s.astype("float64")
        missing = _np(s.isna())
        return num, missing, np.zeros(len(s), dtype=bool)
    if ptypes.is_numeric_dtype(s.dtype):
        num = s.astype("float64")
        missing = _np(num.isna())
        return num, missing, np.zeros(len(s), dtype=bool)
    if ptypes.is_datetime64_any_dtype(s.dtype):
        missing = _np(s.isna())
        return pd.Series(np.nan, index=s.index), missing, ~missing
    fast = _parse_numbers(s)
    if fast is not None:
        return fast
    t = _text_cells(s)
    missing = _missing_text(t, na_tokens=True)
    cells = t.where(~missing) if missing.any() else t
    num = pd.to_numeric(cells, errors="coerce")
    if not ptypes.is_float_dtype(num.dtype):
        num = num.astype("float64")
    bad = ~missing & _np(num.isna())
    return num, missing, bad


def _parse_numbers(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray] | None:
    """The fast path for a text column in which every cell is a number or empty: pyarrow parses it
    (pandas' to_numeric is several times slower). None when any cell is something else; the slow
    path then finds which. Empty cells and "nan" are missing."""
    if ptypes.is_object_dtype(s.dtype):
        return None
    try:
        parsed = pc.cast(pa.array(s, type=pa.string(), from_pandas=True), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        return None
    values = parsed.to_numpy(zero_copy_only=False)
    return pd.Series(values, index=s.index), np.isnan(values), np.zeros(len(s), dtype=bool)


def to_float(s: pd.Series) -> Converted:
    return _finite(s, *_numeric(s, integer=False))


def _finite(s: pd.Series, num: pd.Series, missing: np.ndarray, bad: np.ndarray) -> Converted:
    arr = num.to_numpy(dtype="float64", na_value=np.nan)
    bad = bad | (~missing & ~bad & ~np.isfinite(np.where(missing | bad, 0.0, arr)))
    arr = np.where(missing | bad, np.nan, arr)
    return Converted(pd.Series(arr, index=s.index), missing, bad, "not a finite number")


def to_int(s: pd.Series) -> Converted:
    num, missing, bad = _numeric(s, integer=True)
    arr = num.to_numpy(dtype="float64", na_value=np.nan)
    ok = ~missing & ~bad
    with np.errstate(invalid="ignore"):
        fine = np.isfinite(arr) & (np.floor(arr) == arr) & (np.abs(arr) <= INT32_MAX)
    bad = bad | (ok & ~fine)
    good = ~missing & ~bad
    values = pd.arrays.IntegerArray(np.where(good, arr, 0).astype("int64"), ~good)
    return Converted(pd.Series(values, index=s.index), missing, bad, "not an integer")


def to_timestamp(s: pd.Series) -> Converted:
    """ISO 8601 text (offset optional: none means UTC) or datetime values -> datetime64[us, UTC]."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.cat.categories.dtype)
    if ptypes.is_datetime64_any_dtype(s.dtype):
        ts = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        missing = _np(ts.isna())
        bad = np.zeros(len(s), dtype=bool)
    elif _is_textual(s):
        t = _text_cells(s) if not ptypes.is_object_dtype(s.dtype) or _all_str(s) else None
        if t is None:  # objects: datetimes and/or text
            missing = _np(s.isna())
            ts = pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")
        else:
            missing = _missing_text(t, na_tokens=False)
            ts = pd.to_datetime(t.where(~missing) if missing.any() else t, utc=True, format="ISO8601", errors="coerce")
        bad = ~missing & _np(ts.isna())
    else:  # numbers, booleans: not a timestamp
        missing = _np(s.isna())
        ts = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
        bad = ~missing
    ts = ts.dt.floor("us").dt.as_unit("us") if len(ts) else ts.astype("datetime64[us, UTC]")
    years = ts.dt.year.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        out_of_range = ~np.isnan(years) & ((years < 1000) | (years > 9999))
    if out_of_range.any():
        bad = bad | out_of_range
        ts = ts.where(~out_of_range)
    return Converted(ts, missing, bad, "not an ISO 8601 timestamp")


def _all_str(s: pd.Series) -> bool:
    sample = s.dropna()
    return len(sample) == 0 or bool(sample.map(type).eq(str).all())


def _sample_is_text(s: pd.Series, size: int = 200) -> bool:
    """True when a few of the first non-empty cells are not numbers (then the column is text)."""
    head = s.iloc[: size * 5].dropna()
    if ptypes.is_object_dtype(head.dtype) and not _all_str(head):
        return False
    head = head.astype("str").str.strip()
    head = head[(head != "") & ~head.str.lower().isin(NA_TOKENS)].iloc[:size]
    return bool(len(head)) and bool(pd.to_numeric(head, errors="coerce").isna().any())


@dataclass
class Feature:
    values: pd.Series  # float64 (numeric) or str (text); missing = NaN
    numeric: bool
    bad: np.ndarray
    what: str = ""

    @property
    def integer(self) -> bool:
        """A numeric column whose values are all whole numbers: stored as JSON integers."""
        if not self.numeric:
            return False
        arr = self.values.to_numpy(dtype="float64", na_value=np.nan)
        arr = arr[~np.isnan(arr)]
        return bool(len(arr)) and bool(np.all(np.floor(arr) == arr)) and bool(np.all(np.abs(arr) < 2**53))


def to_feature(s: pd.Series, declared: str | None) -> Feature:
    """A feature column: numeric or text. `declared` comes from the model version's feature schema
    ("numeric" / "categorical"); without it, a column is numeric when every non-empty cell is a number."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.cat.categories.dtype)
    if declared == "categorical" or ptypes.is_bool_dtype(s.dtype) or ptypes.is_datetime64_any_dtype(s.dtype):
        c = to_text(s)
        return Feature(c.values, False, c.bad)
    if ptypes.is_numeric_dtype(s.dtype):
        c = to_float(s)
        return Feature(c.values, True, c.bad, c.what)
    if declared is None and _sample_is_text(s):  # cheap early answer for obviously textual columns
        c = to_text(s)
        return Feature(c.values, False, c.bad)
    num, missing, bad = _numeric(s, integer=False)
    if declared != "numeric" and bad.any():
        c = to_text(s)
        return Feature(c.values, False, c.bad)
    c = _finite(s, num, missing, bad)
    return Feature(
        c.values,
        True,
        c.bad,
        "not a number (the model's feature schema says numeric)" if declared == "numeric" else c.what,
    )
