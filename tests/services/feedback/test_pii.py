"""PII redaction: what must be redacted, and ordinary text that must be left exactly as it is."""

import pytest

from services.feedback.pii import (
    ADDRESS,
    CARD,
    EMAIL,
    IBAN,
    IP,
    NATIONAL_ID,
    PHONE,
    SSN,
    find_pii,
    iban_ok,
    luhn_ok,
    redact,
    redact_many,
)

REDACTED = [
    # e-mail
    ("mail me at jane.doe@example.com please", "mail me at [EMAIL] please", 1),
    ("John.Smith+tag@sub.example.co.uk", EMAIL, 1),
    ("a_b-c%d@my-host.io, x@y.de", "[EMAIL], [EMAIL]", 2),
    ("(contact: ops@company.org)", "(contact: [EMAIL])", 1),
    # international phones
    ("call +44 20 7946 0958", "call [PHONE]", 1),
    ("+1 (555) 123-4567", PHONE, 1),
    ("+1-555-123-4567", PHONE, 1),
    ("+33 6 12 34 56 78", PHONE, 1),
    ("+49.151.2345.6789", PHONE, 1),
    ("+4915123456789", PHONE, 1),
    ("Ruf an: +49 (0)30 123 456 78!", "Ruf an: [PHONE]!", 1),
    ("+44 (0)20 7946 0958", PHONE, 1),
    ("tel:+33612345678", "tel:[PHONE]", 1),
    ("0049 151 23456789", PHONE, 1),
    # national formats
    ("(555) 123-4567", PHONE, 1),
    ("555-123-4567", PHONE, 1),
    ("555.123.4567", PHONE, 1),
    ("555 123 4567", PHONE, 1),
    ("1-800-555-0199", PHONE, 1),
    ("phone:555-123-4567", "phone:[PHONE]", 1),
    ("030 1234567", PHONE, 1),
    ("030/1234567", PHONE, 1),
    ("(030) 1234567", PHONE, 1),
    ("0171-2345678", PHONE, 1),
    ("06 12 34 56 78", PHONE, 1),
    ("06.12.34.56.78", PHONE, 1),
    ("0612345678", PHONE, 1),
    ("020 7946 0958", PHONE, 1),
    ("0800 123 4567", PHONE, 1),
    ("call 0171 2345678, thanks", "call [PHONE], thanks", 1),
    # cards (Luhn-valid)
    ("card 4111 1111 1111 1111 ok", "card [CARD] ok", 1),
    ("4111-1111-1111-1111", CARD, 1),
    ("4111111111111111", CARD, 1),
    ("amex 378282246310005.", "amex [CARD].", 1),
    ("3782 822463 10005", CARD, 1),
    ("5555 5555 5555 4444 and 4012 8888 8888 1881", "[CARD] and [CARD]", 2),
    ("card:4111111111111111", "card:[CARD]", 1),
    # card-like: in a card layout, a typo that breaks Luhn does not make it less of a card number
    ("card 4111 1111 1111 1112 ok", "card [CARD] ok", 1),
    ("4111-1111-1111-1112", CARD, 1),
    # IBAN-like: in the IBAN layout, broken check digits do not make it less of an account number
    ("IBAN DE88 3704 0044 0532 0130 00 thanks", "IBAN [IBAN] thanks", 1),
    # IBANs (mod-97-valid)
    ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN [IBAN] thanks", 1),
    ("DE89370400440532013000", IBAN, 1),
    ("my iban is GB82 WEST 1234 5698 7654 32.", "my iban is [IBAN].", 1),
    ("FR14 2004 1010 0505 0001 3M02 606", IBAN, 1),
    ("NL91ABNA0417164300", IBAN, 1),
    # several kinds at once
    (
        "Refund to DE89 3704 0044 0532 0130 00, mail jane@x.io or call +44 20 7946 0958",
        "Refund to [IBAN], mail [EMAIL] or call [PHONE]",
        3,
    ),
    ("line one\nmail a@b.de\ncall 020 7946 0958", "line one\nmail [EMAIL]\ncall [PHONE]", 2),
    # IP addresses
    ("192.168.100.200", IP, 1),
    ("server 10.0.0.1:8080 down", f"server {IP}:8080 down", 1),
    ("from 2001:db8::ff00:42:8329 and fe80::1%eth0", f"from {IP} and {IP}", 2),
    ("[2001:db8::1]:443", f"[{IP}]:443", 1),
    # national ids
    ("my SSN is 536-22-8745", f"my SSN is {SSN}", 1),
    ("ssn 536 22 8745", f"ssn {SSN}", 1),
    ("SSN: 536228745", f"SSN: {SSN}", 1),
    ("NI number AB 12 34 56 C", f"NI number {NATIONAL_ID}", 1),
    # e-mails written out
    ("ana at example dot com", EMAIL, 1),
    ("write to ana [at] example [dot] com!", f"write to {EMAIL}!", 1),
    ("ana(at)example(dot)co(dot)uk", EMAIL, 1),
    ("ana.silva at gmail.com", EMAIL, 1),
    ("e-mail me: bob at outlook.com", f"e-mail me: {EMAIL}", 1),
    ("ana dot silva at example dot com", EMAIL, 1),
    # street addresses
    ("I live at 221B Baker Street.", f"I live at {ADDRESS}.", 1),
    ("1600 Pennsylvania Ave NW, Washington, DC 20500", ADDRESS, 1),
    ("350 5th Avenue, Apt 12B, thanks", f"{ADDRESS}, thanks", 1),
    ("Calle Mayor 5, Madrid", f"{ADDRESS}, Madrid", 1),
    ("10 rue de Rivoli", ADDRESS, 1),
    ("Hauptstraße 12", ADDRESS, 1),
]

