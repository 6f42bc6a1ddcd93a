"""The newer PII detectors used by `pii.find_pii`: IP addresses, US SSNs, UK National Insurance
numbers, obfuscated e-mail addresses and street addresses.

Each `find_*` function takes a text (in which earlier findings are masked with NUL characters of
the same length, so offsets stay those of the original text) and returns (start, end) spans.

Every pattern is linear: each repetition is bounded ({m,n}), nothing nests an unbounded
quantifier, and a match can only start where a lookbehind allows (a word or number start), so the
cost of a text grows with its length, not with its square. Candidates are then checked by code
(`ipaddress` for IPs, the SSA's rules for SSNs, word lists for e-mails written out in words).
"""

from __future__ import annotations

import ipaddress
import re

Span = tuple[int, int]

# --- IP addresses ----------------------------------------------------------------------------------

_IPV4_RE = re.compile(r"(?<![\w.:-])\d{1,3}(?:\.\d{1,3}){3}(?![\w-]|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:.%-])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]{1,38}(?:\.\d{1,3}){0,3}(?:%[0-9A-Za-z]{1,15})?(?![\w:-]|\.\d)"
)
# "version 1.2.3.4", "build 10.0.0.1": a dotted quad right after a version word is a version.
_VERSION_BEFORE = re.compile(
    r"(?i)\b(?:v|ver|version|versions|build|builds|release|rel|firmware|fw|sdk|api|app|android|ios|os|macos|"
    r"windows|chrome|firefox|safari|edge|patch|update|updated|upgrade|upgraded|hotfix|node|nodejs|npm|python|java|"
    r"php|ruby|go|kernel|linux|ubuntu|debian|driver|drivers|bios|library|package|plugin)"
    r"\s*(?:[:=#]|to|from|is|was|and|or|\d[\w.]*\s*(?:to|and|or|->|→))?\s*$"
)


def _valid_ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def find_ips(text: str) -> list[Span]:
    """IPv4 (not right after a version word) and IPv6 addresses that `ipaddress` accepts."""
    spans: list[Span] = []
    if text.count(".") >= 3:
        for m in _IPV4_RE.finditer(text):
            if _valid_ip(m.group()) and not _VERSION_BEFORE.search(text, max(0, m.start() - 40), m.start()):
                spans.append(m.span())
    if text.count(":") >= 2:
        for m in _IPV6_RE.finditer(text):
            cand = m.group()
            if "::" not in cand and cand.count(":") < 7:
                continue  # 12:30:45, MAC-like groups: not an IPv6 address
            if any(ch.isdigit() for ch in cand) and _valid_ip(cand):
                spans.append(m.span())
    return spans


# --- national ids ----------------------------------------------------------------------------------

_SSN_RE = re.compile(r"(?<![\w#$€£¥+.,/:-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w%]|[.,:/-]?\d)")
_SSN_BARE_RE = re.compile(r"(?<![\w#$€£¥+.,/:-])(\d{3})(\d{2})(\d{4})(?![\w%]|[.,:/-]?\d)")
_SSN_CONTEXT = re.compile(
    r"(?i)\b(?:ssn|ss#|social\s+security(?:\s+(?:number|no\.?|#))?|soc\.?\s*sec\.?)\W{0,5}(?:is\s+)?$"
)
_NOT_SSN_BEFORE = re.compile(r"(?i)(?:#|\b(?:order|ticket|invoice|case|ref|reference|tracking|sku|part|item))\W{0,3}$")
_NINO_RE = re.compile(
    r"(?<![\w-])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"(?: ?\d{2}){3} ?[A-D](?![\w-])"
)


