"""Generate tests/services/data/pii_labelled.jsonl: app-feedback-like texts with labelled PII spans.

Each line: {"id", "text", "spans": [{"start", "end", "type", "variant"?}]}. Types: EMAIL (variant
"obfuscated" for addresses written out in words), PHONE, CARD, IBAN, IP, SSN, NATIONAL_ID, ADDRESS.
About 40% of the texts hold no PII but look-alikes (order numbers, versions, builds, dates, times,
amounts, ticket ids, "at" in ordinary English, numbered product names); the rest hold one or more
PII items, each type at least ~25 times, among the same look-alikes.

Templates are hand-written; values are drawn with a fixed seed, so the file is reproducible:

    .venv/bin/python bench/pii_labelled_gen.py          # rewrite the file
    .venv/bin/python bench/pii_labelled_gen.py --check  # exit 1 if the file differs from the generator
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.pii_labelled_templates import NEGATIVE, POSITIVE  # noqa: E402

OUT = ROOT / "tests" / "services" / "data" / "pii_labelled.jsonl"
SEED = 13
N_TEXTS = 400
NEGATIVE_SHARE = 0.4

FIRST = ("ana", "jane", "omar", "li", "sofia", "kenji", "maria", "tom", "aisha", "pedro", "nina", "lukas", "priya")
LAST = ("silva", "doe", "haddad", "wang", "rossi", "sato", "garcia", "miller", "khan", "berg", "novak", "okafor")
DOMAINS = ("example", "gmail", "outlook", "yahoo", "proton", "acme-corp", "mail", "fastmail", "web")
TLDS = ("com", "com", "org", "net", "io", "de", "co.uk", "fr", "es")

# --- PII values ----------------------------------------------------------------------------------


def _email(r: random.Random) -> str:
    f, last, d, t = r.choice(FIRST), r.choice(LAST), r.choice(DOMAINS), r.choice(TLDS)
    return r.choice(
        (
            f"{f}.{last}@{d}.{t}",
            f"{f}{r.randint(1, 99)}@{d}.{t}",
            f"{f}_{last}@{d}.{t}",
            f"{f.capitalize()}.{last.capitalize()}@{d}.{t}",
            f"{f}+feedback@{d}.{t}",
            f"{f[0]}.{last}@support.{d}.{t}",
        )
    )


def _email_obfuscated(r: random.Random) -> str:
    f, last, d = r.choice(FIRST), r.choice(LAST), r.choice(DOMAINS)
    t = r.choice(("com", "com", "org", "net", "io", "de"))
    return r.choice(
        (
            f"{f} at {d} dot {t}",
            f"{f} [at] {d} [dot] {t}",
            f"{f}(at){d}(dot){t}",
            f"{f} (at) {d} (dot) {t}",
            f"{f.upper()} AT {d.upper()} DOT {t.upper()}",
            f"{f}.{last} at {d}.{t}",
            f"{f} {{at}} {d} {{dot}} {t}",
            f"{f} @ {d}.{t}",
            f"{f}@{d} dot {t}",
            f"{f} dot {last} at {d} dot {t}",
            f"{f}{last} [at] {d}.{t}",
            f"{f} at {d} dot co dot uk",
            f"{f} <at> {d} <dot> {t}",
        )
    )


def _phone(r: random.Random) -> str:
    d = lambda n: "".join(r.choice(string.digits) for _ in range(n))  # noqa: E731
    return r.choice(
        (
            f"+44 20 7946 0{d(3)}",
            f"+1 (415) 555-0{d(3)}",
            f"(212) 555-01{d(2)}",
            f"555.{d(3)}.{d(4)}",
            f"+49 151 {d(4)} {d(4)}",
            f"030 {d(7)}",
            f"06 {d(2)} {d(2)} {d(2)} {d(2)}",
            f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}",
            f"1-800-555-0{d(3)}",
            f"+4915{d(9)}",
            f"0171-{d(7)}",
            f"+34 612 {d(3)} {d(3)}",
            f"020 7946 0{d(3)}",
            f"555-{d(3)}-{d(4)}",
        )
    )


def _luhn_complete(prefix: str, length: int, r: random.Random) -> str:
    body = prefix + "".join(r.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v = v * 2 - 9 if v * 2 > 9 else v * 2
        total += v
    return body + str((10 - total % 10) % 10)


def _card(r: random.Random) -> str:
    kind = r.choice(("visa", "visa", "mc", "amex"))
    if kind == "amex":
        n = _luhn_complete(r.choice(("34", "37")), 15, r)
        return r.choice((f"{n[:4]} {n[4:10]} {n[10:]}", n))
    n = _luhn_complete("4" if kind == "visa" else f"5{r.randint(1, 5)}", 16, r)
    sep = r.choice((" ", "-", ""))
    return sep.join((n[0:4], n[4:8], n[8:12], n[12:16]))


def _iban(r: random.Random) -> str:
    country, bban = r.choice(
        (
            ("DE", lambda: "".join(r.choice(string.digits) for _ in range(18))),
            ("GB", lambda: r.choice(("WEST", "NWBK", "BARC")) + "".join(r.choice(string.digits) for _ in range(14))),
            ("NL", lambda: r.choice(("ABNA", "INGB", "RABO")) + "".join(r.choice(string.digits) for _ in range(10))),
            ("FR", lambda: "".join(r.choice(string.digits) for _ in range(23))),
            ("ES", lambda: "".join(r.choice(string.digits) for _ in range(20))),
        )
    )
    b = bban()
    check = 98 - int("".join(str(int(ch, 36)) for ch in b + country + "00")) % 97
    iban = f"{country}{check:02d}{b}"
    if r.random() < 0.3:
        return iban
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _ip(r: random.Random) -> str:
    h = lambda: f"{r.randint(1, 0xFFFF):x}"  # noqa: E731
    return r.choice(
        (
            f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            f"2001:db8:{h()}::{h()}",
            f"fe80::{h()}:{h()}:{h()}:{h()}",
            ":".join(h() for _ in range(8)),
            f"2a02:{h()}:{h()}:{h()}::1",
        )
    )


def _ssn_parts(r: random.Random) -> tuple[str, str, str]:
    area = r.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"


def _ssn(r: random.Random) -> str:
    a, g, s = _ssn_parts(r)
    return f"{a} {g} {s}" if r.random() < 0.2 else f"{a}-{g}-{s}"


def _ssn_bare(r: random.Random) -> str:
    return "".join(_ssn_parts(r))


def _nino(r: random.Random) -> str:
    first, second = r.choice("ABCEGHJKLMNOPRSTWXYZ"), r.choice("ABCEGHJKLMNPRSTWXYZ")
    while first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        second = r.choice("ABCEGHJKLMNPRSTWXYZ")
    digits = [f"{r.randint(0, 99):02d}" for _ in range(3)]
    suffix = r.choice("ABCD")
    if r.random() < 0.5:
        return f"{first}{second} {' '.join(digits)} {suffix}"
    return f"{first}{second}{''.join(digits)}{suffix}"


US_STREETS = ("Baker", "Maple", "Oak", "Pennsylvania", "Elm", "Sunset", "Lincoln", "Cedar", "Market", "Mission",
              "Main", "High", "Church", "Mill", "Park", "Lake Shore", "Martin Luther King", "Ocean")  # fmt: skip
US_TYPES = ("Street", "St", "Avenue", "Ave", "Road", "Rd", "Blvd", "Lane", "Drive", "Court", "Place", "Way")
CITY_TAILS = (", Springfield, IL 62704", ", Austin, TX 78701", ", New York, NY 10001", ", San Francisco, CA 94105",
              ", London SW1A 2AA", ", Manchester M1 1AE")  # fmt: skip
EUROPEAN = ("Calle Mayor {n}", "Calle de Alcalá, {n}", "Avenida de la Constitución {n}", "Plaza Mayor {n}",
            "Via Roma {n}", "Corso Buenos Aires {n}", "Rua Augusta {n}", "Carrer de Balmes {n}",
            "{n} rue de Rivoli", "{n} avenue des Champs-Élysées", "{n} boulevard Saint-Michel", "Hauptstraße {n}",
            "Friedrichstraße {n}", "Berliner Straße {n}", "Sonnenallee {n}", "Kerkstraat {n}", "Prinsengracht {n}",
            "Via della Spiga {n}")  # fmt: skip
FAMOUS = ("221B Baker Street", "1600 Pennsylvania Ave NW", "10 Downing Street", "350 5th Avenue",
          "1 Infinite Loop", "742 Evergreen Terrace", "4 Privet Drive", "31 Spooner Street")  # fmt: skip


def _address(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.2:
        return r.choice(FAMOUS)
    if roll < 0.55:
        return r.choice(EUROPEAN).format(n=r.randint(1, 240))
    house = f"{r.randint(1, 9999)}{r.choice(('', '', '', 'A', 'B'))}"
    direction = r.choice(("", "", "", "N ", "West "))
    street = f"{house} {direction}{r.choice(US_STREETS)} {r.choice(US_TYPES)}"
    if r.random() < 0.25:
        street += r.choice((", Apt 4B", " Apt. 12", ", Suite 210", ", Unit 7"))
    if r.random() < 0.35:
        street += r.choice(CITY_TAILS)
    return street


PII = {
    "EMAIL": _email,
    "EMAIL_OBF": _email_obfuscated,
    "PHONE": _phone,
    "CARD": _card,
    "IBAN": _iban,
    "IP": _ip,
    "SSN": _ssn,
    "SSN_BARE": _ssn_bare,
    "NINO": _nino,
    "ADDRESS": _address,
}
# Harder values, written after the detectors and not tuned to them (variant "hard" in the labels).
HARD = {
    "ADDRESS": ("1 Infinite Loop", "77 Massachusetts Ave, Cambridge, MA 02139", "Flat 2, 14 Abbey Road",
                "221b baker street", "12 Rue de la Paix", "Av. Paulista 1578", "Piazza San Marco 1",
                "Unter den Linden 77", "Calle Mayor nº 5", "500 W 2nd St", "8 Rue du Faubourg Saint-Honoré"),
    "PHONE": ("+1 415-555-0132", "07700 900123", "+44 7700 900123", "415-555-0132 ext. 12", "+1.415.555.0132",
              "(415)555-0132", "+61 2 9876 5432"),
    "EMAIL": ("<ana.silva@example.com>", "mailto:ana@example.com", "ANA.SILVA@EXAMPLE.COM",
              "o'connor@example.ie"),
    "EMAIL_OBF": ("ana @ example dot com", "ana[at]example[.]com", "ana (at) example.com", "ana at example . com",
                  "tom at gmail", "ana AT example.com"),
    "IP": ("10.0.0.5:8080", "8.8.8.8", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::1",
           "172.16.254.1/24"),
    "SSN": ("ssn#536-22-8745", "SSN 536.22.8745", "social security no. 536228745"),
    "CARD": ("4111.1111.1111.1111", "5500 0000 0000 0004", "3714-496353-98431"),
}  # fmt: skip


def _hard(kind: str):
    return lambda r: r.choice(HARD[kind])


PII.update({f"{kind}_HARD": _hard(kind) for kind in HARD})
LABEL = {"EMAIL_OBF": ("EMAIL", "obfuscated"), "SSN_BARE": ("SSN", "bare"), "NINO": ("NATIONAL_ID", None)}
LABEL.update({f"{kind}_HARD": (LABEL.get(kind, (kind, None))[0], "hard") for kind in HARD})

# --- look-alikes (never PII) ---------------------------------------------------------------------


def _n(r: random.Random, lo: int, hi: int) -> int:
    return r.randint(lo, hi)


LOOKALIKE = {
    "ORDER": lambda r: r.choice(
        (
            f"#{_n(r, 10000, 99999)}",
            f"order {_n(r, 1000000, 9999999)}",
            f"ORD-{_n(r, 2022, 2025)}-{_n(r, 100000, 999999)}",
            f"order no. {_n(r, 2023, 2025)}{_n(r, 10, 12)}{_n(r, 10, 28)}-{_n(r, 1000, 9999)}",
            f"#A-{_n(r, 10000, 99999)}",
            f"order #{_n(r, 100000000, 999999999)}",
        )
    ),
    "VERSION": lambda r: r.choice(
        (
            f"{_n(r, 1, 9)}.{_n(r, 0, 20)}.{_n(r, 0, 9)}",
            f"v{_n(r, 1, 9)}.{_n(r, 0, 9)}",
            f"version {_n(r, 1, 9)}.{_n(r, 0, 9)}.{_n(r, 0, 9)}.{_n(r, 0, 99)}",
            f"v{_n(r, 1, 9)}.{_n(r, 0, 20)}.{_n(r, 0, 9)}-rc{_n(r, 1, 3)}",
            f"iOS {_n(r, 15, 18)}.{_n(r, 0, 6)}.{_n(r, 1, 3)}",
            f"Android {_n(r, 11, 15)}",
            f"Chrome {_n(r, 110, 130)}.0.{_n(r, 5000, 6999)}.{_n(r, 10, 199)}",
            f"10.0.{_n(r, 19000, 22999)}.{_n(r, 1000, 3999)}",
            "2.14.1",
            "v3.2",
        )
    ),
    "BUILD": lambda r: r.choice(
        (
            f"build {_n(r, 1000, 9999)}",
            f"build {_n(r, 2023, 2025)}0{_n(r, 1, 9)}{_n(r, 10, 28)}.{_n(r, 1, 9)}",
            f"(build {_n(r, 100, 9999)})",
            f"build {_n(r, 1, 4)}.{_n(r, 0, 9)}.{_n(r, 0, 9)}.{_n(r, 10, 250)}",
            f"build {_n(r, 20, 24)}E{_n(r, 100, 299)}",
        )
    ),
    "DATE": lambda r: r.choice(
        (
            f"2024-{_n(r, 1, 12):02d}-{_n(r, 1, 28):02d}",
            f"{_n(r, 1, 28):02d}.{_n(r, 1, 12):02d}.2024",
            f"{_n(r, 1, 12):02d}/{_n(r, 1, 28):02d}/2024",
            f"May {_n(r, 1, 28)}, 2024",
            f"{_n(r, 1, 28)} March 2025",
            f"2024-{_n(r, 1, 12):02d}-{_n(r, 1, 28):02d}T{_n(r, 0, 23):02d}:{_n(r, 0, 59):02d}:00Z",
        )
    ),
    "TIME": lambda r: r.choice(
        (
            f"{_n(r, 0, 23):02d}:{_n(r, 0, 59):02d}",
            f"{_n(r, 0, 23):02d}:{_n(r, 0, 59):02d}:{_n(r, 0, 59):02d}",
            f"{_n(r, 1, 12)}:{_n(r, 10, 59)} pm",
            f"between {_n(r, 8, 11)}:00-{_n(r, 12, 17)}:00",
        )
    ),
    "PRICE": lambda r: r.choice(
        (
            f"${_n(r, 1, 9)},{_n(r, 100, 999)}.00",
            f"€ {_n(r, 10, 99)},99",
            f"£{_n(r, 1, 99)}.50",
            f"USD {_n(r, 100, 999)}",
            f"{_n(r, 1, 9)} {_n(r, 100, 999)} {_n(r, 100, 999)} €",
            f"${_n(r, 10, 99)}.{_n(r, 10, 99)}",
        )
    ),
    "TICKET": lambda r: r.choice(
        (
            f"ticket {_n(r, 2023, 2025)}-{_n(r, 1000000, 9999999):07d}",
            f"case {_n(r, 10000000, 99999999)}",
            f"INV-{_n(r, 2023, 2025)}-{_n(r, 10000, 99999)}",
            f"tracking 1Z{_n(r, 100, 999)}AA{_n(r, 10000000, 99999999)}",
            f"request id {''.join(r.choice('0123456789abcdef') for _ in range(8))}-"
            f"{''.join(r.choice('0123456789abcdef') for _ in range(4))}-4{_n(r, 100, 999)}",
            f"SKU {_n(r, 100, 999)}-{_n(r, 10, 99)}-{_n(r, 1000, 9999)}",
            f"customer id {_n(r, 100000, 999999)}",
            f"error code 0x{_n(r, 0x1000, 0xFFFF):X}",
            f"ZIP {_n(r, 10000, 99999)}",
        )
    ),
    "COUNT": lambda r: r.choice(
        (
            f"{_n(r, 2, 9)} times",
            f"{_n(r, 10, 59)} minutes",
            f"{_n(r, 2, 99)}.{_n(r, 1, 9)}%",
            f"{_n(r, 2, 12)} items",
            f"{_n(r, 2, 5)} stars",
            f"score 0.{_n(r, 10, 99)}",
            f"ratio {_n(r, 1, 21)}:{_n(r, 1, 9)}",
        )
    ),
    "NAME": lambda r: r.choice(FIRST).capitalize(),
}

_SLOT = re.compile(r"\{([A-Z_]+)\}")


def _fill(template: str, r: random.Random) -> tuple[str, list[dict]]:
    parts: list[str] = []
    spans: list[dict] = []
    pos = 0
    length = 0
    for m in _SLOT.finditer(template):
        literal = template[pos : m.start()]
        parts.append(literal)
        length += len(literal)
        name = m.group(1)
        value = (PII.get(name) or LOOKALIKE[name])(r)
        if name in PII:
            kind, variant = LABEL.get(name, (name, None))
            span = {"start": length, "end": length + len(value), "type": kind}
            if variant:
                span["variant"] = variant
            spans.append(span)
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(template[pos:])
    return "".join(parts), spans


def generate(seed: int = SEED, n: int = N_TEXTS) -> list[dict]:
    r = random.Random(seed)
    n_negative = round(n * NEGATIVE_SHARE)
    kinds = list(POSITIVE)
    rows: list[dict] = []
    for i in range(n):
        if i < n_negative:
            template = NEGATIVE[i % len(NEGATIVE)]
        else:
            group = POSITIVE[kinds[(i - n_negative) % len(kinds)]]
            template = group[r.randrange(len(group))]
        text, spans = _fill(template, r)
        rows.append({"text": text, "spans": spans})
    r.shuffle(rows)
    return [{"id": f"pii-{i + 1:04d}", **row} for i, row in enumerate(rows)]


def render(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str]) -> int:
    text = render(generate())
    if "--check" in argv:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.relative_to(ROOT)} {'matches' if same else 'differs from'} the generator")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    rows = generate()
    print(f"wrote {len(rows)} texts, {sum(not x['spans'] for x in rows)} without PII, to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
