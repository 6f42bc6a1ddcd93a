"""What an import reports: the problems that reject a file, and the result of an accepted one.

Row numbers are what the user sees in the file:
- CSV: the spreadsheet convention -- the header is row 1, the first data row is row 2 (a record
  whose quoted text spans several lines still counts as one row);
- Parquet and DataFrames (import_frame): the 1-based record index (first record = row 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from services.core.errors import InvalidInput

MAX_LISTED = 20


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f":{self.row}"
        if self.column:
            where += f":{self.column}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    kind: str
    file_name: str
    rows: int
    new: int
    known: int  # natural id already in the database: the row was skipped, the stored one left unchanged
    redactions: int  # PII replacements in the text of the new rows
    seconds: float
    import_id: str = ""
    sha256: str = ""
    alerts_opened: tuple[int, ...] = ()  # alert ids opened by evaluating the rules after the import
    alerts_error: str = ""  # why the rules could not be evaluated (the import itself is committed)

    def summary(self) -> str:
        """'1,000 rows: 990 new, 10 already known, 3 redactions, 0.4 s'"""
        return (
            f"{self.rows:,} rows: {self.new:,} new, {self.known:,} already known, "
            f"{self.redactions:,} redaction{'' if self.redactions == 1 else 's'}, {self.seconds:.1f} s"
            + (
                f"; {len(self.alerts_opened)} new alert{'' if len(self.alerts_opened) == 1 else 's'}"
                if self.alerts_opened
                else ""
            )
            + (f"; alert rules not evaluated: {self.alerts_error}" if self.alerts_error else "")
        )


class ImportRejected(InvalidInput):
    """The file was not imported (nothing was written). `problems`: the first 20; `total`: all."""

    def __init__(self, problems: Sequence[Problem], total: int | None = None):
        self.problems = list(problems)[:MAX_LISTED]
        self.total = total if total is not None else len(problems)
        name = self.problems[0].file if self.problems else "file"
        head = (
            f"{name} was not imported: {self.total:,} problem{'' if self.total == 1 else 's'}"
            + (f" (first {len(self.problems)} listed)" if self.total > len(self.problems) else "")
            + ". Nothing was written."
        )
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]))


def quote(value: object, limit: int = 40) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


class ProblemLog:
    """Collects problems from vectorised checks: counts all, keeps the first few of each check,
    and lists the first MAX_LISTED by row in the end."""

    def __init__(self, file: str, row_offset: int):
        self.file = file
        self.row_offset = row_offset  # row number of position 0 (2 for CSV, 1 for Parquet/frames)
        self.total = 0
        self._kept: list[tuple[int, int, Problem]] = []
        self._seq = 0

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, message: str, column: str | None = None, position: int | None = None) -> None:
        row = None if position is None else position + self.row_offset
        self._keep(-1 if position is None else position, Problem(self.file, row, column, message))
        self.total += 1

    def add_line(self, message: str, line: int | None, column: str | None = None) -> None:
        """A problem at a physical line/row number already in the user's numbering."""
        self._keep(-1 if line is None else line - self.row_offset, Problem(self.file, line, column, message))
        self.total += 1

    def add_rows(
        self,
        mask: np.ndarray,
        column: str | None,
        message: str | Callable[[np.ndarray], Sequence[str]],
    ) -> int:
        """One problem per True in `mask` (positions); `message` is a text or builds the texts for the
        kept positions only (so a message can quote the bad value without a loop over all rows)."""
        positions = np.flatnonzero(mask)
        n = len(positions)
        if not n:
            return 0
        self.total += n
        kept = positions[:MAX_LISTED]
        texts = [message] * len(kept) if isinstance(message, str) else list(message(kept))
        for pos, text in zip(kept.tolist(), texts, strict=True):
            self._keep(pos, Problem(self.file, pos + self.row_offset, column, text))
        return n

    def _keep(self, position: int, problem: Problem) -> None:
        self._seq += 1
        self._kept.append((position, self._seq, problem))

    @property
    def problems(self) -> list[Problem]:
        return [p for _, _, p in sorted(self._kept, key=lambda t: (t[0], t[1]))][:MAX_LISTED]

    def reject(self) -> ImportRejected:
        return ImportRejected(self.problems, self.total)

    def raise_if_any(self) -> None:
        if self.total:
            raise self.reject()
