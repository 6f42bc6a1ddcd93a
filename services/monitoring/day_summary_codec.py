"""A DaySummary as bytes and back: one npz of lz4-compressed numeric arrays, JSON text and Arrow IPC
(the categories and the sample), loaded with allow_pickle=False: nothing in it can run code. lz4, not
npz's zlib: zlib took 0.15 s a day to compress the histograms, most of an import's CPU at 1M rows."""

from __future__ import annotations

import io
import json
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as pa_ipc

from services.monitoring.day_summary import DaySummary, SummarySchema, empty_categories

FORMAT = 2
_EMPTY_CATEGORIES, _EMPTY_SAMPLE = empty_categories(), pd.DataFrame()
ARRAYS = {"counts": np.int64, "sums": np.float64, "present": np.int64}


def _pack(arr: np.ndarray) -> np.ndarray:
    raw = np.ascontiguousarray(arr)
    return np.frombuffer(pa.compress(raw.tobytes(), codec="lz4", asbytes=True), dtype=np.uint8)


def _unpack(buf: np.ndarray, dtype, shape: list[int]) -> np.ndarray:
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = pa.decompress(buf.tobytes(), decompressed_size=size, codec="lz4", asbytes=True)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _ipc(frame: pd.DataFrame) -> np.ndarray:
    sink = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)  # threads cost more than they save here
    options = pa_ipc.IpcWriteOptions(compression="lz4", use_threads=False)
    with pa_ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return np.frombuffer(sink.getvalue(), dtype=np.uint8)


def _frame(buf: np.ndarray, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    """An IPC table as pandas; the `drop` columns are never decompressed (IpcReadOptions.included_fields)."""
    source = pa.BufferReader(buf.tobytes())
    names = pa_ipc.open_file(source).schema.names
    if drop:
        keep = [i for i, n in enumerate(names) if n not in drop]
        source = pa.BufferReader(buf.tobytes())
        return pa_ipc.open_file(source, options=pa_ipc.IpcReadOptions(included_fields=keep)).read_all().to_pandas()
    return pa_ipc.open_file(source).read_all().to_pandas()


def _sample(buf: np.ndarray, schema: SummarySchema, serving: bool) -> pd.DataFrame:
    sample = _frame(buf, drop=("request_id",) if serving else ())
    for f in schema.cohorts:  # a field with no value yet (all null) comes back with object categories
        col = sample.get(f)
        if col is not None and isinstance(col.dtype, pd.CategoricalDtype) and col.cat.categories.dtype != "str":
            sample[f] = col.cat.set_categories(pd.Index(col.cat.categories.astype(str), dtype="str"))
    return sample


def _cohorts_as_categories(sample: pd.DataFrame, schema: SummarySchema) -> pd.DataFrame:
    """Cohort values written dictionary-encoded: decoded as pandas categories (codes, no string per row)."""
    cohorts = [f for f in schema.cohorts if f in sample.columns]
    return sample.astype(dict.fromkeys(cohorts, "category")) if cohorts else sample


def to_bytes(summary: DaySummary) -> bytes:
    meta = {"format": FORMAT, "day": summary.day.isoformat(), "strata": [list(k) for k in summary.strata],
            "threshold": summary.threshold, "n_rows": summary.n_rows, "out_of_range": summary.out_of_range,
            "schema": {"numeric": list(summary.schema.numeric), "categorical": list(summary.schema.categorical),
                       "cohorts": list(summary.schema.cohorts), "sample_k": summary.schema.sample_k},
            "shapes": {name: list(getattr(summary, name).shape) for name in ARRAYS}}  # fmt: skip
    out = io.BytesIO()
    arrays = {name: _pack(getattr(summary, name).astype(dtype, copy=False)) for name, dtype in ARRAYS.items()}
    np.savez(out, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), categories=_ipc(summary.categories),
             sample=_ipc(_cohorts_as_categories(summary.sample, summary.schema)), **arrays)  # fmt: skip
    return out.getvalue()


def from_bytes(data: bytes, serving: bool = False, frames: bool = True) -> DaySummary:
    """The summary back. serving=True: for a process that only reads views, the sample without its
    request ids and with cohort values as categories (decodes several times faster; such a summary
    cannot take late outcomes or erasures, which find rows by request id). frames=False: the histograms
    and counts only, the sample and category counts left empty (most of the decoding time; metrics over
    histograms need neither)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes())
        if meta.get("format") != FORMAT:
            raise ValueError(f"day summary format {meta.get('format')!r}, expected {FORMAT}")
        sc = meta["schema"]
        schema = SummarySchema(tuple(sc["numeric"]), tuple(sc["categorical"]), tuple(sc["cohorts"]), sc["sample_k"])
        counts, sums, present = (_unpack(z[name], dtype, meta["shapes"][name]) for name, dtype in ARRAYS.items())
        if frames:
            categories, sample = _frame(z["categories"]), _sample(z["sample"], schema, serving)
        else:  # shared empty frames (a serving summary's frames are never changed in place)
            categories, sample = _EMPTY_CATEGORIES, _EMPTY_SAMPLE
        strata = [tuple(k) for k in meta["strata"]]
        return DaySummary(date.fromisoformat(meta["day"]), strata, counts, sums, present, categories, sample,
                          meta["threshold"], meta["n_rows"], meta["out_of_range"], schema)  # fmt: skip
