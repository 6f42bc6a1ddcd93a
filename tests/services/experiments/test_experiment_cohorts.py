"""Exposures carry any number of cohort fields (`cohort_<field>` columns; the legacy `segment` column is
the field "segment"): the import stores them, refuses a bad field name or a field named twice, and the
readout breaks the results down by each field, the same statistics per (field, value). SQLite and
Postgres."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlmodel import select

from services import ingest
from services.core.db import read_session
from services.core.schema_experiments import Exposure
from services.experiments import readout as er
from services.experiments import readout_service
from services.ingest import ImportRejected
from services.stats import abtest
from tests.services.experiments.test_experiment_readout import ANA, make_experiment


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _exposures(key: str, n: int, **cohorts) -> pd.DataFrame:
    units = [f"user-{i:04d}" for i in range(n)]
    variant = np.where(np.arange(n) % 2 == 0, "control", "treatment")
    return pd.DataFrame({"experiment_key": key, "unit_id": units, "variant": variant, "ts": "2026-09-01T10:00:00Z",
                         **cohorts})  # fmt: skip


def test_the_import_stores_every_cohort_field_and_leaves_empty_cells_out(engine):
    exp = make_experiment(engine, key="coh", variants=("control", "treatment"))
    data = (b"experiment_key,unit_id,variant,ts,cohort_platform,cohort_Region,cohort_tier\n"
            b"coh,u1,control,2026-09-01T10:00:00Z,ios,EU,pro\n"
            b"coh,u2,treatment,2026-09-01T10:00:00Z,web,,free\n"
            b"coh,u3,control,2026-09-01T10:00:00Z, android ,NA,\n"
            b'coh,u4,treatment,2026-09-01T10:00:00Z,,,"a ""quoted"" \\ tier"\n')  # fmt: skip
    assert ingest.import_file(engine, ANA, "exposures", data, "exposures.csv").new == 4
    with read_session(engine) as session:
        stored = {e.unit_id: e.cohorts for e in session.exec(select(Exposure).where(Exposure.experiment_id == exp.id))}
    assert stored == {
        "u1": {"platform": "ios", "Region": "EU", "tier": "pro"},
        "u2": {"platform": "web", "tier": "free"},
        "u3": {"platform": "android", "Region": "NA"},
        "u4": {"tier": 'a "quoted" \\ tier'},
    }


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["cohort_plat form"], "the field name 'plat form' must start with a letter"),
        (["cohort_1st"], "the field name '1st' must start with a letter"),
        (["cohort_x" + "y" * 64], "at most 64 characters"),
        (["cohort_region", "cohort_Region"], "appears more than once"),
        (["segment", "cohort_segment"], "cohort field 'segment' appears more than once"),
    ],
)
def test_a_bad_or_repeated_cohort_column_rejects_the_file(engine, columns, message):
    exp = make_experiment(engine, key="bad", variants=("control", "treatment"))
    frame = _exposures(exp.key, 4, **{c: "x" for c in columns})
    with pytest.raises(ImportRejected) as info:
        ingest.import_file(engine, ANA, "exposures", _csv(frame), "exposures.csv")
    problems = info.value.problems
    assert any(message in p.message for p in problems), [p.message for p in problems]
    assert problems[0].column in columns
    with read_session(engine) as session:
        assert session.exec(select(Exposure)).all() == []


def test_an_import_with_two_cohort_fields_reads_by_either(engine):
    """The same units read by platform and by tier: each segment's numbers are the z-test on that
    segment's units, and each field's segments add up to the overall row."""
    exp = make_experiment(engine, key="two-fields", variants=("control", "treatment"), secondary_metrics=[],
                          guardrail_metrics=[])  # fmt: skip
    n = 1600
    rng = np.random.default_rng(11)
    platform = np.asarray(["ios", "web", "android", "web"], dtype=object)[(np.arange(n) // 2) % 4]
    tier = np.asarray(["free", "pro", ""], dtype=object)[rng.integers(0, 3, n)]  # "": no tier
    exposures = _exposures(exp.key, n, cohort_platform=platform, cohort_tier=tier)
    conv = (rng.random(n) < np.where(tier == "pro", 0.5, 0.3)).astype(int)
    metrics = pd.DataFrame({"experiment_key": exp.key, "unit_id": exposures["unit_id"], "metric": "conv",
                            "value": conv})  # fmt: skip
    ingest.import_file(engine, ANA, "exposures", _csv(exposures), "exposures.csv")
    ingest.import_file(engine, ANA, "metrics", _csv(metrics), "metrics.csv")

    readout = readout_service.read_experiment(engine, exp.key)
    assert readout.fields == ("platform", "tier")
    assert set(readout.segments["platform"]) == {"ios", "web", "android"}  # every unit has a platform
    assert set(readout.segments["tier"]) == {"free", "pro", er.NONE}
    control = (exposures["variant"] == "control").to_numpy()
    for field, values, segment in (("platform", platform, "web"), ("tier", tier, "pro"), ("tier", tier, er.NONE)):
        mask = values == ("" if segment == er.NONE else segment)
        c, t = conv[mask & control], conv[mask & ~control]
        ref = abtest.conversion_ttest(len(c), c.sum(), len(t), t.sum())
        row = readout.by_segment(field, segment).iloc[0]
        assert (row["n_control"], row["n_treatment"]) == (len(c), len(t))
        assert row["p_value"] == pytest.approx(ref.p_value, rel=1e-9)
        assert row["rel_ci_low"] == pytest.approx(ref.rel_ci[0], rel=1e-9)
    overall = readout.overall.iloc[0]
    for field in readout.fields:
        part = readout.results[readout.results["field"] == field]
        assert part["n_control"].sum() == overall["n_control"] == control.sum()
    web_srm = readout.segment_srm.set_index(["field", "segment"]).loc[("platform", "web"), "units"]
    assert web_srm == int((platform == "web").sum())
