"""Monitoring data at scale: day blocks built once and incrementally, read back exactly, cached; the JSON
parser's fallbacks; samples. On SQLite and Postgres (the `engine` fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from services import ingest
from services.core.db import write_session
from services.core.roles import Actor, Role
from services.core.schema_ingest import Prediction
from services.core.schema_models import ModelVersion
from services.monitoring import block_build, block_codec
from services.monitoring import blocks as md
from tests.services import factories

LOADER = Actor("loader@test.io", Role.analyst)
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday


@pytest.fixture(autouse=True)
def _fresh_caches():
    md.clear_caches()
    yield
    md.clear_caches()


def predictions_frame(n: int, days: int, start: datetime = START, prefix: str = "r", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offset = np.sort(rng.random(n) * days)
    platform = rng.choice(["web", "ios", "android"], n)
    score = rng.random(n).round(6)
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}-{i}" for i in range(n)],
            "model_name": "churn",
            "model_version": 1,
            "ts": [(start + timedelta(days=float(o))).isoformat() for o in offset],
            "score": score,
            "predicted_label": (score >= 0.5).astype(int),
            "feature_x": rng.normal(size=n).round(4),
            "feature_n": rng.integers(0, 10, n),
            "feature_plan": rng.choice(["trial", "monthly", "annual"], n),
            "cohort_platform": platform,
            "cohort_region": rng.choice(["EU", "NA"], n),
        }
    )


def import_predictions(engine, frame: pd.DataFrame) -> None:
    ingest.import_frame(engine, LOADER, "predictions", frame, "test-predictions")


def import_outcomes(engine, request_ids, labels, ts: datetime | None = None) -> None:
    ts = ts or START + timedelta(days=40)
    frame = pd.DataFrame({"request_id": list(request_ids), "ts": ts.isoformat(), "actual_label": list(labels)})
    ingest.import_frame(engine, LOADER, "outcomes", frame, "test-outcomes")


def model(engine, schema: dict | None = None) -> int:
    mv = factories.model_version(engine, "churn", 1)
    if schema is not None:
        with write_session(engine) as session:
            session.get(ModelVersion, mv).feature_schema = schema
    return mv


def test_first_build_makes_one_block_per_day_with_every_row(engine):
    mv = model(engine, {"x": "numeric", "n": "numeric", "plan": "categorical"})
    frame = predictions_frame(600, 5)
    import_predictions(engine, frame)
    import_outcomes(engine, frame["request_id"][:200], (frame["score"][:200] > 0.3).astype(int))
    assert block_build.needs_refresh(engine)
    seen = []
    result = block_build.refresh(engine, progress=lambda f, m: seen.append(f))
    assert result.blocks_built == 5 and result.rows == 600 and result.changed
    assert seen[-1] == 1.0 and "built" in result.summary()
    assert not block_build.sync_status(engine).blocks_behind  # the blocks; summaries fold in refresh_monitoring
    blocks = md.block_index(engine, mv)
    assert [b.day for b in blocks] == [date(2026, 3, 2) + timedelta(days=i) for i in range(5)]
    assert sum(b.n_rows for b in blocks) == 600 and sum(b.n_labelled for b in blocks) == 200
    data = md.version_data(engine)[mv]
    assert (data.first_day, data.last_day, data.n_rows, data.n_labelled) == (
        date(2026, 3, 2), date(2026, 3, 6), 600, 200)  # fmt: skip

    out = md.read_frame(engine, blocks).sort_values("id").reset_index(drop=True)
    assert len(out) == 600
    assert out["f:x"].dtype == np.float64 and out["f:n"].dtype == np.float64
    assert isinstance(out["f:plan"].dtype, pd.CategoricalDtype) and isinstance(
        out["c:platform"].dtype, pd.CategoricalDtype
    )
    expected = frame.assign(ts=pd.to_datetime(frame["ts"], utc=True))
    np.testing.assert_allclose(out["score"], expected["score"])
    np.testing.assert_allclose(out["f:x"], expected["feature_x"])
    assert out["f:plan"].astype(str).tolist() == expected["feature_plan"].tolist()
    assert out["c:platform"].astype(str).tolist() == expected["cohort_platform"].tolist()
    # Metrics and CBPE read only the base columns (and a filter's cohort field): the same rows, fewer columns.
    base = md.read_frame(engine, blocks, ("id", "score", "predicted_label", "label", "c:platform", "f:absent"))
    assert list(base.columns) == ["id", "score", "predicted_label", "label", "c:platform"]
    pd.testing.assert_frame_equal(base.sort_values("id").reset_index(drop=True), out[list(base.columns)])
    assert (out["ts"] == expected["ts"]).all()
    labels = out["label"].to_numpy()
    assert np.isnan(labels[200:]).all()
    np.testing.assert_array_equal(labels[:200], (frame["score"][:200] > 0.3).astype(float))


def test_only_the_days_touched_by_new_rows_are_rebuilt(engine):
    mv = model(engine)
    frame = predictions_frame(300, 3)
    import_predictions(engine, frame)
    block_build.refresh(engine)
    before = {b.day: b.generation for b in md.block_index(engine, mv)}

    # New outcomes for day 0 only, and predictions for a new day 5.
    day0 = frame[pd.to_datetime(frame["ts"]).dt.day == 2]["request_id"][:10]
    import_outcomes(engine, day0, [1] * len(day0))
    import_predictions(engine, predictions_frame(40, 1, START + timedelta(days=5), prefix="late", seed=1))
    result = block_build.refresh(engine)
    assert result.blocks_built == 2 and result.rows == len(frame[pd.to_datetime(frame["ts"]).dt.day == 2]) + 40
    after = {b.day: b for b in md.block_index(engine, mv)}
    assert after[date(2026, 3, 2)].generation == before[date(2026, 3, 2)] + 1
    assert after[date(2026, 3, 2)].n_labelled == 10
    assert after[date(2026, 3, 3)].generation == before[date(2026, 3, 3)]
    assert after[date(2026, 3, 7)].n_rows == 40
    assert block_build.refresh(engine).changed is False


def test_reads_come_from_the_cache_until_a_block_changes(engine, monkeypatch):
    mv = model(engine)
    import_predictions(engine, predictions_frame(200, 2))
    block_build.refresh(engine)
    decoded = []
    real = md._decode
    monkeypatch.setattr(md, "_decode", lambda blob: decoded.append(1) or real(blob))
    blocks = md.block_index(engine, mv)
    md.read_frame(engine, blocks)
    assert len(decoded) == 2
    md.read_frame(engine, blocks)
    assert len(decoded) == 2  # no I/O the second time
    import_predictions(engine, predictions_frame(5, 1, START, prefix="more", seed=3))
    block_build.refresh(engine)
    md.read_frame(engine, md.block_index(engine, mv))
    assert len(decoded) == 3  # only the rebuilt day is read again


def test_prefetch_decodes_a_versions_blocks_in_the_background(engine, monkeypatch):
    mv = model(engine)
    import_predictions(engine, predictions_frame(300, 6))
    block_build.refresh(engine)
    blocks = md.block_index(engine, mv)
    md.read_frame(engine, blocks[-1:])  # the page read the last day already
    decoded = []
    real = md._decode
    monkeypatch.setattr(md, "_decode", lambda blob: decoded.append(1) or real(blob))
    thread = md.prefetch(engine, mv)
    assert thread is not None
    thread.join(timeout=30)
    assert len(decoded) == len(blocks) - 1  # every other day, once
    md.read_frame(engine, blocks)
    assert len(decoded) == len(blocks) - 1  # a window change now reads no blob
    md.prefetch(engine, mv).join(timeout=30)
    assert len(decoded) == len(blocks) - 1  # nothing left to do

    # It stops once the cache is PREFETCH_SHARE full, and a failure is logged, never raised.
    md.clear_caches()
    monkeypatch.setattr(md, "PREFETCH_SHARE", 0.0)
    md.prefetch(engine, mv).join(timeout=30)
    assert len(decoded) == len(blocks) - 1
    monkeypatch.setattr(md, "PREFETCH_SHARE", 0.5)
    monkeypatch.setattr(md, "block_index", lambda *a: 1 / 0)
    md.prefetch(engine, mv).join(timeout=30)
    assert not md._prefetching


def test_rebuild_follows_deleted_predictions(engine):
    mv = model(engine)
    import_predictions(engine, predictions_frame(100, 2))
    block_build.refresh(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(Prediction).where(Prediction.ts >= START + timedelta(days=1)))
    result = block_build.rebuild(engine, mv)
    assert result.blocks_deleted == 1
    assert [b.day for b in md.block_index(engine, mv)] == [date(2026, 3, 2)]


def test_features_of_any_shape_are_read(engine):
    """Missing values, numbers declared categorical, text in a numeric column, nested values dropped."""
    mv = model(engine, {"zip": "categorical", "age": "numeric"})
    rows = [
        {"zip": 1234, "age": 31, "flag": True, "nested": {"a": 1}},
        {"zip": "0815", "age": "unknown"},
        {"age": 40.5, "flag": False},
        None,
    ]
    with write_session(engine) as session:
        for i, features in enumerate(rows):
            session.add(Prediction(request_id=f"odd-{i}", model_version_id=mv, ts=START + timedelta(hours=i),
                                   score=0.5, predicted_label=1, features=features, cohorts={"tier": 1}))  # fmt: skip
    block_build.refresh(engine)
    out = md.read_frame(engine, md.block_index(engine, mv)).sort_values("id")
    assert out["f:zip"].astype(object).tolist()[:2] == ["1234", "0815"]
    assert pd.isna(out["f:zip"].iloc[2])
    ages = out["f:age"].tolist()
    assert ages[0] == 31 and np.isnan(ages[1]) and ages[2] == 40.5 and np.isnan(ages[3])
    flags = out["f:flag"].astype(object).tolist()
    assert flags[0] == "true" and pd.isna(flags[1]) and flags[2] == "false"
    assert "f:nested" not in out.columns
    assert out["c:tier"].astype(str).tolist() == ["1"] * 4


def test_json_parser_falls_back_for_mixed_types_and_newlines():
    fast = block_codec.parse_json_objects(['{"a": 1, "b": "x"}', '{"a": 2.5}', None])
    assert fast.column_names == ["a", "b"] and fast["a"].to_pylist() == [1.0, 2.5, None]
    mixed = block_codec.parse_json_objects(['{"a": 1}', '{"a": "x"}', '{"a": null, "c": [1]}'])
    assert mixed["a"].to_pylist() == ["1", "x", None] and "c" not in mixed.column_names
    pretty = block_codec.parse_json_objects(['{\n "a": 1\n}', {"a": 2}])
    assert pretty["a"].to_pylist() == [1.0, 2.0]
    assert block_codec.parse_json_objects(["{}", "{}"]).num_columns == 0


def test_blocks_with_different_columns_concatenate():
    t1 = pa.table({"id": [1], "ts": pa.array([0], pa.timestamp("us", tz="UTC")), "score": [0.1],
                   "predicted_label": pa.array([0], pa.int32()), "label": pa.array([None], pa.int32()),
                   "f:a": [1.0], "f:b": pa.array(["x"]).dictionary_encode()})  # fmt: skip
    t2 = pa.table({"id": [2], "ts": pa.array([1], pa.timestamp("us", tz="UTC")), "score": [0.2],
                   "predicted_label": pa.array([1], pa.int32()), "label": pa.array([1], pa.int32()),
                   "f:a": pa.array(["y"]).dictionary_encode(), "f:c": [3.0]})  # fmt: skip
    out = md._unify([t1, t2]).to_pandas()
    assert out["f:a"].astype(str).tolist() == ["1", "y"]  # numeric in one block, text in the other: text
    assert out["f:b"].iloc[0] == "x" and pd.isna(out["f:b"].iloc[1])
    assert out["f:c"].tolist()[1] == 3.0 and np.isnan(out["f:c"].tolist()[0])


def test_samples_are_uniform_and_reproducible():
    assert md.uniform_sample(10, 20, 1) is None
    a = md.uniform_sample(100_000, 1000, md.seed_for("w", 1))
    b = md.uniform_sample(100_000, 1000, md.seed_for("w", 1))
    assert np.array_equal(a, b) and len(np.unique(a)) == 1000 and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, md.uniform_sample(100_000, 1000, md.seed_for("w", 2)))
    assert 40_000 < a.mean() * 1 < 60_000  # centred: a uniform draw over the whole range


def test_nothing_to_do_on_an_empty_database(engine):
    status = block_build.sync_status(engine)
    assert not status.needs_refresh and status.first_build
    assert block_build.refresh(engine).summary() == "Monitoring data is up to date."
    assert md.version_data(engine) == {}


def test_blocks_written_as_parquet_are_still_read():
    import io

    import pyarrow.parquet as pq

    table = pa.table({"id": [1, 2], "f:x": [0.5, None]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    assert md._decode(buf.getvalue()).equals(table)
