"""User text that reaches SQL as a filter: checked the same way on every database, matched the same way.

The rule, the same on SQLite and Postgres:
- Control characters (Unicode category Cc, e.g. NUL, tab, newline, escape) and lone surrogates are
  refused with `InvalidInput`, never sent to the database (Postgres cannot store NUL in text and
  raised a database error; a surrogate cannot be encoded at all). `clean` removes them instead, for
  screens that tidy a hand-edited link and say so.
- Case-insensitive means ASCII-only case folding: A-Z match a-z, every other character matches only
  itself. SQLite's built-in lower() folds ASCII only, while Postgres' lower()/ILIKE fold Unicode (and
  'İ' lowercases to 'i̇', two characters), so `q=İ` matched almost every row there. Postgres' lower()
  folds ASCII only under the "C" collation, so `ascii_lower` compiles to lower(x) on SQLite and to
  lower(x COLLATE "C") on Postgres: identical results, no stored search column, no migration. Full
  Unicode folding on both would need an ICU extension on SQLite or a stored normalised column.
- LIKE wildcards in the search (% _ and the escape character) match themselves (autoescape).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from services.core.errors import InvalidInput

MAX_LENGTH = 200  # a search or id filter longer than this is refused
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _bad(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs")


def bad_characters(text: str) -> list[str]:
    """The control characters and lone surrogates in `text`, as U+XXXX codes, each once."""
    return sorted({f"U+{ord(ch):04X}" for ch in text if _bad(ch)})


def clean(text: str) -> str:
    """`text` without control characters or lone surrogates, stripped, at most MAX_LENGTH characters."""
    return "".join(ch for ch in text if not _bad(ch)).strip()[:MAX_LENGTH]


def check(text: str | None, what: str = "The search") -> str:
    """`text` stripped; InvalidInput if it holds a control character or is too long."""
    value = (text or "").strip()
    found = bad_characters(value)
    if found:
        raise InvalidInput(f"{what} contains control characters ({', '.join(found[:5])}); remove them and try again.")
    if len(value) > MAX_LENGTH:
        raise InvalidInput(f"{what} is too long ({len(value)} characters; at most {MAX_LENGTH}).")
    return value


def ascii_fold(text: str) -> str:
    """Python's side of the matching rule: A-Z -> a-z, nothing else changes."""
    return text.translate(_ASCII_LOWER)


class ascii_lower(FunctionElement):  # noqa: N801 (an SQL function, named like one)
    """lower() folding ASCII only, on every database (see the module docstring)."""

    type = sa.String()
    inherit_cache = True
    name = "lower"


@compiles(ascii_lower)
def _ascii_lower_default(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_postgres(element: ascii_lower, compiler: Any, **kw: Any) -> str:
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "C")'


def contains_ci(column: Any, text: str, what: str = "The search") -> ColumnElement[bool]:
    """`column` contains `text` (checked with `check`), ASCII case-insensitively, wildcards literal."""
    needle = ascii_fold(check(text, what))
    return ascii_lower(column).contains(needle, autoescape=True)


def equals(column: Any, text: str, what: str) -> ColumnElement[bool]:
    """`column` equals `text` exactly (checked with `check` first)."""
    return column == check(text, what)
