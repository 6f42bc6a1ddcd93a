"""Data in: import files of every kind, validation (file/row/column), all or nothing, idempotency,
redaction, audit, exact round-trip of what was imported. Each test runs on SQLite and Postgres."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import select

from services import ingest
from services.core import audit
from services.core.db import read_session, write_session
from services.core.errors import InvalidInput, PermissionDenied
from services.core.roles import Actor, Role
from services.core.schema_accounts import AuditEvent
from services.core.schema_experiments import Experiment, Exposure, MetricObservation
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.ingest import ImportRejected, Problem

SAMPLES = Path(__file__).resolve().parents[3] / "data" / "samples"
ANALYST = Actor("ana@test.io", Role.analyst)
MODEL = ("demo-churn", 1)
EXPERIMENT = "exp-demo-offer"
TABLES = (Prediction, Outcome, Feedback, Exposure, MetricObservation, AuditEvent)


# --- helpers (also used by the other test_ingest_* modules) -------------------------------------


def seed(engine) -> None:
    """What the sample files reference: model demo-churn v1 and experiment exp-demo-offer."""
    with write_session(engine) as session:
        session.add(
            ModelVersion(
                model_name=MODEL[0],
                version=MODEL[1],
                feature_schema={"tenure_months": "numeric", "monthly_spend": "numeric", "plan": "categorical"},
            )
        )
        session.add(ModelVersion(model_name=MODEL[0], version=2))
        session.add(
            Experiment(
                key=EXPERIMENT,
                name="Retention offer",
                variants=[
                    {"key": "control", "allocation": 0.5},
                    {"key": "treatment", "allocation": 0.5},
                ],
            )
        )


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.__tablename__: conn.execute(sa.select(sa.func.count()).select_from(t.__table__)).scalar_one()
            for t in TABLES
        }


def csv_bytes(rows: list[dict] | pd.DataFrame) -> bytes:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    return frame.to_csv(index=False).encode("utf-8")


def prediction_rows(n: int, start: int = 0, **overrides) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        row = {
            "request_id": f"r-{i:05d}",
            "model_name": MODEL[0],
            "model_version": MODEL[1],
            "ts": f"2024-05-01T{i % 24:02d}:{i % 60:02d}:00Z",
            "score": round((i % 100) / 100, 2),
            "predicted_label": i % 2,
            "feature_tenure_months": i % 50,
            "feature_plan": ["basic", "pro"][i % 2],
            "cohort_region": ["EU", "US"][i % 2],
        }
        row.update(overrides)
        rows.append(row)
    return rows


def rejected(engine, kind, data, file_name="bad.csv") -> ImportRejected:
    before = counts(engine)
    with pytest.raises(ImportRejected) as info:
        ingest.import_file(engine, ANALYST, kind, data, file_name=file_name)
    assert counts(engine) == before, "a rejected file must leave the database unchanged"
    return info.value


def only_problem(exc: ImportRejected) -> Problem:
    assert exc.total == 1, exc.problems
    return exc.problems[0]


# --- the sample files ---------------------------------------------------------------------------


def test_sample_files_import(engine):
    seed(engine)
    results = {}
    for kind, name in [
        ("predictions", "predictions.csv"),
        ("predictions", "predictions.parquet"),
        ("outcomes", "outcomes.csv"),
        ("feedback", "feedback.csv"),
        ("exposures", "exposures.csv"),
        ("metrics", "metrics.csv"),
    ]:
        results[name] = ingest.import_file(engine, ANALYST, kind, SAMPLES / name)
    assert results["predictions.csv"].new == 10
    assert results["predictions.parquet"].new == 20
    assert results["outcomes.csv"].new == 6
    assert results["feedback.csv"].new == 5 and results["feedback.csv"].redactions == 4
    assert results["exposures.csv"].new == 6
    assert results["metrics.csv"].new == 6
    c = counts(engine)
    assert c["prediction"] == 30 and c["outcome"] == 6 and c["feedback"] == 5
    assert c["exposure"] == 6 and c["metric_observation"] == 6 and c["audit_event"] == 6
    assert audit.verify(engine).intact


def test_templates_are_valid_headers():
    for kind, spec in ingest.KINDS.items():
        frame = pd.read_csv(io.BytesIO(ingest.template_csv(kind)), dtype=str)
        assert len(frame) == 1
        for col in spec.required_columns:
            assert col in frame.columns, (kind, col)
    with pytest.raises(InvalidInput):
        ingest.template_csv("nope")


# --- permissions --------------------------------------------------------------------------------


def test_viewer_may_not_import(engine):
    seed(engine)
    with pytest.raises(PermissionDenied):
        ingest.import_file(engine, Actor("v@test.io", Role.viewer), "predictions", SAMPLES / "predictions.csv")
    with pytest.raises(PermissionDenied):
        ingest.import_frame(
            engine, Actor("v@test.io", Role.viewer), "predictions", pd.DataFrame(prediction_rows(1)), "frame"
        )
    assert counts(engine)["prediction"] == 0
    for role in (Role.analyst, Role.approver, Role.admin):
        ingest.import_file(engine, Actor(f"{role.name}@test.io", role), "predictions", SAMPLES / "predictions.csv")


def test_unknown_kind(engine):
    with pytest.raises(InvalidInput, match="Unknown import kind"):
        ingest.import_file(engine, ANALYST, "nope", b"a,b\n1,2\n")


# --- what is stored -----------------------------------------------------------------------------


def test_predictions_round_trip_exactly(engine):
    """Bulk-written rows read back through the ORM equal rows written through the ORM."""
    seed(engine)
    data = (
        b"request_id,model_name,model_version,ts,score,predicted_label,feature_tenure_months,"
        b"feature_monthly_spend,feature_plan,feature_note,cohort_region,cohort_tier\n"
        b'a,demo-churn,1,2024-05-01T10:00:00.123456+02:00,0.25,1,3,19.5,basic,"say ""hi""\\ ok",EU,1\n'
        b"b,demo-churn,1,2024-05-01 08:00:00,1,0,12,,pro,,US,2\n"
        b"c,demo-churn,2,2024-12-31T23:59:59.999999Z,0,1,7,29.0,,plain,EU,\n"
    )
    result = ingest.import_file(engine, ANALYST, "predictions", data, file_name="p.csv")
    assert (result.rows, result.new, result.known) == (3, 3, 0)
    with write_session(engine) as session:  # a reference row through the ORM
        v1 = session.exec(select(ModelVersion).where(ModelVersion.version == 1)).one()
        session.add(
            Prediction(
                request_id="orm",
                model_version_id=v1.id,
                ts=datetime(2024, 5, 1, 8, 0, 0, 123456, tzinfo=UTC),
                score=0.25,
                predicted_label=1,
                features={"tenure_months": 3},
                cohorts={"region": "EU"},
            )
        )
    with read_session(engine) as session:
        rows = {p.request_id: p for p in session.exec(select(Prediction)).all()}
        versions = {v.id: v.version for v in session.exec(select(ModelVersion)).all()}
    a, b, c, orm = rows["a"], rows["b"], rows["c"], rows["orm"]
    assert a.ts == datetime(2024, 5, 1, 8, 0, 0, 123456, tzinfo=UTC) == orm.ts
    assert a.ts.tzinfo is not None and a.ts.utcoffset() == timedelta(0)
    assert b.ts == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert c.ts == datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert a.features == {"tenure_months": 3, "monthly_spend": 19.5, "plan": "basic", "note": 'say "hi"\\ ok'}
    assert b.features == {"tenure_months": 12, "plan": "pro"}  # empty cells are left out
    assert c.features == {"tenure_months": 7, "monthly_spend": 29.0, "note": "plain"}
    assert isinstance(c.features["monthly_spend"], float) and isinstance(c.features["tenure_months"], int)
    assert a.cohorts == {"region": "EU", "tier": "1"} and c.cohorts == {"region": "EU"}
    assert (a.score, a.predicted_label, b.score, c.score) == (0.25, 1, 1.0, 0.0)
    assert versions[a.model_version_id] == 1 and versions[c.model_version_id] == 2
    # comparisons in SQL see imported and ORM rows alike (SQLite compares the stored text)
    with read_session(engine) as session:
        same = session.exec(select(Prediction.request_id).where(Prediction.ts == orm.ts)).all()
        later = session.exec(
            select(Prediction.request_id).where(Prediction.ts > datetime(2024, 5, 1, 8, 0, 0, 123455, tzinfo=UTC))
        ).all()
    assert sorted(same) == ["a", "orm"]
    assert sorted(later) == ["a", "c", "orm"]


def test_parquet_typed_columns_round_trip(engine, tmp_path):
    seed(engine)
    frame = pd.DataFrame(
        {
            "request_id": ["p1", "p2"],
            "model_name": [MODEL[0]] * 2,
            "model_version": [1, 1],
            "ts": pd.to_datetime(["2024-05-01T10:00:00.5+02:00", "2024-05-02T00:00:00Z"], utc=True, format="ISO8601"),
            "score": [0.1, 0.9],
            "predicted_label": [0, 1],
            "feature_tenure_months": [5, 6],
            "feature_monthly_spend": [1.25, None],
            "feature_plan": pd.Categorical(["basic", "pro"]),
            "cohort_region": ["EU", None],
        }
    )
    path = tmp_path / "p.parquet"
    frame.to_parquet(path, index=False)
    result = ingest.import_file(engine, ANALYST, "predictions", path)
    assert result.new == 2 and result.file_name == "p.parquet"
    with read_session(engine) as session:
        rows = {p.request_id: p for p in session.exec(select(Prediction)).all()}
    assert rows["p1"].ts == datetime(2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC)
    assert rows["p1"].features == {"tenure_months": 5, "monthly_spend": 1.25, "plan": "basic"}
    assert rows["p2"].features == {"tenure_months": 6, "plan": "pro"}
    assert rows["p2"].cohorts == {}


def test_naive_and_offset_timestamps_in_a_frame(engine):
    seed(engine)
    frame = pd.DataFrame(prediction_rows(3))
    frame["ts"] = [
        datetime(2024, 5, 1, 12, 0),
        datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
        "2024-05-01T12:00:00+01:00",
    ]
    ingest.import_frame(engine, ANALYST, "predictions", frame, "frame")
    with read_session(engine) as session:
        ts = {p.request_id: p.ts for p in session.exec(select(Prediction)).all()}
    assert ts["r-00000"] == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert ts["r-00001"] == datetime(2024, 5, 1, 17, 0, tzinfo=UTC)
    assert ts["r-00002"] == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)


def test_outcomes_feedback_exposures_metrics_stored(engine):
    seed(engine)
    ingest.import_file(engine, ANALYST, "predictions", SAMPLES / "predictions.csv")
    ingest.import_file(engine, ANALYST, "outcomes", SAMPLES / "outcomes.csv")
    ingest.import_file(engine, ANALYST, "feedback", SAMPLES / "feedback.csv")
    ingest.import_file(engine, ANALYST, "exposures", SAMPLES / "exposures.csv")
    ingest.import_file(engine, ANALYST, "metrics", SAMPLES / "metrics.csv")
    with read_session(engine) as session:
        outcomes = {o.request_id: o for o in session.exec(select(Outcome)).all()}
        feedback = {f.feedback_id: f for f in session.exec(select(Feedback)).all()}
        exposures = session.exec(select(Exposure)).all()
        metrics = {(m.unit_id, m.metric): m for m in session.exec(select(MetricObservation)).all()}
        exp = session.exec(select(Experiment)).one()
    assert outcomes["req-0002"].actual_value == 49.5 and outcomes["req-0005"].actual_value is None
    assert outcomes["req-0001"].ts == datetime(2024, 5, 8, 8, 0, tzinfo=UTC)
    fb1, fb3 = feedback["fb-0001"], feedback["fb-0003"]
    assert fb1.request_id == "req-0001" and fb1.rating == 2 and fb1.corrected_label == 0
    assert fb1.status == "new" and fb1.priority == "normal" and fb1.version == 1
    assert fb1.updated_by == ANALYST.label and fb1.updated_at.tzinfo is not None
    assert fb3.request_id is None and fb3.rating == 1 and feedback["fb-0004"].rating is None
    assert feedback["fb-0004"].category is None and fb3.category == "billing"
    assert {e.experiment_id for e in exposures} == {exp.id} and len(exposures) == 6
    assert metrics[("user-002", "revenue")].value == 29.0
    assert metrics[("user-002", "revenue")].pre_value == 10.0
    assert metrics[("user-001", "converted")].ts == datetime(2024, 5, 10, tzinfo=UTC)


def test_metrics_optional_columns_may_be_absent(engine):
    seed(engine)
    data = b"experiment_key,unit_id,metric,value\nexp-demo-offer,u1,converted,1\n"
    assert ingest.import_file(engine, ANALYST, "metrics", data).new == 1
    with read_session(engine) as session:
        m = session.exec(select(MetricObservation)).one()
    assert m.pre_value is None and m.ts is None


# --- redaction ----------------------------------------------------------------------------------


def test_feedback_text_is_redacted_before_storage(engine):
    seed(engine)
    ingest.import_file(engine, ANALYST, "predictions", SAMPLES / "predictions.csv")
    result = ingest.import_file(engine, ANALYST, "feedback", SAMPLES / "feedback.csv")
    assert result.redactions == 4
    with read_session(engine) as session:
        feedback = {f.feedback_id: f for f in session.exec(select(Feedback)).all()}
    assert feedback["fb-0001"].text == "Told me I'd cancel, I won't. Call me on [PHONE]"
    assert feedback["fb-0001"].redactions == 1
    assert feedback["fb-0003"].text == "Refund to [IBAN] please, mail [EMAIL]"
    assert feedback["fb-0003"].redactions == 2
    assert feedback["fb-0004"].text == "Paid $1,299.00 with card [CARD] - order #12345"
    assert feedback["fb-0002"].text == "Offer was fine, version 4.18.0 works on 2024-05-01"
    assert feedback["fb-0002"].redactions == 0
    # the raw values are nowhere in the database
    with engine.connect() as conn:
        dump = json.dumps(
            [
                list(map(str, r))
                for t in ("feedback", "audit_event")
                for r in conn.exec_driver_sql(f"SELECT * FROM {t}").all()
            ]
        )
    # each fragment holds a space or a letter past f, so it cannot occur by chance inside
    # the audit chain's hex digests (a bare "7946" did, once in CI)
    for raw in ("7946 0958", "jane.doe@example.com", "3704 0044", "4111 1111"):
        assert raw not in dump


def test_reimport_counts_no_new_redactions(engine):
    seed(engine)
    ingest.import_file(engine, ANALYST, "predictions", SAMPLES / "predictions.csv")
    ingest.import_file(engine, ANALYST, "feedback", SAMPLES / "feedback.csv")
    again = ingest.import_file(engine, ANALYST, "feedback", SAMPLES / "feedback.csv")
    assert (again.new, again.known, again.redactions) == (0, 5, 0)


# --- idempotency --------------------------------------------------------------------------------


def test_reimport_and_overlap_create_no_duplicates(engine):
    seed(engine)
    first = ingest.import_file(engine, ANALYST, "predictions", csv_bytes(prediction_rows(100)), file_name="a.csv")
    assert (first.rows, first.new, first.known) == (100, 100, 0)
    same = ingest.import_file(engine, ANALYST, "predictions", csv_bytes(prediction_rows(100)), file_name="a.csv")
    assert (same.rows, same.new, same.known) == (100, 0, 100)
    overlap = ingest.import_file(
        engine, ANALYST, "predictions", csv_bytes(prediction_rows(100, start=60)), file_name="b.csv"
    )
    assert (overlap.rows, overlap.new, overlap.known) == (100, 60, 40)
    assert counts(engine)["prediction"] == 160
    with engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT request_id FROM prediction ORDER BY request_id")]
    assert ids == [f"r-{i:05d}" for i in range(160)]


def test_known_rows_are_left_unchanged(engine):
    seed(engine)
    ingest.import_file(engine, ANALYST, "predictions", csv_bytes(prediction_rows(3, score=0.1)))
    result = ingest.import_file(engine, ANALYST, "predictions", csv_bytes(prediction_rows(4, score=0.9)))
    assert (result.new, result.known) == (1, 3)
    with read_session(engine) as session:
        scores = {p.request_id: p.score for p in session.exec(select(Prediction)).all()}
    assert scores == {"r-00000": 0.1, "r-00001": 0.1, "r-00002": 0.1, "r-00003": 0.9}


def test_experiment_natural_ids(engine):
    seed(engine)
    ingest.import_file(engine, ANALYST, "exposures", SAMPLES / "exposures.csv")
    data = (
        b"experiment_key,unit_id,variant,ts\n"
        b"exp-demo-offer,user-001,control,2024-06-01T00:00:00Z\n"  # known
        b"exp-demo-offer,user-001,treatment,2024-06-01T00:00:00Z\n"  # new: other variant
        b"exp-demo-offer,user-999,control,2024-06-01T00:00:00Z\n"
    )
    result = ingest.import_file(engine, ANALYST, "exposures", data)
    assert (result.new, result.known) == (2, 1)
    ingest.import_file(engine, ANALYST, "metrics", SAMPLES / "metrics.csv")
    again = ingest.import_file(engine, ANALYST, "metrics", SAMPLES / "metrics.csv")
    assert (again.new, again.known) == (0, 6)
    with read_session(engine) as session:
        cohorts = {(e.unit_id, e.variant): e.cohorts for e in session.exec(select(Exposure)).all()}
    assert cohorts[("user-001", "control")] == {"platform": "ios", "region": "EU", "tier": "free"}
    assert cohorts[("user-005", "control")] == {"region": "NA"} and cohorts[("user-999", "control")] == {}


def test_many_rows_in_chunks_with_known_rows_mixed_in(engine, monkeypatch):
    from services.ingest import write

    monkeypatch.setattr(write, "CHUNK_ROWS", 700)
    seed(engine)
    ingest.import_frame(engine, ANALYST, "predictions", pd.DataFrame(prediction_rows(1000, start=0)), "a")
    ingest.import_frame(engine, ANALYST, "predictions", pd.DataFrame(prediction_rows(500, start=3000)), "b")
    calls = []
    result = ingest.import_frame(
        engine,
        ANALYST,
        "predictions",
        pd.DataFrame(prediction_rows(5000)),
        "c",
        progress=lambda f, m: calls.append((f, m)),
    )
    assert (result.rows, result.new, result.known) == (5000, 3500, 1500)
    assert counts(engine)["prediction"] == 5000
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum(1 for _, m in calls if m.startswith("wrote")) == 5  # 3,500 new rows / 700 per chunk
    with read_session(engine) as session:
        p = session.exec(select(Prediction).where(Prediction.request_id == "r-04999")).one()
    assert p.features == {"tenure_months": 4999 % 50, "plan": "pro"} and p.cohorts == {"region": "US"}


# --- audit and history --------------------------------------------------------------------------


def test_one_audit_event_per_import(engine):
    seed(engine)
    data = (SAMPLES / "predictions.csv").read_bytes()
    result = ingest.import_file(engine, ANALYST, "predictions", io.BytesIO(data), file_name="preds.csv")
    events = audit.list_events(engine, audit.AuditFilter(action="data.import"))
    assert len(events) == 1
    event = events.iloc[0]
    assert event.actor == ANALYST.label and event.subject_type == "import"
    assert event.subject_id == result.import_id
    payload = json.loads(event.payload)
    assert payload == {
        "kind": "predictions",
        "file_name": "preds.csv",
        "format": "csv",
        "rows": 10,
        "new": 10,
        "known": 0,
        "redactions": 0,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert result.sha256 == payload["sha256"]
    ingest.import_file(engine, ANALYST, "predictions", data, file_name="preds.csv")
    history = ingest.import_history(engine)
    assert list(history["new"]) == [0, 10] and list(history["known"]) == [10, 0]
    assert list(history["who"]) == [ANALYST.label] * 2
    assert set(history.columns) >= {"when", "who", "kind", "rows", "new", "known", "file_name"}
    assert len(ingest.import_history(engine, limit=1)) == 1
    assert audit.verify(engine).intact


def test_history_empty(engine):
    assert ingest.import_history(engine).empty


# --- validation ---------------------------------------------------------------------------------


def test_missing_and_unknown_columns(engine):
    seed(engine)
    rows = prediction_rows(2)
    for r in rows:
        del r["score"]
        r["scor"] = 0.5
    exc = rejected(engine, "predictions", csv_bytes(rows))
    assert exc.total == 2
    by_column = {p.column: p for p in exc.problems}
    assert "missing column 'score'" in by_column["score"].message
    assert "unknown column 'scor'" in by_column["scor"].message
    assert all(p.row is None and p.file == "bad.csv" for p in exc.problems)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("score", "abc", "not a finite number: 'abc'"),
        ("score", "1.5", "score 1.5 is outside [0, 1]"),
        ("score", "-0.1", "score -0.1 is outside [0, 1]"),
        ("predicted_label", "1.5", "not an integer: '1.5'"),
        ("predicted_label", "yes", "not an integer: 'yes'"),
        ("model_version", "v1", "not an integer: 'v1'"),
        ("ts", "2024-13-01T00:00:00", "not an ISO 8601 timestamp: '2024-13-01T00:00:00'"),
        ("ts", "05/01/2024", "not an ISO 8601 timestamp: '05/01/2024'"),
        ("ts", "", "missing value"),
        ("request_id", "", "missing value"),
        ("request_id", "x" * 201, "longer than 200 characters"),
        ("model_version", "7", "unknown model version demo-churn v7"),
        ("model_name", "other", "unknown model version other v1"),
    ],
)
def test_bad_cell_is_named_by_row_and_column(engine, column, value, expected):
    seed(engine)
    rows = prediction_rows(5)
    rows[2][column] = value
    exc = rejected(engine, "predictions", csv_bytes(rows))
    problem = only_problem(exc)
    assert (problem.file, problem.row, problem.column) == ("bad.csv", 4, column)  # header = row 1
    assert expected in problem.message
    assert f"bad.csv:4:{column}: " in str(exc)


def test_duplicate_ids_inside_the_file(engine):
    seed(engine)
    rows = prediction_rows(5)
    rows[3]["request_id"] = rows[1]["request_id"]
    problem = only_problem(rejected(engine, "predictions", csv_bytes(rows)))
    assert (problem.row, problem.column) == (5, "request_id")
    assert "duplicate request_id 'r-00001' (first at row 3)" in problem.message


def test_duplicate_composite_ids(engine):
    seed(engine)
    data = (
        b"experiment_key,unit_id,metric,value\n"
        b"exp-demo-offer,u1,converted,1\nexp-demo-offer,u1,revenue,2\nexp-demo-offer,u1,converted,0\n"
    )
    problem = only_problem(rejected(engine, "metrics", data))
    assert problem.row == 4 and "duplicate experiment_key+unit_id+metric" in problem.message


def test_outcome_and_feedback_for_unknown_predictions(engine):
    seed(engine)
    ingest.import_file(engine, ANALYST, "predictions", SAMPLES / "predictions.csv")
    data = b"request_id,ts,actual_label\nreq-0001,2024-05-08T00:00:00Z,1\nreq-9999,2024-05-08T00:00:00Z,0\n"
    problem = only_problem(rejected(engine, "outcomes", data))
    assert (problem.row, problem.column) == (3, "request_id")
    assert "outcome for an unknown prediction 'req-9999'" in problem.message
    data = (
        b"feedback_id,ts,request_id,source,text\n"
        b"f1,2024-05-08T00:00:00Z,,app,fine\nf2,2024-05-08T00:00:00Z,nope,app,hm\n"
    )
    problem = only_problem(rejected(engine, "feedback", data))
    assert (problem.row, problem.column) == (3, "request_id")
    assert "feedback for an unknown prediction 'nope'" in problem.message


def test_unknown_experiment_and_variant(engine):
    seed(engine)
    data = (
        b"experiment_key,unit_id,variant,ts\n"
        b"exp-demo-offer,u1,control,2024-05-01T00:00:00Z\n"
        b"exp-nope,u2,control,2024-05-01T00:00:00Z\n"
        b"exp-demo-offer,u3,blue,2024-05-01T00:00:00Z\n"
    )
    exc = rejected(engine, "exposures", data)
    assert exc.total == 2
    first, second = exc.problems
    assert (first.row, first.column) == (3, "experiment_key") and "unknown experiment 'exp-nope'" in first.message
    assert (second.row, second.column) == (4, "variant") and "unknown variant 'blue'" in second.message
    assert "control, treatment" in second.message
    data = b"experiment_key,unit_id,metric,value\nexp-nope,u1,converted,1\n"
    assert "unknown experiment" in only_problem(rejected(engine, "metrics", data)).message


def test_rating_out_of_range(engine):
    seed(engine)
    data = b"feedback_id,ts,source,rating,text\nf1,2024-05-01T00:00:00Z,app,6,meh\nf2,2024-05-01T00:00:00Z,app,0,x\n"
    exc = rejected(engine, "feedback", data)
    assert [(p.row, p.column) for p in exc.problems] == [(2, "rating"), (3, "rating")]
    assert "rating 6 is outside [1, 5]" in exc.problems[0].message


def test_not_a_csv_or_parquet(engine):
    seed(engine)
    problem = only_problem(rejected(engine, "predictions", bytes(range(256)) * 4, file_name="x.bin"))
    assert "neither Parquet nor UTF-8" in problem.message
    problem = only_problem(rejected(engine, "predictions", b"PAR1 this is not really parquet", "x.parquet"))
    assert "not a readable Parquet file" in problem.message
    problem = only_problem(rejected(engine, "predictions", b"PK\x03\x04xlsx...", "x.xlsx"))
    assert "Excel" in problem.message


def test_non_utf8_text_names_the_line(engine):
    seed(engine)
    data = csv_bytes(prediction_rows(3)).replace(b"basic", "básic".encode("latin-1"), 1)
    problem = only_problem(rejected(engine, "predictions", data))
    assert problem.row == 2 and "UTF-8" in problem.message


def test_empty_files(engine):
    seed(engine)
    assert "empty" in only_problem(rejected(engine, "predictions", b"")).message
    assert "empty" in only_problem(rejected(engine, "predictions", b"\n\n")).message
    header = b"request_id,model_name,model_version,ts,score,predicted_label\n"
    assert "no rows" in only_problem(rejected(engine, "predictions", header)).message
    with pytest.raises(ImportRejected, match="no rows"):
        ingest.import_frame(engine, ANALYST, "predictions", pd.DataFrame(columns=["request_id"]), "empty")


def test_malformed_csv_names_the_row(engine):
    seed(engine)
    data = csv_bytes(prediction_rows(4)).decode().splitlines()
    data[3] += ",extra"
    problem = only_problem(rejected(engine, "predictions", "\n".join(data).encode()))
    assert problem.row == 4 and "Expected" in problem.message
    truncated = csv_bytes(prediction_rows(3))[:-30]  # the last row is cut short
    exc = rejected(engine, "predictions", truncated)
    assert {p.row for p in exc.problems} == {4}


def test_only_first_20_problems_are_listed(engine):
    seed(engine)
    rows = prediction_rows(60, score=2.0)
    exc = rejected(engine, "predictions", csv_bytes(rows))
    assert exc.total == 60 and len(exc.problems) == 20
    assert [p.row for p in exc.problems] == list(range(2, 22))
    assert "60 problems (first 20 listed)" in str(exc)


def test_one_bad_row_rejects_the_whole_file(engine):
    seed(engine)
    rows = prediction_rows(500)
    rows[-1]["score"] = "high"
    rejected(engine, "predictions", csv_bytes(rows))
    assert counts(engine)["audit_event"] == 0


def test_parquet_rows_are_numbered_from_one(engine, tmp_path):
    seed(engine)
    frame = pd.DataFrame(prediction_rows(3))
    frame.loc[1, "score"] = 7.0
    frame.to_parquet(tmp_path / "p.parquet", index=False)
    problem = only_problem(rejected(engine, "predictions", tmp_path / "p.parquet", file_name="p.parquet"))
    assert (problem.file, problem.row, problem.column) == ("p.parquet", 2, "score")
    with pytest.raises(ImportRejected) as info:
        ingest.import_frame(engine, ANALYST, "predictions", frame, "frame")
    assert info.value.problems[0].row == 2 and info.value.problems[0].file == "frame"


def test_feature_schema_decides_numeric_features(engine):
    seed(engine)  # v1 declares tenure_months numeric, plan categorical
    rows = prediction_rows(3)
    rows[1]["feature_tenure_months"] = "long"
    rows[2]["feature_plan"] = "123"
    problem = only_problem(rejected(engine, "predictions", csv_bytes(rows)))
    assert (problem.row, problem.column) == (3, "feature_tenure_months")
    rows[1]["feature_tenure_months"] = 4
    ingest.import_file(engine, ANALYST, "predictions", csv_bytes(rows))
    with read_session(engine) as session:
        p = session.exec(select(Prediction).where(Prediction.request_id == "r-00002")).one()
    assert p.features["plan"] == "123"  # categorical stays text


def test_semicolon_csv_with_bom(engine):
    seed(engine)
    text = "\ufeff" + pd.DataFrame(prediction_rows(2)).to_csv(index=False, sep=";")
    assert ingest.import_file(engine, ANALYST, "predictions", text.encode("utf-8")).new == 2


def test_header_names_are_case_insensitive_and_trimmed(engine):
    seed(engine)
    frame = pd.DataFrame(prediction_rows(2)).rename(columns={"score": " Score ", "ts": "TS"})
    assert ingest.import_file(engine, ANALYST, "predictions", csv_bytes(frame)).new == 2


def test_problem_and_result_text():
    p = Problem("f.csv", 3, "score", "bad")
    assert str(p) == "f.csv:3:score: bad"
    assert str(Problem("f.csv", None, None, "empty")) == "f.csv: empty"
    r = ingest.ImportResult("predictions", "f.csv", 1000, 990, 10, 3, 0.43)
    assert r.summary() == "1,000 rows: 990 new, 10 already known, 3 redactions, 0.4 s"


def test_timestamp_text_matches_what_sqlalchemy_stores():
    import pyarrow as pa
    import pyarrow.compute as pc

    from services.ingest.write import format_timestamps

    values = [
        0,
        1,
        -1,
        951_782_400_000_000,
        1_714_564_800_123_456,
        253_402_300_799_999_999,
        -30_610_224_000_000_000,
        None,
        4_102_444_800_000_000,
    ]
    arr = pa.array(values, pa.timestamp("us", tz="UTC"))
    expected = pc.strftime(arr, format="%Y-%m-%d %H:%M:%S")  # reference (slow) implementation
    assert format_timestamps(arr).to_pylist() == expected.to_pylist()
    assert format_timestamps(arr, "+00").to_pylist()[4] == "2024-05-01 12:00:00.123456+00"
    stamp = datetime(2024, 5, 1, 12, 0, 0, 123456)
    assert format_timestamps(arr).to_pylist()[4] == stamp.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_file_like_upload_keeps_its_name(engine):
    seed(engine)

    class Upload(io.BytesIO):  # like Streamlit's UploadedFile: bytes plus a name
        name = "upload.csv"

    result = ingest.import_file(engine, ANALYST, "predictions", Upload(csv_bytes(prediction_rows(2))))
    assert result.file_name == "upload.csv" and result.new == 2


def test_concurrent_overlapping_imports_do_not_duplicate(engine):
    from concurrent.futures import ThreadPoolExecutor

    seed(engine)
    files = [csv_bytes(prediction_rows(300, start=0)), csv_bytes(prediction_rows(300, start=200))]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda data: ingest.import_file(engine, ANALYST, "predictions", data), files))
    assert sum(r.new for r in results) == 500
    assert sum(r.known for r in results) == 100
    assert counts(engine)["prediction"] == 500
    assert audit.verify(engine).intact


def test_trailing_separators_and_repeated_columns(engine):
    seed(engine)
    text = csv_bytes(prediction_rows(2)).decode().replace("\n", ",\n")  # an empty unnamed last column
    assert ingest.import_file(engine, ANALYST, "predictions", text.encode()).new == 2
    frame = pd.DataFrame(prediction_rows(1))
    frame["Score"] = 0.5
    exc = rejected(engine, "predictions", csv_bytes(frame))
    assert "appears more than once" in only_problem(exc).message
    with pytest.raises(ImportRejected, match="appears more than once"):
        ingest.import_frame(engine, ANALYST, "predictions", frame, "frame")


def test_parquet_naive_timestamps_and_unsupported_types(engine, tmp_path):
    seed(engine)
    frame = pd.DataFrame(prediction_rows(2))
    frame["ts"] = pd.to_datetime(["2024-05-01 12:00:00.000001", "2024-05-01 13:00:00.000000"])  # naive: UTC
    frame.to_parquet(tmp_path / "naive.parquet", index=False)
    ingest.import_file(engine, ANALYST, "predictions", tmp_path / "naive.parquet")
    with read_session(engine) as session:
        ts = sorted(p.ts for p in session.exec(select(Prediction)).all())
    assert ts == [datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=UTC), datetime(2024, 5, 1, 13, tzinfo=UTC)]
    frame["feature_tags"] = [["a"], ["b", "c"]]
    frame.to_parquet(tmp_path / "nested.parquet", index=False)
    problem = only_problem(rejected(engine, "predictions", tmp_path / "nested.parquet", "nested.parquet"))
    assert problem.column == "feature_tags" and "unsupported Parquet type" in problem.message


def test_frame_hash_is_stable(engine):
    seed(engine)
    frame = pd.DataFrame(prediction_rows(5))
    first = ingest.import_frame(engine, ANALYST, "predictions", frame, "frame")
    again = ingest.import_frame(engine, ANALYST, "predictions", frame.copy(), "frame")
    other = ingest.import_frame(engine, ANALYST, "predictions", frame.assign(score=0.5), "frame")
    assert first.sha256 == again.sha256 != other.sha256
    assert len(first.sha256) == 64
