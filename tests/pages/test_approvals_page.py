"""AppTest of the Approvals page on the demo: the inbox and its badge, four-eyes in the UI, approve and
reject with a comment, executing after a confirmation that lists exactly what will happen, the
deployment history afterwards, an approved retrain run in the background, and the admin's rules."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from app.jobs import job_board
from pages.approvals import keys as approval_keys
from pages.models import keys as model_keys
from services.core import settings
from services.core.db import make_engine
from services.core.roles import Actor, Role
from services.governance import approvals
from services.models import registry, retraining
from tests.pages.helpers import button_keys, ok, opener_by_role, run_worker_once
from tests.pages.test_models_page import demo_template, engine_on_a_copy

ANALYST = Actor("analyst@loopdeck.demo", Role.analyst)
APPROVER = Actor("approver@loopdeck.demo", Role.approver)
ADMIN = Actor("admin@loopdeck.demo", Role.admin)


@pytest.fixture(scope="module")
def with_candidate(tmp_path_factory) -> tuple[Path, int]:
    """The demo with v3, retrained from the champion v2 on the default window, and v3's id: retraining
    costs ~1 CPU-s and three tests start from it, so it runs once for the module and each of those tests
    gets a copy of the result (v3's artifact file stays in this folder, which the copies only read)."""
    folder = tmp_path_factory.mktemp("approvals-candidate")
    path = folder / "loopdeck.db"
    shutil.copyfile(demo_template(tmp_path_factory), path)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(registry.ARTIFACT_DIR_ENV, str(folder / "artifacts"))
        engine = make_engine(f"sqlite:///{path}")
        result = retraining.retrain(
            engine, ANALYST, 2, datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC), seed=0
        )
        engine.dispose()
    return path, result.version.id


@pytest.fixture
def demo_db(request, tmp_path_factory, tmp_path, monkeypatch) -> Iterator[Engine]:
    """A private copy of the demo (test_models_page.demo_db); of the demo with v3 for a test that asks for
    `candidate`."""
    wants_candidate = "candidate" in request.fixturenames
    template = request.getfixturevalue("with_candidate")[0] if wants_candidate else demo_template(tmp_path_factory)
    yield from engine_on_a_copy(template, tmp_path, monkeypatch)


@pytest.fixture
def open_as(demo_db) -> Callable[..., AppTest]:
    return opener_by_role(demo_db, "pages/approvals/page.py", timeout=60)


@pytest.fixture
def candidate(demo_db, with_candidate) -> int:
    """v3, retrained from the champion v2 on the default window (in this test's copy, `demo_db`)."""
    return with_candidate[1]


def _texts(at: AppTest) -> list[str]:
    return [t.value for t in at.text]


def test_four_eyes_approve_execute_and_the_history(open_as, demo_db, candidate):
    settings.set_value(demo_db, ADMIN, "approvals.required", {"promote": 1})
    request = approvals.request_change(demo_db, ANALYST, "promote", candidate, "v3 fixes mobile", {"stage": "full"},
                                       {"kind": "judge_panel", "verdict": "pass", "headline": "v3 passes",
                                        "gates": [{"scope": "overall", "metric": "accuracy", "rule": "r",
                                                   "candidate": 0.83, "champion": 0.8, "result": "pass",
                                                   "note": ""}], "metrics": []})  # fmt: skip
    # The requester: no approve button, the four-eyes note instead.
    at = ok(open_as("analyst"))
    assert any("needs the approver role" in i.value for i in at.info)
    at = ok(at.segmented_control(key=approval_keys.VIEW).set_value("All requests").run())
    assert any("someone else must approve it" in i.value for i in at.info)
    assert f"apr_approve_{request.id}" not in button_keys(at)
    assert f"apr_cancel_{request.id}" in button_keys(at)
    # The approver: the inbox with its badge, the evidence, the plan.
    at = ok(open_as("approver"))
    assert any("1 awaiting you" in m.value and "orange-badge" in m.value for m in at.markdown)  # st.badge
    assert "v3 fixes mobile" in _texts(at) and "v3 passes" in _texts(at)
    assert any("churn v3 starts serving full traffic (90%) as the champion." in t for t in _texts(at))
    at.text_input(key=f"apr_comment_{request.id}").input("mobile fixed, web flat")
    at = ok(at.button(key=f"apr_approve_{request.id}").click().run())
    assert any("now approved" in s.value for s in at.success)
    at = ok(at.segmented_control(key=approval_keys.VIEW).set_value("All requests").run())
    at = ok(at.button(key=f"apr_execute_{request.id}").click().run())
    steps = [t for t in _texts(at) if t[:2] in ("1.", "2.", "3.", "4.")]
    assert steps[0] == "1. churn v3 starts serving full traffic (90%) as the champion."
    assert "churn v2 stops serving full traffic" in steps[1] and "keeps its canary" in steps[2]
    at = ok(at.button(key="apr_confirm_yes").click().run())
    assert any(f"Request #{request.id} executed" in s.value for s in at.success)
    assert approvals.get_request(demo_db, request.id).request.status == "executed"
    assert registry.aliases(demo_db, "churn").champion.id == candidate
    # The Models page's history shows it.
    at = ok(open_as("viewer", "pages/models/page.py"))
    at = ok(at.segmented_control(key=model_keys.VIEW).set_value("Deployments").run())
    history = next(d.value for d in at.dataframe if "share" in d.value.columns)
    assert list(history.iloc[0][["version", "stage", "share", "to", "request"]]) == [
        "v3", "full", "90%", "serving", f"#{request.id}"
    ]  # fmt: skip


