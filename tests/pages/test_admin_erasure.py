"""The Admin page's retention and erasure section through AppTest: set a model's retention, purge now,
and erase a request id only after the confirm step (Cancel erases nothing); every action audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import sqlalchemy as sa

from services.core import audit
from services.core.audit import AuditFilter
from services.core.schema_ingest import Prediction
from tests.services import factories

START = datetime(2026, 11, 1, tzinfo=UTC)


def texts(elements) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def _predictions(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(Prediction.request_id)).scalars())


def _open(signed_in):
    return signed_in("admin", "pages/admin/page.py")


def test_admin_sets_retention_and_purges(signed_in, page_db):
    mv = factories.model_version(page_db, "churn")
    factories.predictions(page_db, mv, 24 * 4, start=START)
    at = _open(signed_in)
    assert not at.exception
    at.selectbox(key="admin_retention_0_model").select("churn")
    at.number_input(key="admin_retention_0_days").set_value(2)
    next(b for b in at.button if b.label == "Set retention").click()
    at.run()
    assert texts(at.success) == ["churn: raw rows are kept 2 days."]
    table = next(d.value for d in at.dataframe if "keep days" in d.value.columns)
    assert list(table["keep days"]) == [2]
    at.button(key="admin_retention_run").click().run()
    assert not at.error
    assert texts(at.success)[0].startswith("churn: kept 2 days (from 2026-11-02); purged 24 prediction(s)")
    assert len(_predictions(page_db)) == 24 * 3
    assert list(audit.list_events(page_db, AuditFilter(action="retention.purge"))["actor"]) == ["admin@loopdeck.test"]


def test_admin_erases_a_request_after_confirming(signed_in, page_db):
    mv = factories.model_version(page_db, "churn")
    ids = factories.predictions(page_db, mv, 10, start=START)
    factories.feedback(page_db, 1, request_ids=[ids[3]])
    at = _open(signed_in)
    assert at.button(key="admin_erase").disabled  # no id and reason yet
    at.text_input(key="admin_erase_id").input(ids[3])
    at.text_input(key="admin_erase_reason").input("DSR-12")
    at.run()
    at.button(key="admin_erase").click().run()
    assert ids[3] in _predictions(page_db)  # nothing happens before confirming
    at.button(key="admin_erase_cancel").click().run()
    assert "admin_erase_confirm" not in {b.key for b in at.button}
    assert ids[3] in _predictions(page_db)
    at.button(key="admin_erase").click().run()
    at.button(key="admin_erase_confirm").click().run()
    assert not at.exception and not at.error
    assert texts(at.success)[0].startswith("Erased: 1 prediction(s), 0 outcome(s), 1 feedback item(s) deleted")
    assert ids[3] not in _predictions(page_db) and len(_predictions(page_db)) == 9
    events = audit.list_events(page_db, AuditFilter(action="request.erase"))
    assert list(events["actor"]) == ["admin@loopdeck.test"] and '"reason":"DSR-12"' in events["payload"].iloc[0]
