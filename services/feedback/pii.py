"""PII redaction for free text (feedback): e-mail addresses (also written out: "ana at example dot
com"), phone numbers, payment cards, IBANs, IP addresses, US SSNs, UK National Insurance numbers and
street addresses.

Pure functions, no database. `redact(text)` returns the text with each finding replaced by a token
([EMAIL], [PHONE], [CARD], [IBAN], [IP], [SSN], [NATIONAL_ID], [ADDRESS]) and the number of
replacements; `find_pii(text)` returns the findings themselves (offsets, kind, rule).

Why no Presidio: presidio-analyzer (2.2.366 was checked here) pulls in spaCy and ~25 packages
(3.3 s to import), its AnalyzerEngine wants a spaCy model that it downloads on first use, its
EmailRecognizer asks tldextract, which fetches the public suffix list over the network, and its
PhoneRecognizer (phonenumbers' matcher over eight regions) costs ~5 ms a text, i.e. ~200 texts/s
against the > 2,000 texts/s an import needs. It has no recognizer for street addresses (those come
from spaCy's NER) or for e-mails written out in words. What it builds on that fits is used: IP
candidates are validated by Python's `ipaddress`, SSNs with the SSA's issuing rules like Presidio's
UsSsnRecognizer, cards with Luhn, IBANs with ISO 13616 mod-97. The newer detectors live in
`pii_detectors`; precision and recall are measured on tests/services/data/pii_labelled.jsonl
(bench/bench_pii.py prints them).

What counts (and what deliberately does not):
- E-mail: local@domain.tld (tld of 2+ letters). Written out: "ana at example dot com",
  "ana [at] example [dot] com", "ana(at)example.com", "ana @ example.com". A plain " at " needs a
  common tld and, with a real dot ("prices at amazon.com" stays), a mailbox-like name
  ("ana.silva at example.com") or mail words before it ("e-mail me: ana at example.com").
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
- IP: dotted IPv4 that `ipaddress` accepts (no octet over 255, no leading zeros), except right
  after a version word ("version 1.2.3.4", "build 10.0.0.1"); IPv6 with "::" or eight groups.
- SSN: 123-45-6789 or 123 45 6789 within the SSA's issued ranges (not after "order", "#", ...);
  nine bare digits only right after "SSN"/"social security". National id: UK NINO "QQ 12 34 56 C".
- Address: house number + street + street type ("221B Baker Street", "1600 Pennsylvania Ave NW",
  with a following ", Apt 4B" and a US/UK ", City, ST 12345" / ", London SW1A 2AA"), Romance
  layouts ("Calle Mayor 5", "Via Roma 12"), French ("10 rue de Rivoli"), German/Dutch
  ("Hauptstraße 12", "Kerkstraat 7"). A street name without a house number is not redacted.
- Never touched: dates (2024-05-01, 01.05.2024, 05/01/2024), times, version numbers
  (v2.3.1, 4.18.0, 10.0.19045.2965), order ids (#12345, #4111111111111111), amounts ($1,299.00),
  percentages, years and other short numbers: anything glued to '#', '$', '€', '£', a letter, a
  decimal point or a colon is left alone.

Cost: every pattern is linear in the text (bounded repetitions; see pii_detectors); a text without
"@", " at " or digits costs one scan or two.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from typing import NamedTuple

from services.feedback import pii_detectors

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"
IP = "[IP]"
SSN = "[SSN]"
NATIONAL_ID = "[NATIONAL_ID]"
ADDRESS = "[ADDRESS]"
TOKENS = (EMAIL, PHONE, CARD, IBAN, IP, SSN, NATIONAL_ID, ADDRESS)
KINDS = tuple(t.strip("[]") for t in TOKENS)
_MASK = "\x00"  # stands in for a finding while later detectors run


class Finding(NamedTuple):
    start: int
    end: int
    kind: str  # one of KINDS
    rule: str  # which detector: email, email_obfuscated, ip, iban, card, ssn, nino, phone, address


_EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)

# Candidates; the checksum / layout checks below decide.
_IBAN_RE = re.compile(r"(?<![\w#])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])")
# every card layout starts with four digits: saying so here keeps "1 2 3 4 ..." out of the Python checks
_CARD_RE = re.compile(r"(?<![\w#$€£¥+.,/-])(?<!\d:)\d{4}(?:[ -]?\d){9,15}(?![\w%]|[.,:/-]?\d)")
_MORE_DIGITS = r"(?=(?:[ .\-/()]{{0,4}}\d){{{n}}})"  # at least n more digits follow (separators between)
_PHONE_RE = re.compile(
    r"(?<![\w#$€£¥%+.,/@-])(?<!\d:)"  # not glued to a word, number, amount or time
    # the first group already says which rule can accept it (see _is_phone), so that a text of
    # short numbers ("1 2 3 ...") costs no Python check per number
    r"(?:\+ ?" + _MORE_DIGITS.format(n=8) + r"(?:\(\d{1,5}\)|\d{1,15})"  # +44 ..., + 8-15 digits
    r"|0" + _MORE_DIGITS.format(n=8) + r"\d{0,14}"  # 030 1234567, 0049 ..., trunk 0 + 8 or more
    r"|\(0\d{0,4}\)(?=(?:[ .\-/()]{0,4}\d){6})"  # (030) 1234567, (020) 7946 0958
    r"|\(\d{3}\)(?= ?\d{3}[ .\-/]?\d{4}(?!\d))"  # (555) 123-4567
    r"|1(?=[ .\-]\d{3}(?!\d))"  # 1-800-555-0199
    r"|\d{3}(?=[ .\-/]\d{3}(?!\d)))"  # 555-123-4567
    r"(?:(?:[ .\-/]|(?<=\)) | ?(?=\()|(?<=\)))(?:\(\d{1,5}\)|\d{1,15})){0,9}"
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


def _spans(pattern: re.Pattern, accept, text: str, protected: list[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """Spans of the longest accepted prefix of each candidate, left to right, none overlapping.
    `protected`: sorted, non-overlapping spans in which no candidate may start."""
    spans: list[tuple[int, int]] = []
    starts = [a for a, _ in protected]
    search_from = 0
    while True:
        m = pattern.search(text, search_from)
        if m is None:
            return spans
        i = bisect.bisect_right(starts, m.start()) - 1
        if i >= 0 and m.start() < protected[i][1]:
            search_from = protected[i][1]
            continue
        end = _longest_prefix(m.group(), accept)
        if end:
            spans.append((m.start(), m.start() + end))
            search_from = m.start() + end
        else:
            search_from = m.start() + 1


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    """Hide findings from the detectors that follow; same length, so offsets stay the original's."""
    out: list[str] = []
    pos = 0
    for a, b in sorted(spans):
        out.append(text[pos:a])
        out.append(_MASK * (b - a))
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _digits(text: str) -> int:
    return sum(map(str.isdigit, text))


