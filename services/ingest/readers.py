"""Reading an uploaded file: detect the format by content, read it into a DataFrame, or say why not.

Parquet is recognised by its magic bytes (PAR1); anything else must be UTF-8 text (a BOM is
allowed) and is read as CSV -- comma separated, or ';' / tab when the header line uses those.
CSV cells are read as text (every column as str) so that every conversion error can name row and
column: by pyarrow's parser when the file is regular, else by pandas, whose errors name the line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from services.ingest.problems import ImportRejected, Problem

PARQUET_MAGIC = b"PAR1"
CSV_ROW_OFFSET = 2  # header = row 1, first data row = row 2 (as a spreadsheet shows it)
RECORD_ROW_OFFSET = 1  # Parquet / DataFrame: 1-based record index
CSV_CHUNK_ROWS = 100_000

Source = str | Path | bytes | bytearray | memoryview | BinaryIO


@dataclass
class Loaded:
    frame: pd.DataFrame
    file_name: str
    sha256: str
    format: str  # csv | parquet | frame
    row_offset: int


def _reject(file_name: str, message: str, row: int | None = None) -> ImportRejected:
    return ImportRejected([Problem(file_name, row, None, message)], 1)


def read_source(source: Source, file_name: str | None = None) -> tuple[bytes, str]:
    """The file's bytes and the name to report it by."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = file_name or path.name
        try:
            return path.read_bytes(), name
        except OSError as exc:
            raise _reject(name, f"cannot read the file: {exc.strerror or exc}") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), file_name or "upload"
    name = file_name or Path(str(getattr(source, "name", "") or "upload")).name
    getvalue = getattr(source, "getvalue", None)  # BytesIO, Streamlit's UploadedFile
    data = getvalue() if callable(getvalue) else source.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data), name


def load(source: Source, file_name: str | None = None) -> Loaded:
    data, name = read_source(source, file_name)
    digest = hashlib.sha256(data).hexdigest()
    if not data or (len(data) < 65536 and not data.strip()):
        raise _reject(name, "the file is empty")
    if data[:4] == PARQUET_MAGIC:
        frame = _read_parquet(data, name)
        return Loaded(frame, name, digest, "parquet", RECORD_ROW_OFFSET)
    frame = _read_csv(data, name)
    return Loaded(frame, name, digest, "csv", CSV_ROW_OFFSET)


# --- Parquet -----------------------------------------------------------------------------------


def _plain_type(t: pa.DataType) -> pa.DataType | None:
    """The type to read a Parquet column as (dictionaries decoded); None if unsupported (nested)."""
    if pa.types.is_dictionary(t):
        return _plain_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return None
    return t


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; all mean "not readable"
        raise _reject(name, f"not a readable Parquet file ({_short(exc)})") from None
    if table.num_rows == 0:
        raise _reject(name, "the file has no rows")
    problems = []
    fields = []
    for f in table.schema:
        plain = _plain_type(f.type)
        if plain is None:
            message = f"unsupported Parquet type {f.type}: use numbers, text or timestamps"
            problems.append(Problem(name, None, f.name, message))
        fields.append(pa.field(f.name, plain or f.type))
    if problems:
        raise ImportRejected(problems, len(problems))
    target = pa.schema(fields)
    if target != table.schema:
        table = table.cast(target)
    try:
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
    except Exception as exc:  # noqa: BLE001 - e.g. timestamps out of pandas' range
        raise _reject(name, f"cannot read the Parquet values ({_short(exc)})") from None
    del table
    return frame


# --- CSV ---------------------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _sniff_separator(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] > 0 and counts[","] == 0 else ","