def test_reject_needs_a_comment_and_the_dialog_can_be_cancelled(open_as, demo_db, candidate):
    canary = approvals.request_change(demo_db, ANALYST, "canary", candidate, "try 10%",
                                      {"stage": "canary", "traffic_share": 0.1})  # fmt: skip
    at = ok(open_as("approver"))
    at = at.button(key=f"apr_reject_{canary.id}").click().run()
    assert [e.value for e in at.error] and "comment" in at.error[0].value
    at.text_input(key=f"apr_comment_{canary.id}").input("wait for the holdout")
    at = ok(at.button(key=f"apr_reject_{canary.id}").click().run())
    assert approvals.get_request(demo_db, canary.id).request.status == "rejected"
    again = approvals.request_change(demo_db, ANALYST, "canary", candidate, "try 5%",
                                     {"stage": "canary", "traffic_share": 0.05})  # fmt: skip
    approvals.decide(demo_db, APPROVER, again.id, "approve")
    at = ok(at.segmented_control(key=approval_keys.VIEW).set_value("All requests").run())
    at.selectbox(key=approval_keys.SELECTED).set_value(again.id)
    at = ok(at.button(key=f"apr_execute_{again.id}").click().run())
    assert "apr_confirm_no" in button_keys(at)
    at = ok(at.button(key="apr_confirm_no").click().run())
    assert "apr_confirm_yes" not in button_keys(at)
    assert approvals.get_request(demo_db, again.id).request.status == "approved"


def test_an_approved_retrain_request_runs_in_the_background(open_as, demo_db):
    payload = {"base_version_id": 2, "train_from": "2026-08-01T00:00:00+00:00",
               "train_to": "2026-10-08T00:00:00+00:00", "seed": 0, "trigger": "schedule"}  # fmt: skip
    request = approvals.request_change(demo_db, ANALYST, "retrain", "churn", "weekly retrain", payload)
    approvals.decide(demo_db, APPROVER, request.id, "approve")
    at = ok(open_as("analyst"))
    at = ok(at.segmented_control(key=approval_keys.VIEW).set_value("All requests").run())
    at = ok(at.button(key=f"apr_retrain_{request.id}").click().run())
    steps = _texts(at)  # the confirmation dialog says what will run before anything does
    assert any("starts in the background from v2" in t and "2026-08-01 to 2026-10-08" in t for t in steps)
    assert approvals.get_request(demo_db, request.id).request.status == "approved"
    at = ok(at.button(key="apr_confirm_yes").click().run())
    run_worker_once(demo_db)
    job = job_board().wait(at.session_state[approval_keys.JOB], timeout=120)
    assert job.error is None and job.crash is None and "Registered churn v3" in job.value.summary()
    done = approvals.get_request(demo_db, request.id).request
    assert done.status == "executed" and done.result["version"] == 3
    assert registry.find_version(demo_db, "churn", 3).trigger == "schedule"


def test_the_rules_view_shows_the_approvals_each_kind_needs_and_points_admins_to_settings(open_as, demo_db):
    """The rules are read here; admins change them on the Settings screen (tests/pages/test_settings_page.py)."""
    settings.set_value(demo_db, Actor("root@loopdeck.demo", Role.admin), "approvals.required", {"promote": 1})
    for role in ("approver", "admin"):
        at = ok(open_as(role))
        at = ok(at.segmented_control(key=approval_keys.VIEW).set_value("Rules").run())
        assert not at.data_editor
        rules = next(d.value for d in at.dataframe if "approvals" in d.value.columns)
        assert dict(zip(rules["kind"], rules["approvals"], strict=True))["promote"] == 1
        pointers = [el.proto.label for el in at.get("page_link")]
        moved = "Settings moved to Settings (approvals per kind, request expiry)"
        assert (moved in pointers) == (role == "admin")
        assert any("An admin sets these." in c.value for c in at.caption) == (role != "admin")


def test_the_navigation_shows_how_many_requests_await_the_user(demo_db, candidate):
    from app import nav

    assert nav.title_with_badge("Approvals", 0) == "Approvals"
    assert nav.title_with_badge("Approvals", 3) == "Approvals (3)"
    approvals.request_change(demo_db, ANALYST, "promote", candidate, "fixes mobile", {"stage": "full"})
    approvals.request_change(demo_db, ANALYST, "canary", candidate, "try 5%",
                             {"stage": "canary", "traffic_share": 0.05})  # fmt: skip
    assert nav.badges(APPROVER, demo_db) == {"pages/approvals/page.py": 2}
    assert nav.badges(ANALYST, demo_db) == {"pages/approvals/page.py": 0}  # analysts do not approve
    assert nav.badges(Actor("other@loopdeck.demo", Role.admin), demo_db) == {"pages/approvals/page.py": 2}
