"""A link opened signed out (e.g. /feedback-queue?status=new) shows the sign-in form at that address, and
signing in opens that page with its query parameters: for every url_path in app/nav.py PAGES.

The browser sends the page of a deep link by its url_path; Streamlit resolves it to the page whose
script hash is calc_hash(url_path). AppTest has no public "open this URL", so the test sets the hash it
requests (AppTest._page_hash, what switch_page sets) the way a browser's rerun does. A url_path without a
signed-out twin resolves to the default page ("Page not found", then "/"): the first assertion fails.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from app import nav
from services.core.roles import Role
from tests.pages.conftest import APP, PASSWORD

# What each page is opened with: a parameter it reads where it has one, else one it must leave alone.
QUERIES = {
    "feedback-queue": {"status": "new"},
    "monitor": {"model": "churn", "version": "2", "tab": "drift"},
}
OTHER = {"from": "deep-link"}


def _open(url_path: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params = dict(query)
    at._page_hash = calc_hash(url_path)  # noqa: SLF001 - what a browser at /<url_path> requests
    return at.run()


@pytest.mark.parametrize("spec", nav.visible_pages(Role.admin), ids=lambda s: s.url_path)
def test_a_deep_link_signed_out_opens_its_page_with_its_query_after_signing_in(make_user, spec):
    make_user("admin")
    query = QUERIES.get(spec.url_path, OTHER)
    at = _open(spec.url_path, query)
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.subheader] == ["Sign in"]
    # The sign-in form is served at the link's own address (no fallback to the default page).
    assert at._finished_page_script_hash == calc_hash(spec.url_path)  # noqa: SLF001
    assert at.query_params == query

    at.text_input[0].input("admin@loopdeck.test")
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Sign in" not in [s.value for s in at.subheader]
    assert at._finished_page_script_hash == calc_hash(spec.url_path)  # noqa: SLF001
    assert {k: at.query_params[k] for k in query if k in at.query_params} == query


def test_every_signed_in_url_path_has_a_signed_out_twin():
    """Every url_path any role can reach signed in is also a signed-out page (else a deep link to it,
    opened signed out, is "Page not found"); and no url_path is listed twice."""
    url_paths = [s.url_path for s in nav.PAGES]
    assert len(url_paths) == len(set(url_paths))
    twins = nav.signed_out_url_paths()
    for role in Role:
        for spec in nav.visible_pages(role):
            assert spec.url_path in twins, spec


@pytest.mark.parametrize("role", [Role.viewer, Role.analyst])
def test_a_deep_link_to_a_page_the_role_cannot_open_says_so_on_the_overview(make_user, role):
    """Signed out at an admin page's address, then signed in with a lower role: the Overview opens with a
    message naming the page, the role it needs and the user's role (not a silent fallback)."""
    make_user(role.name)
    at = _open("user-admin", {"from": "deep-link"})
    at.text_input[0].input(f"{role.name}@loopdeck.test")
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    overview = nav.default_page()
    assert at._finished_page_script_hash == calc_hash(overview.url_path)  # noqa: SLF001
    assert [w.value for w in at.warning] == [
        f"That page (Admin) needs the admin role; you are signed in as {role.name}. Here is the Overview instead."
    ]
    assert "Admin" not in [s.title for section in nav.sections(role).values() for s in section]
    # The message is shown once: the next run of the Overview (the address the browser now shows) is quiet.
    at._page_hash = calc_hash(overview.url_path)  # noqa: SLF001
    at.run()
    assert not at.warning and at._finished_page_script_hash == calc_hash(overview.url_path)  # noqa: SLF001


def test_an_admin_opens_the_admin_page_itself(make_user):
    make_user("admin")
    at = _open("user-admin", {})
    at.text_input[0].input("admin@loopdeck.test")
    at.text_input[1].input(PASSWORD)
    at.button[0].click()
    at.run()
    assert at._finished_page_script_hash == calc_hash("user-admin") and not at.warning  # noqa: SLF001


def test_refused_pages_are_those_above_the_role():
    assert [s.url_path for s in nav.refused_pages(Role.viewer)] == [
        s.url_path for s in nav.PAGES if s.min_role > Role.viewer
    ]
    assert nav.refused_pages(Role.admin) == []
    assert {s.url_path for s in nav.refused_pages(Role.analyst)} == {"notifications", "settings", "user-admin"}