def _read_csv(data: bytes, name: str) -> pd.DataFrame:
    if data[:4] == b"PK\x03\x04":
        raise _reject(name, "looks like a ZIP archive or an Excel workbook: save it as CSV (UTF-8) or Parquet")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _reject(
            name,
            f"is neither Parquet nor UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}); "
            "save it as CSV UTF-8 or Parquet",
            row=line,
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _reject(name, f"contains NUL bytes (line {line}): a binary file, not CSV", row=line)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    del text
    sep = _sniff_separator(first_line)
    try:
        header = next(csv.reader([first_line], delimiter=sep))
    except (csv.Error, StopIteration):
        header = []
    raw_header = header
    header = [h.strip() for h in header]
    seen: set[str] = set()
    dupes = [h for h in header if h and (h.lower() in seen or seen.add(h.lower()))]
    if dupes:
        raise ImportRejected(
            [Problem(name, 1, d, "this column appears more than once in the header") for d in dupes], len(dupes)
        )
    frame = _read_csv_arrow(data, sep, raw_header)
    if frame is None:
        frame = _read_csv_pandas(data, sep, name)
    if len(frame) == 0:
        raise _reject(name, "the file has a header but no rows")
    # columns without a name and without values (trailing separators, as spreadsheets export them)
    unnamed = [
        col for i, col in enumerate(frame.columns) if (i >= len(header) or not header[i]) and frame[col].isna().all()
    ]
    if unnamed:
        frame = frame.drop(columns=unnamed)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_csv_arrow(data: bytes, sep: str, header: list[str]) -> pd.DataFrame | None:
    """The fast path: pyarrow's parser, every column as text. None when the file is not perfectly
    regular (a row with too many or too few fields, an unterminated quote): pandas then reads it
    and names the offending line."""
    if not header or data.count(b'"') % 2:
        return None
    names = [h if h else f"Unnamed: {i}" for i, h in enumerate(header)]
    irregular = []

    def on_invalid_row(row) -> str:
        irregular.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(
                delimiter=sep,
                newlines_in_values=True,
                invalid_row_handler=on_invalid_row,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    if irregular:
        return None
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _read_csv_pandas(data: bytes, sep: str, name: str) -> pd.DataFrame:
    try:
        # In chunks: the parser makes a Python object per cell before the column becomes compact
        # (pyarrow-backed) text, so one big read would hold every cell as an object at once.
        chunks = pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8",
            skipinitialspace=False,
            on_bad_lines="error",
            chunksize=CSV_CHUNK_ROWS,
        )
        parts = list(chunks)
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    except pd.errors.EmptyDataError:
        raise _reject(name, "the file is empty") from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise _reject(name, f"is not a readable CSV file: {_csv_error(exc)}", row=_csv_error_row(exc)) from None


def _csv_error(exc: BaseException) -> str:
    text = _short(exc).replace("Error tokenizing data. C error: ", "")
    return text


def _csv_error_row(exc: BaseException) -> int | None:
    """pandas says 'Expected 6 fields in line 5, saw 7' (file line, header = 1) or
    'EOF inside string starting at row 4' (0-based line)."""
    text = str(exc)
    m = re.search(r"in line (\d+)", text)
    if m:
        return int(m.group(1))
    m = re.search(r"starting at row (\d+)", text)
    if m:
        return int(m.group(1)) + 1
    return None


def _frame_sha256(frame: pd.DataFrame) -> str:
    """sha256 of the frame's Arrow IPC stream (names, types and values); of its CSV text if Arrow
    cannot hold it (mixed-type object columns)."""
    digest = hashlib.sha256()
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.remove_metadata()) as writer:
            writer.write_table(table.replace_schema_metadata(None))
        digest.update(memoryview(sink.getvalue()))
    except (pa.ArrowException, TypeError, ValueError):
        digest.update(frame.to_csv(index=False).encode("utf-8"))
    return digest.hexdigest()


def from_frame(frame: pd.DataFrame, source_name: str) -> Loaded:
    """import_frame's input: same checks as a file; rows are numbered by record (1-based)."""
    if len(frame) == 0:
        raise _reject(source_name, "the frame has no rows")
    digest = _frame_sha256(frame)
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return Loaded(frame, source_name, digest, "frame", RECORD_ROW_OFFSET)
