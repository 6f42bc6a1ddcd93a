"""The Data page through AppTest: schema and template, an accepted file, a rejected one, history."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core import audit
from services.core.audit import AuditFilter
from services.core.db import write_session
from services.core.schema_models import ModelVersion
from tests.pages.helpers import run_worker_once

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
pytest.importorskip("services.ingest")


@pytest.fixture
def demo_model(page_db) -> None:
    """The model version the sample predictions refer to (registration has its own service tests)."""
    with write_session(page_db) as session:
        session.add(ModelVersion(model_name="demo-churn", version=1, created_by="test"))


def _table(at, column: str):
    """The displayed table that has this column (st.dataframe keys are not exposed without selection)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _open_data(signed_in, role="analyst"):
    return signed_in(role, "pages/data/page.py")


def _import(at, in_process: bool = False):
    """Click Import: the page queues the import for the worker and shows its progress; the worker runs it
    (here one `worker --once` pass); the next run shows the outcome (AppTest does not poll fragments)."""
    from app import jobs, state

    at.button(key="data_import").click().run()
    assert not at.exception
    job_id = at.session_state["data_job"]
    assert [p.value for p in at.get("progress")]  # queued: the progress panel shows
    if in_process:
        from worker.main import Worker

        Worker(state.engine(), None, 30.0, 1.0).run_once()
    else:
        run_worker_once(state.engine())
    job = jobs.job_board().wait(job_id, timeout=120)
    assert job is not None and job.done
    return at.run()


def test_viewer_has_no_data_page(signed_in):
    at = signed_in("viewer")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/data/page.py")


def test_schema_and_template_follow_the_kind(signed_in):
    at = _open_data(signed_in)
    assert not at.exception
    assert [t.value for t in at.title] == ["Data"]
    columns = at.dataframe[0].value
    assert list(columns["column"])[:3] == ["request_id", "model_name", "model_version"]
    assert [b.label for b in at.download_button] == ["Download a template"]
    at.segmented_control(key="data_kind").set_value("outcomes").run()
    assert list(at.dataframe[0].value["column"]) == ["request_id", "ts", "actual_label", "actual_value"]
    assert at.button(key="data_import").disabled  # nothing uploaded yet
    assert "No imports yet." in [c.value for c in at.caption]


def test_import_a_sample_then_a_broken_file(signed_in, demo_model, page_db):
    at = _open_data(signed_in)
    data = (SAMPLES / "predictions.csv").read_bytes()
    at.file_uploader(key="data_upload_predictions").set_value(("predictions.csv", data, "text/csv"))
    at.run()
    _import(at)
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success][0].startswith(
        "Imported predictions: 10 rows: 10 new, 0 already known, 0 redactions, "
    )
    history = _table(at, "import_id")
    assert list(history["file_name"]) == ["predictions.csv"]
    assert list(history["new"]) == [10]
    assert audit.count_events(page_db, AuditFilter(action="data.import", actor="analyst@loopdeck.test")) == 1

    broken = data.replace(b",0.91,", b",not-a-score,").replace(b"req-0002,demo-churn,1,", b"req-0002,nope,1,")
    at.file_uploader(key="data_upload_predictions").set_value(("broken.csv", broken, "text/csv"))
    at.run()
    _import(at)
    assert not at.exception
    assert at.error[0].value.startswith("The file was not imported: 2 problems")
    problems = _table(at, "message")
    assert list(problems.columns) == ["file", "row", "column", "message"]
    assert list(problems["file"]) == ["broken.csv", "broken.csv"]
    assert list(problems["row"]) == ["2", "3"]
    assert audit.count_events(page_db, AuditFilter(action="data.import")) == 1  # nothing written


def test_an_import_that_breaches_an_alert_rule_says_so(signed_in, demo_model, page_db, monkeypatch):
    from services.core.roles import Actor, Role
    from services.core.schema_monitoring import Alert
    from services.monitoring import alerts

    alerts.create_rule(page_db, Actor("analyst@loopdeck.test", Role.analyst), name="drift share",
                       model_name="demo-churn", metric="drift_share", threshold=0.5)  # fmt: skip
    seen = []

    def evaluated(engine, actor, import_id, progress=None):
        seen.append(import_id)
        return [Alert(id=7, rule_id=1)]

    monkeypatch.setattr(alerts, "evaluate_after_import", evaluated)
    at = _open_data(signed_in)
    at.file_uploader(key="data_upload_predictions").set_value(
        ("predictions.csv", (SAMPLES / "predictions.csv").read_bytes(), "text/csv")
    )
    at.run()
    _import(at, in_process=True)  # the worker in this process, so it sees the patched evaluation
    assert not at.exception
    assert [s.value for s in at.success][0].endswith("; 1 new alert.") and len(seen) == 1
    assert "found 1 new breach: see Monitoring, Alerts" in at.warning[0].value


def test_the_import_runs_in_the_worker_and_a_click_meanwhile_does_not_stop_it(signed_in, demo_model, page_db):
    """While the import waits for the worker the Import button is disabled and the page answers other
    clicks; the worker then commits it (a script-run import would have been stopped with its transaction)."""
    from app import jobs

    at = _open_data(signed_in)
    at.file_uploader(key="data_upload_predictions").set_value(
        ("predictions.csv", (SAMPLES / "predictions.csv").read_bytes(), "text/csv")
    )
    at.run()
    at.button(key="data_import").click().run()
    assert at.button(key="data_import").disabled
    at.segmented_control(key="data_kind").set_value("outcomes").run()  # another click while it waits
    assert not at.exception
    run_worker_once(page_db)
    assert jobs.job_board().wait(at.session_state["data_job"], timeout=60).done
    at.run()
    assert [s.value for s in at.success][0].startswith("Imported predictions: 10 rows: 10 new")
    assert audit.count_events(page_db, AuditFilter(action="data.import")) == 1