UNTOUCHED = [
    "on 2024-05-01 at 12:30:45",
    "2024-05-01T12:00:00Z",
    "2024-05-01T12:00:00.123456789+02:00",
    "01.05.2024",
    "01.05.2024 10:30",
    "05/01/2024",
    "2024-05-01 2024-06-01",
    "from 2019 to 2024",
    "between 10:00-12:00",
    "v2.3.1 and 4.18.0",
    "Model v4.18.0-rc1 deployed",
    "Windows 10 build 19045.2965",
    "10.0.19045.2965",
    "order #12345",
    "order #4111111111111111",
    "$1,299.00",
    "€ 1.299,00",
    "price 1 299 000 €",
    "12.5% better, 99.9% uptime",
    "scores 0.91, 0.85, 0.77",
    "0.25 0.50 0.75",
    "numbers 1 2 3 4 5 6 7 8 9 10",
    "version 1.2.3.4 and build 10.0.0.12",  # dotted quads after a version word are versions
    "at 12:30:45, ratio 3:2:1",
    "order 536-22-8745, #536-22-8745",
    "666-12-3456 and 900-12-3456",  # never issued as SSNs
    "I looked at example.com; prices at amazon.com; meet at home dot",
    "I have 2 Google Drive accounts; step 3 Place your order; Spring 2024 update",
    "ISBN 978-3-16-148410-0",
    "tracking 1Z999AA10123456784",
    "ts 1714564800",
    "Ticket 2024-0001234",
    "4111111111111112",  # unbroken and fails Luhn: not card-like enough
    "DE88370400440532013000",  # unbroken and fails mod-97
    "user@localhost",
    "a@b.c",
    "I waited 45 minutes, 3 times",
    "",
    "no digits at all, just words",
    "Größe 42, Straße 7",
]


@pytest.mark.parametrize(("text", "expected", "count"), REDACTED)
def test_redacts(text, expected, count):
    assert redact(text) == (expected, count)


@pytest.mark.parametrize("text", UNTOUCHED)
def test_leaves_ordinary_text_alone(text):
    assert redact(text) == (text, 0)


def test_none_and_many():
    assert redact(None) == ("", 0)
    texts, counts = redact_many(["a@b.de", "fine", None])
    assert texts == [EMAIL, "fine", ""]
    assert counts == [1, 0, 0]


def test_checksums():
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("41111x1111111111")
    assert iban_ok("DE89 3704 0044 0532 0130 00")
    assert iban_ok("gb82west12345698765432")
    assert not iban_ok("DE88370400440532013000")
    assert not iban_ok("DE89")


def test_raw_digits_are_gone():
    text = "card 4111 1111 1111 1111, phone +44 20 7946 0958, iban DE89 3704 0044 0532 0130 00"
    out, n = redact(text)
    assert n == 3
    assert "4111" not in out and "7946" not in out and "3704" not in out


def test_findings_carry_offsets_kind_and_rule():
    text = "mail ana at example dot com from 10.0.0.1"
    found = find_pii(text)
    assert [(text[f.start : f.end], f.kind, f.rule) for f in found] == [
        ("ana at example dot com", "EMAIL", "email_obfuscated"),
        ("10.0.0.1", "IP", "ip"),
    ]
    assert find_pii(None) == [] and find_pii("") == []
