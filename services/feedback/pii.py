"""PII redaction for free text (feedback): e-mail addresses, phone numbers, payment cards, IBANs.

Pure functions, no database. `redact(text)` returns the text with each finding replaced by a token
([EMAIL], [PHONE], [CARD], [IBAN]) and the number of replacements.

What counts (and what deliberately does not):
- E-mail: local@domain.tld (tld of 2+ letters).
- IBAN: two capital letters, two check digits, 11-30 letters/digits. Written in the IBAN's own
  layout (groups of 4 separated by single spaces, "DE89 3704 0044 0532 0130 00") it is IBAN-like
  and redacted even when a typo breaks its check digits; unbroken, it must pass the ISO 13616
  mod-97 check (so product codes are left alone). Lower-case IBANs are not recognised.
- Card: 13-19 digits, either unbroken or in groups separated by one kind of separator (space or
  dash) in a card layout (groups of 4, or Amex/Diners 4-6-5 / 4-6-4). In a card layout it is
  card-like and redacted even when a typo breaks the Luhn check; unbroken, it must pass Luhn. An
  unbroken 13-19 digit number that happens to pass Luhn (1 in 10) is redacted as [CARD] even if it
  was an order number -- the safe side.
- Phone: "+" or "00" followed by 8-15 digits in groups (spaces, dashes, dots, slashes, "(0)");
  national numbers starting with a trunk 0 and 9-12 digits ("030 1234567", "06 12 34 56 78",
  "(020) 7946 0958"), using one kind of separator; North-American layouts
  ("(555) 123-4567", "555.123.4567", "1-800-555-0199").
  Bare digit runs that start with neither 0 nor + (e.g. "5551234567") are not redacted.
- Never touched: dates (2024-05-01, 01.05.2024, 05/01/2024), times, version numbers
  (v2.3.1, 4.18.0, 10.0.19045.2965), order ids (#12345, #4111111111111111), amounts ($1,299.00),
  percentages, IP addresses, years and other short numbers: anything glued to '#', '$', '€', '£',
  a letter, a decimal point or a colon is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"
TOKENS = (EMAIL, PHONE, CARD, IBAN)

_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)

# Candidates; the checksum / layout checks below decide.
_IBAN_RE = re.compile(r"(?<![\w#])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])")
_CARD_RE = re.compile(r"(?<![\w#$€£¥+.,/-])(?<!\d:)\d(?:[ -]?\d){12,18}(?![\w%]|[.,:/-]?\d)")
_PHONE_RE = re.compile(
    r"(?<![\w#$€£¥%+.,/@-])(?<!\d:)"  # not glued to a word, number, amount or time
    r"(?:\+ ?)?"
    r"(?:\(\d{1,5}\)|\d{1,15})"
    r"(?:(?:[ .\-/]|(?<=\)) | ?(?=\()|(?<=\)))(?:\(\d{1,5}\)|\d{1,15}))*"
    r"(?![\w%]|[.,:/-]?\d)"
)
_GROUP_RE = re.compile(r"\(\d+\)|\d+")
_DATE_LIKE = re.compile(r"^\d{1,4}([./-])\d{1,2}\1\d{1,4}$")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum used by payment cards (digits only)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters -> 10..35, mod 97 == 1."""
    s = candidate.replace(" ", "").upper()
    if not (15 <= len(s) <= 34) or not s[:2].isalpha() or not s[2:4].isdigit() or not s.isalnum():
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _card_layout_ok(candidate: str) -> bool:
    groups = re.split(r"[ -]", candidate)
    seps = set(re.findall(r"[ -]", candidate))
    if len(seps) > 1:
        return False
    lengths = [len(g) for g in groups]
    if len(groups) == 1:
        return True
    if lengths in ([4, 6, 5], [4, 6, 4]):
        return True
    return all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _is_card(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    if not (13 <= len(digits) <= 19 and _card_layout_ok(candidate)):
        return False
    return digits != candidate or luhn_ok(digits)  # grouped in a card layout: card-like, checksum or not


_IBAN_GROUPED_RE = re.compile(r"[A-Z]{2}\d{2}(?: [A-Z0-9]{4})+(?: [A-Z0-9]{1,3})?")


def _is_iban(candidate: str) -> bool:
    """Grouped in the IBAN layout: IBAN-like, check digits or not; unbroken: mod-97 must pass."""
    if " " in candidate:
        return _IBAN_GROUPED_RE.fullmatch(candidate) is not None and 15 <= len(candidate.replace(" ", "")) <= 34
    return iban_ok(candidate)


def _is_phone(candidate: str) -> bool:
    groups = list(_GROUP_RE.finditer(candidate))
    lengths = [len(g.group().strip("()")) for g in groups]
    digits = "".join(g.group().strip("()") for g in groups)
    n = len(digits)
    if candidate.startswith("+"):
        return 8 <= n <= 15
    if _DATE_LIKE.match(candidate):
        return False
    if digits.startswith("00"):
        return 10 <= n <= 15
    if digits.startswith("0"):
        # one kind of separator between plain groups ("0.25 0.50 0.75" is a list of numbers)
        gaps = {
            candidate[a.end() : b.start()]
            for a, b in zip(groups, groups[1:], strict=False)
            if not (a.group().startswith("(") or b.group().startswith("("))
        }
        return 9 <= n <= 12 and len(gaps) <= 1
    if len(lengths) > 1 and lengths[0] == 1 and digits[0] == "1":
        lengths = lengths[1:]
    return lengths == [3, 3, 4] or (lengths == [3, 7] and groups[-2].group().startswith("("))


def _longest_prefix(candidate: str, accept, min_groups: int = 1) -> int:
    """Length of the longest prefix of `candidate`, ending at a group boundary, that `accept`s (0: none)."""
    ends = [m.end() for m in re.finditer(r"\(\d+\)|\d+|[A-Z0-9]+", candidate)]
    for end in reversed(ends[min_groups - 1 :]):
        if accept(candidate[:end]):
            return end
    return 0


def _sub(pattern: re.Pattern, token: str, accept, text: str, protected: list[tuple[int, int]] = ()) -> tuple[str, int]:
    out: list[str] = []
    count = 0
    pos = 0
    search_from = 0
    while True:
        m = pattern.search(text, search_from)
        if m is None:
            break
        if any(a <= m.start() < b for a, b in protected):
            search_from = m.start() + 1
            continue
        end = _longest_prefix(m.group(), accept)
        if end:
            out.append(text[pos : m.start()])
            out.append(token)
            count += 1
            pos = search_from = m.start() + end
        else:
            search_from = m.start() + 1
    if not count:
        return text, 0
    out.append(text[pos:])
    return "".join(out), count


def _email_sub(text: str) -> tuple[str, int]:
    return _EMAIL_RE.subn(EMAIL, text)


def _could_hold_pii(text: str) -> bool:
    return "@" in text or sum(ch.isdigit() for ch in text) >= 8


def redact(text: str | None) -> tuple[str, int]:
    """Replace e-mails, IBANs, card numbers and phone numbers by tokens; return (text, replacements)."""
    if not text:
        return text or "", 0
    if not _could_hold_pii(text):
        return text, 0
    total = 0
    if "@" in text:
        text, n = _email_sub(text)
        total += n
    if sum(ch.isdigit() for ch in text) >= 8:
        text, n = _sub(_IBAN_RE, IBAN, _is_iban, text)
        total += n
        # what still looks like an IBAN failed its checksum: not an IBAN, and not a card or phone either
        protected = [m.span() for m in _IBAN_RE.finditer(text)]
        text, n = _sub(_CARD_RE, CARD, _is_card, text, protected)
        total += n
        protected = [m.span() for m in _IBAN_RE.finditer(text)]
        text, n = _sub(_PHONE_RE, PHONE, _is_phone, text, protected)
        total += n
    return text, total


def redact_many(texts: Iterable[str | None]) -> tuple[list[str], list[int]]:
    """redact() over many texts: (redacted texts, replacement count per text)."""
    out: list[str] = []
    counts: list[int] = []
    for t in texts:
        r, n = redact(t)
        out.append(r)
        counts.append(n)
    return out, counts
