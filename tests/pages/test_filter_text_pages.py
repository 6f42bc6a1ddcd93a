"""Control characters in a page's text filter (a hand-edited link such as `?q=%00`, or a pasted id) show
a message, never a database error or a traceback (issue 13, point 4). Postgres refused NUL in text with
an unhandled DataError; the pages run on SQLite here, the services' refusal is tested on both databases
in tests/services/feedback/test_search_same_everywhere.py."""

from __future__ import annotations

import pytest

from pages.audit import keys as audit_keys
from tests.services import factories


def texts(elements) -> list[str]:
    return [e.value for e in elements]


@pytest.fixture
def items(page_db):
    factories.feedback(page_db, 3, text="the app crashes")
    factories.feedback(page_db, 2, text="slow checkout", source="email")


@pytest.mark.parametrize(
    ("q", "cleaned", "rows"),
    [("\x00", "", 5), ("crash\x00es", "crashes", 3), ("cr\tash", "crash", 3), ("\x1bslow", "slow", 2)],
)
def test_a_search_with_control_characters_in_the_link_shows_a_message(signed_in, items, q, cleaned, rows):
    at = signed_in("analyst", "pages/feedback/page.py", q=q)
    assert not at.exception, at.exception
    assert any("control characters" in w for w in texts(at.warning)), texts(at.warning)
    assert at.text_input(key="fb_q").value == cleaned
    assert at.query_params.get("q", "") == cleaned  # the link is tidied too
    assert len(at.data_editor[0].value) == rows


def test_a_plain_search_shows_no_warning(signed_in, items):
    at = signed_in("analyst", "pages/feedback/page.py", q="CRASH")
    assert not at.exception and not at.warning
    assert len(at.data_editor[0].value) == 3


def test_an_object_id_with_a_control_character_on_the_audit_page_shows_a_message(signed_in):
    at = signed_in("admin", "pages/audit/page.py")
    at.text_input(key=audit_keys.SUBJECT_ID).set_value("4\x002").run()
    assert not at.exception, at.exception
    assert any("control characters" in w for w in texts(at.warning)), texts(at.warning)
