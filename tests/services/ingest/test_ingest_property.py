"""Malformed files never half-import: either the whole file goes in, or the database is unchanged.
Property-based (hypothesis) and fixed awkward cases, on both databases."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from services import ingest
from services.core import audit
from services.core.db import read_session
from services.core.schema_feedback import Feedback
from services.ingest import ImportRejected
from tests.services.ingest.test_ingest import ANALYST, counts, csv_bytes, prediction_rows, seed

_batch = itertools.count()

PREDICTION_COLUMNS = list(prediction_rows(1)[0])
FEEDBACK_COLUMNS = ["feedback_id", "ts", "source", "rating", "text", "category"]

cell_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
odd_cell = st.one_of(
    cell_text,
    st.sampled_from(
        [
            "",
            "nan",
            "NULL",
            "1e400",
            "-1",
            "2",
            "0.5",
            "2024-02-30",
            "2024-05-01T25:00:00",
            "2024-05-01",
            "1.0",
            "abc",
            '"',
            "\\",
            "\t",
            "\x00",
            "+44 20 7946 0958",
            "9" * 30,
        ]
    ),
)


PLACEHOLDER = "@batch@"  # replaced per example, so that generation stays deterministic


def _prediction_frame(n: int, batch: str = PLACEHOLDER) -> pd.DataFrame:
    frame = pd.DataFrame(prediction_rows(n))
    frame["request_id"] = [f"b{batch}-{i}" for i in range(n)]
    return frame.astype(str)


def _feedback_frame(n: int, texts: list[str], batch: str = PLACEHOLDER) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feedback_id": [f"fb{batch}-{i}" for i in range(n)],
            "ts": "2024-05-01T00:00:00Z",
            "source": "app",
            "rating": "3",
            "text": texts[:n] + [""] * (n - len(texts[:n])),
            "category": "",
        }
    )


@st.composite
def malformed(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["predictions", "predictions", "feedback"]))
    n = draw(st.integers(1, 6))
    if kind == "predictions":
        frame = _prediction_frame(n)
    else:
        frame = _feedback_frame(n, draw(st.lists(cell_text, max_size=n)))
    how = draw(st.sampled_from(["bytes", "truncate", "cells", "drop", "duplicate", "timestamps", "valid"]))
    if how == "bytes":
        return kind, draw(st.binary(max_size=300))
    if how == "cells":
        for _ in range(draw(st.integers(1, 4))):
            frame.iat[draw(st.integers(0, n - 1)), draw(st.integers(0, frame.shape[1] - 1))] = draw(odd_cell)
    elif how == "drop":
        cols = draw(st.lists(st.sampled_from(list(frame.columns)), min_size=1, max_size=3, unique=True))
        frame = frame.drop(columns=cols)
    elif how == "duplicate" and n > 1:
        frame.iat[n - 1, 0] = frame.iat[0, 0]
    elif how == "timestamps":
        frame.iat[draw(st.integers(0, n - 1)), list(frame.columns).index("ts")] = draw(odd_cell)
    data = csv_bytes(frame)
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    return kind, data


@pytest.fixture
def seeded(engine):
    """SQLite, and Postgres (COPY path) when LOOPDECK_TEST_POSTGRES_URL is set."""
    seed(engine)
    return engine


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(case=malformed())
def test_all_or_nothing(seeded, case):
    kind, data = case
    data = data.replace(PLACEHOLDER.encode(), f"{next(_batch):06d}".encode())
    engine = seeded
    before = counts(engine)
    try:
        result = ingest.import_file(engine, ANALYST, kind, data, file_name="fuzz.csv")
    except ImportRejected as exc:
        event("rejected")
        assert counts(engine) == before
        assert exc.total >= len(exc.problems) >= 1
        assert all(p.file == "fuzz.csv" for p in exc.problems)
        return
    event("imported")
    after = counts(engine)
    table = "prediction" if kind == "predictions" else "feedback"
    assert result.new + result.known == result.rows
    assert after[table] == before[table] + result.new
    assert after["audit_event"] == before["audit_event"] + 1
    assert {k: v for k, v in after.items() if k not in (table, "audit_event")} == {
        k: v for k, v in before.items() if k not in (table, "audit_event")
    }


# --- fixed cases, both databases ---------------------------------------------------------------

FIXED_BAD = [
    bytes(range(256)),
    b"\xff\xfe\x00r\x00e\x00q",  # UTF-16
    b"PAR1" + bytes(100),
    csv_bytes(prediction_rows(3))[:-25],
    csv_bytes(prediction_rows(3)).replace(b"r-00001", b"r-00000"),
    csv_bytes(prediction_rows(3)).replace(b"2024-05-01T01:01:00Z", b"yesterday"),
    csv_bytes(prediction_rows(3)).replace(b"basic", b"ba\x00sic"),
    csv_bytes(pd.DataFrame(prediction_rows(3)).drop(columns=["ts"])),
    b'request_id,model_name\n"unterminated,demo-churn\n',
]


@pytest.mark.parametrize("data", FIXED_BAD, ids=range(len(FIXED_BAD)))
def test_fixed_bad_files_change_nothing(engine, data):
    seed(engine)
    ingest.import_file(engine, ANALYST, "predictions", csv_bytes(prediction_rows(2, start=100)))
    before = counts(engine)
    with pytest.raises(ImportRejected):
        ingest.import_file(engine, ANALYST, "predictions", data)
    assert counts(engine) == before
    assert audit.verify(engine).intact


AWKWARD_TEXTS = [
    "tab\there",
    "new\nline",
    "cr\rlf\r\n",
    "back\\slash \\N \\t",
    "quote \" and '",
    "ünïcødé ✓ 日本語 🚀",
    "\x01\x1f control",
    "  leading and trailing  ",
    "",
    "comma, separated; semi",
    "\\",
    "\u2028 sep",
]


def test_awkward_text_round_trips(engine):
    """Text goes through COPY (Postgres) and executemany (SQLite) unchanged."""
    frame = _feedback_frame(len(AWKWARD_TEXTS), AWKWARD_TEXTS, batch="x")
    result = ingest.import_frame(engine, ANALYST, "feedback", frame, "awkward")
    assert result.new == len(AWKWARD_TEXTS)
    with read_session(engine) as session:
        stored = {f.feedback_id: f.text for f in session.exec(select(Feedback)).all()}
    assert [stored[i] for i in frame["feedback_id"]] == AWKWARD_TEXTS


def test_awkward_feature_and_cohort_values_round_trip(engine):
    from services.core.schema_ingest import Prediction

    seed(engine)
    rows = prediction_rows(len(AWKWARD_TEXTS))
    for row, text in zip(rows, AWKWARD_TEXTS, strict=True):
        row["feature_note"] = text
        row["cohort_segment"] = text
    frame = pd.DataFrame(rows)
    ingest.import_frame(engine, ANALYST, "predictions", frame, "awkward")
    with read_session(engine) as session:
        stored = {p.request_id: p for p in session.exec(select(Prediction)).all()}
    for row, text in zip(rows, AWKWARD_TEXTS, strict=True):
        p = stored[row["request_id"]]
        expected = text.strip()  # cells are trimmed; empty ones are left out
        assert p.features.get("note") == (expected or None)
        assert p.cohorts.get("segment") == (expected or None)