def _ssn_ok(area: str, group: str, serial: str) -> bool:
    """The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def find_ssns(text: str) -> list[Span]:
    """US SSNs: 123-45-6789 / 123 45 6789 anywhere valid; nine bare digits only right after "SSN"."""
    spans: list[Span] = []
    for m in _SSN_RE.finditer(text):
        if _ssn_ok(m.group(1), m.group(3), m.group(4)) and not _NOT_SSN_BEFORE.search(
            text, max(0, m.start() - 20), m.start()
        ):
            spans.append(m.span())
    for m in _SSN_BARE_RE.finditer(text):
        if _ssn_ok(*m.groups()) and _SSN_CONTEXT.search(text, max(0, m.start() - 40), m.start()):
            spans.append(m.span())
    return spans


def find_ninos(text: str) -> list[Span]:
    """UK National Insurance numbers (QQ 12 34 56 C, upper case, the HMRC prefix rules)."""
    return [m.span() for m in _NINO_RE.finditer(text)]


# --- e-mail addresses written out in words -------------------------------------------------------

_OPEN, _CLOSE = r"[\[\(\{<]", r"[\]\)\}>]"
_AT = rf"(?P<at>\s*{_OPEN}\s*(?i:at)\s*{_CLOSE}\s*|\s+(?i:at)\s+|\s*@\s*)"
_DOT = rf"(?:\s*{_OPEN}\s*(?:(?i:dot)|\.)\s*{_CLOSE}\s*|\s+(?i:dot)\s+|\s\.\s)"
_LOCAL = r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_OBFUSCATED_EMAIL_RE = re.compile(
    rf"(?<![\w.%+@-])(?P<local>{_LOCAL}(?:{_DOT}{_LOCAL}){{0,3}}){_AT}"
    rf"(?P<domain>{_LABEL}(?:(?:{_DOT}|\.){_LABEL}){{1,4}})(?![\w@-]|\.\w)"
)
_OBFUSCATED_HINT = re.compile(r"(?i)\s(?:at|dot)\s|[\[\(\{<]\s*(?:at|dot)\s*[\]\)\}>]|\s@|@\s")
_DOT_SPLIT = re.compile(rf"{_DOT}|\.")
_EMAIL_CONTEXT = re.compile(r"(?i)\b(?:e-?mail|mail|write|contact|reach|message|ping|cc)\b[^.!?\n]{0,25}$")
# words that stand before "at" in ordinary English ("look at shop dot com", "me at home dot ...")
_NOT_LOCAL_WORDS = (
    "a an the and or but at to of in on is was are were be been am it its this that these those here there "
    "me us him her them you i we they my our your look looked looking looks stay stayed arrive arrived "
    "available only even not just still shop shopped bought ordered order price prices sale deal deals "
    "offer offers page site website app live lives work works worked working meet met"
)
_NOT_LOCAL = frozenset(_NOT_LOCAL_WORDS.split())
_COMMON_TLD_WORDS = (
    "com org net edu gov mil int io co uk de fr es it nl be ch at eu us ca au nz ie pt pl se no dk fi cz sk "
    "hu ro gr tr ru ua br mx ar cl in jp cn kr sg hk tw za info biz me app dev ai tv xyz online shop email"
)
COMMON_TLDS = frozenset(_COMMON_TLD_WORDS.split())


def _obfuscated_email_ok(m: re.Match, text: str) -> bool:
    at = m.group("at").strip()
    local = m.group("local")
    labels = _DOT_SPLIT.split(m.group("domain"))
    tld = labels[-1].lower()
    obfuscated_dot = _DOT_SPLIT.search(m.group("domain")).group() != "."
    if not (tld.isalpha() and 2 <= len(tld) <= 24):
        return False
    if at.startswith(("[", "(", "{", "<")):
        return True  # ana [at] example [dot] com: written so on purpose
    if at == "@":
        return obfuscated_dot or " " in m.group("at")  # ana@example dot com, ana @ example.com
    if tld not in COMMON_TLDS or local.lower() in _NOT_LOCAL or local.isdigit():
        return False
    if obfuscated_dot:
        return True  # ana at example dot com
    # ana.silva at example.com: plain "at" and a real dot read as English unless the name looks
    # like a mailbox or the sentence talks about mail ("prices at amazon.com" stays)
    return bool(re.search(r"[._%+\d-]", local)) or bool(_EMAIL_CONTEXT.search(text, max(0, m.start() - 40), m.start()))


def find_obfuscated_emails(text: str) -> list[Span]:
    """ "ana at example dot com", "ana [at] example [dot] com", "ana(at)example.com", "ana @ example.com"."""
    if not _OBFUSCATED_HINT.search(text):
        return []
    spans: list[Span] = []
    pos = 0
    while m := _OBFUSCATED_EMAIL_RE.search(text, pos):
        if _obfuscated_email_ok(m, text):
            spans.append(m.span())
            pos = m.end()
        else:  # "me at ana dot silva" is no address, but "ana dot silva at example dot com" may follow
            pos = m.start() + 1
    return spans


# --- street addresses ------------------------------------------------------------------------------

_CAP = r"[A-ZÀ-ÖØ-Þ][^\W\d_]*(?:['’-][^\W\d_]+)*"  # a capitalised word (Champs-Élysées, O'Connell)
_DIR = r"(?:NE|NW|SE|SW|North|South|East|West|[NSEW]\.?)"
_US_TYPE = (
    r"(?:(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Place|Square|Terrace|Parkway|Highway|Way|Close|"
    r"Crescent|Circle|Trail|Plaza|Mews|Row)|(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Sq|Pkwy|Hwy|Cir)\.?)"
)
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm)\.?\s*#?\s?[0-9A-Z]{1,5}\b)"
_TAIL = (
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2}"  # , Washington / , New York
    r"(?:,\s*[A-Z]{2}\s+\d{5}(?:-\d{4})?|,?\s+[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2})\b)"  # , DC 20500 / London SW1A 2AA
)
_HOUSE = r"\d{1,5}[A-Za-z]?"
_US_ADDRESS = (
    rf"(?<![\w#$€£¥+.,/:-]){_HOUSE}\s+(?:{_DIR}\s+)?(?:{_CAP}|\d{{1,3}}(?:st|nd|rd|th))(?:\s+{_CAP}){{0,3}}"
    rf"\s+{_US_TYPE}(?:\s+{_DIR}(?![\w'’]))?(?![\w'’-]){_UNIT}?{_TAIL}?"
)
_PARTICLE = r"(?:de|del|la|las|los|el|da|do|dos|das|di|della|delle|dei|du|des|le|l'|d'|San|Santa|Sant')"
_ROMANCE_ADDRESS = (  # Calle Mayor 5, Via Roma 12, Avenida de la Constitución, 12
    r"(?<![\w-])(?:Calle|C/|Avenida|Avda\.?|Av\.|Paseo|Plaza|Carrer|Rambla|Rua|Travessa|Praça|Via|Viale|Corso|"
    rf"Piazza|Largo)\s+(?:{_PARTICLE}\s*){{0,3}}{_CAP}(?:\s+(?:{_PARTICLE}\s+){{0,2}}{_CAP}){{0,3}},?\s+"
    rf"\d{{1,4}}[A-Za-z]?(?![\w%]|[.,]\d)"
)
_FRENCH_ADDRESS = (  # 10 rue de Rivoli, 5 avenue des Champs-Élysées
    r"(?<![\w#$€£¥+.,/:-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|"
    rf"impasse|quai|route)\s+(?:{_PARTICLE}\s*){{0,3}}{_CAP}(?:\s+(?:{_PARTICLE}\s*){{0,2}}{_CAP}){{0,3}}"
)
_GERMANIC_ADDRESS = (  # Hauptstraße 12, Berliner Straße 10, Kerkstraat 7
    r"(?<![\w-])(?:[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|gasse|weg|allee|platz|damm|ufer|straat|laan|"
    r"gracht|plein|kade|singel|steeg)|[A-ZÄÖÜ][a-zäöüß]+(?:er)?\s(?:Straße|Strasse|Allee|Weg|Platz))"
    r"\s\d{1,4}[a-z]?(?![\w%]|[.,]\d)"
)
_ADDRESS_RE = re.compile(
    "|".join(f"(?:{p})" for p in (_US_ADDRESS, _ROMANCE_ADDRESS, _FRENCH_ADDRESS, _GERMANIC_ADDRESS))
)
# phrases that read like an address but name a product ("2 Google Drive accounts")
_NOT_ADDRESS = re.compile(r"(?i)\b(?:google|one|hard|flash|usb|cloud|disk|network|external|test)\s+drive\b")


def find_addresses(text: str) -> list[Span]:
    """Street addresses: "221B Baker Street", "1600 Pennsylvania Ave NW, Washington, DC 20500",
    "Calle Mayor 5", "10 rue de Rivoli", "Hauptstraße 12" (house number and street; city and
    postcode when they follow in the US or UK layout)."""
    return [m.span() for m in _ADDRESS_RE.finditer(text) if not _NOT_ADDRESS.search(m.group())]
