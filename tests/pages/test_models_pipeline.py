"""The Models screen's external pipeline section (admins): set it, see it, train here again."""

from __future__ import annotations

from services.models import external_pipeline
from tests.pages.helpers import ok
from tests.services import factories


def _retrain_view(at):
    return ok(at.segmented_control(key="mdl_view").set_value("Retrain").run())


def test_an_admin_sets_and_removes_a_models_pipeline(signed_in, page_db):
    factories.model_version(page_db, "churn", 1)
    at = ok(signed_in("admin", "pages/models/page.py"))
    at = _retrain_view(at)
    url_key = next(t.key for t in at.text_input if t.key and t.key.endswith("_url"))
    at.text_input(key=url_key).input("http://127.0.0.1:9/retrain")
    at.checkbox(key=url_key.replace("_url", "_private")).check()
    at = ok(next(b for b in at.button if b.label == "Set the pipeline").click().run())
    assert external_pipeline.get_pipeline(page_db, "churn").url == "http://127.0.0.1:9/retrain"
    assert any("shown only this once" in s.value for s in at.success)
    at = ok(at.button(key="mdl_pipeline_remove").click().run())
    assert external_pipeline.get_pipeline(page_db, "churn") is None


def test_an_analyst_sees_no_pipeline_section(signed_in, page_db):
    factories.model_version(page_db, "churn", 1)
    at = ok(signed_in("analyst", "pages/models/page.py"))
    at = _retrain_view(at)
    assert not [e for e in at.expander if "External retraining pipeline" in e.label]
