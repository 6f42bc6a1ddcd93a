"""bench/scale_import.py: the floor it measures inserts the same rows as Loopdeck's import (otherwise the
ratio compares different work), its JSON is valid for any text, and the bare raw-store write keeps every
row in its day. SQLite and Postgres (the floor's COPY text is its own formatting)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from bench import scale_import as si
from data import scale_gen as sg

SPEC = sg.ScaleSpec(400, 3)


@pytest.fixture(scope="module")
def import_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scale_import")
    sg.write_dataset(folder / "input", SPEC, outcomes=False, echo=None)
    return si.write_import_file(folder / "input", SPEC, folder / "import.parquet")


def _rows(engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT request_id, ts, score, predicted_label, features, cohorts FROM prediction "
                                    "ORDER BY request_id")).all()  # fmt: skip
    decode = (lambda v: v) if engine.dialect.name == "postgresql" else json.loads
    return [(r[0], str(r[1]), r[2], r[3], decode(r[4]), decode(r[5])) for r in rows]


def test_the_floor_inserts_what_the_import_inserts(engine, import_file, tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPDECK_RAW_STORE_DIR", str(tmp_path / "raw"))
    si.add_model_version(engine, SPEC)
    with engine.connect() as conn:
        version_id = conn.exec_driver_sql("SELECT id FROM model_version").scalar_one()
    spent = si.bare_insert(engine, import_file, version_id)
    assert spent["format_cpu"] >= 0 and spent["driver_wall"] > 0
    floor = _rows(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM prediction")
    real = si.real_import(engine, import_file)
    assert real["refresh_rows"] == SPEC.rows
    assert len(floor) == SPEC.rows
    assert floor == _rows(engine)
    assert set(floor[0][4]) == {*sg.NUMERIC_FEATURES, *sg.CATEGORICAL_FEATURES}
    assert set(floor[0][5]) == set(sg.COHORT_FIELDS)


def test_json_objects_escape_text_and_leave_nulls_out():
    batch = pa.RecordBatch.from_pydict({
        "feature_a": pa.array([1.5, None, 3.0]), "feature_b": pa.array(['say "hi"\\', "tab\there", None]),
        "cohort_c": pa.array(["x", "y", "z"]), "other": pa.array([1, 2, 3]),
    })  # fmt: skip
    got = [json.loads(t) for t in si.json_objects(batch, "feature_").to_pylist()]
    assert got == [{"a": 1.5, "b": 'say "hi"\\'}, {"b": "tab\there"}, {"a": 3.0}]
    assert si.json_objects(batch, "cohort_").to_pylist() == ['{"c":"x"}', '{"c":"y"}', '{"c":"z"}']


def test_bare_raw_write_keeps_every_row_in_its_day(import_file, tmp_path):
    si.bare_raw(tmp_path, import_file, SPEC)
    raw = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert raw.num_rows == pq.ParquetFile(import_file).metadata.num_rows
    for day in range(SPEC.days):
        part = pq.read_table(si.day_dir(tmp_path, SPEC, SPEC.day_date(day)) / "part-0.parquet")
        days = {t.date() for t in part.column("ts").to_pylist()}
        assert days == {SPEC.day_date(day)}