def find_pii(text: str | None) -> list[Finding]:
    """Every finding in `text`, sorted by position, none overlapping. Earlier detectors win: an
    e-mail's digits are not a phone, an IBAN's are not a card, an IP's or SSN's are not a phone."""
    if not text:
        return []
    found: list[Finding] = []

    def take(kind: str, rule: str, spans: list[tuple[int, int]]) -> None:
        nonlocal text
        if spans:
            found.extend(Finding(a, b, kind, rule) for a, b in spans)
            text = _mask(text, spans)

    if "@" in text:
        take("EMAIL", "email", [m.span() for m in _EMAIL_RE.finditer(text)])
    take("EMAIL", "email_obfuscated", pii_detectors.find_obfuscated_emails(text))
    n_digits = _digits(text)
    if n_digits >= 4:
        take("IP", "ip", pii_detectors.find_ips(text))
    if n_digits >= 6:
        take("NATIONAL_ID", "nino", pii_detectors.find_ninos(text))
    if n_digits >= 8:
        take("IBAN", "iban", _spans(_IBAN_RE, _is_iban, text))
        # what still looks like an IBAN failed its checksum: not an IBAN, and not a card or phone either
        take("CARD", "card", _spans(_CARD_RE, _is_card, text, [m.span() for m in _IBAN_RE.finditer(text)]))
        take("SSN", "ssn", pii_detectors.find_ssns(text))
        take("PHONE", "phone", _spans(_PHONE_RE, _is_phone, text, [m.span() for m in _IBAN_RE.finditer(text)]))
    if n_digits:
        take("ADDRESS", "address", pii_detectors.find_addresses(text))
    return sorted(found)


def redact(text: str | None) -> tuple[str, int]:
    """Replace each finding of `find_pii` by its token ([EMAIL], [IP], ...); return (text, replacements)."""
    if not text:
        return text or "", 0
    found = find_pii(text)
    if not found:
        return text, 0
    out: list[str] = []
    pos = 0
    for f in found:
        out.append(text[pos : f.start])
        out.append(f"[{f.kind}]")
        pos = f.end
    out.append(text[pos:])
    return "".join(out), len(found)


def redact_many(texts: Iterable[str | None]) -> tuple[list[str], list[int]]:
    """redact() over many texts: (redacted texts, replacement count per text)."""
    out: list[str] = []
    counts: list[int] = []
    for t in texts:
        r, n = redact(t)
        out.append(r)
        counts.append(n)
    return out, counts
