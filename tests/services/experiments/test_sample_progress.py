"""One "% of planned sample" everywhere (services.experiments.progress): the Overview's running
experiments, the readout (its Read card and progress bar), every row of the results table and the fixed
rule's stopping advice give the same number, units exposed / (planned per arm x arms), on an unequal
split where the smallest arm and the units with a metric observation would give other numbers. And the
CUPED reading says why it is empty: "no pre-period values" while units have observations (tested on data
made here with a pre-period covariate). Runs on SQLite and Postgres (the `engine` fixture)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from services.experiments import analysis, progress, readout_service, rollups
from services.experiments import readout as er
from services.overview import summary as overview
from tests.services.experiments.test_experiment_readout import insert, make_experiment


def _unequal(engine, key="split", stopping_rule="fixed"):
    """200 units per arm planned (400 in all); 300 exposed on a 10/90 split, one of them in both arms;
    conv observed for a third of the units only."""
    exp = make_experiment(engine, key=key, variants=("control", "treatment"), shares=[0.1, 0.9],
                          planned_sample_size=200, stopping_rule=stopping_rule)  # fmt: skip
    rng = np.random.default_rng(3)
    units = [f"u{i:04d}" for i in range(300)]
    arm = np.where(np.arange(300) < 30, "control", "treatment")
    exposures = pd.DataFrame({"unit_id": units, "variant": arm})
    exposures = pd.concat([exposures, pd.DataFrame({"unit_id": ["u0000"], "variant": ["treatment"]})])
    observed = units[::3]
    metrics = pd.DataFrame({"unit_id": observed, "metric": "conv", "pre_value": np.nan,
                            "value": (rng.random(len(observed)) < 0.3).astype(float)})  # fmt: skip
    insert(engine, exp.id, exposures, metrics)
    return exp


def test_one_definition_on_the_overview_the_read_card_and_the_results_table(engine):
    exp = _unequal(engine)
    sample = progress.progress_of(engine, [exp])[exp.id]
    assert (sample.units, sample.planned_per_arm, sample.arms, sample.planned_total) == (300, 200, 2, 400)
    assert sample.fraction == pytest.approx(0.75) and sample.bar == pytest.approx(0.75) and not sample.reached
    assert sample.text() == "75% of planned sample (300 of 400 units)"

    [running] = overview.running_experiments(engine)
    assert running.progress == pytest.approx(0.75) and running.exposures == 300 and running.planned_total == 400

    readout = readout_service.read_experiment(engine, exp.key)
    assert readout.sample == sample  # the Read card and its progress bar
    assert readout.results["progress"].to_numpy() == pytest.approx(np.full(len(readout.results), 0.75))
    # What the screens used to show instead: the smallest arm (30 / 200) and observed units (10 / 200).
    assert int(readout.arms["units"].min()) / 200 != pytest.approx(0.75)
    assert "75% of the planned sample so far" in readout.stopping.message
    assert readout_service.evidence(readout)["planned_sample"] == {
        "units": 300, "planned_total": 400, "fraction": 0.75, "text": "75% of planned sample (300 of 400 units)"
    }  # fmt: skip


def test_no_plan_means_no_fraction_and_above_the_plan_is_not_capped(engine):
    exp = _unequal(engine, key="small", stopping_rule="sequential")
    over = progress.sample_progress(exp, 500)
    assert over.fraction == pytest.approx(1.25) and over.bar == 1.0 and over.reached
    exp.planned_sample_size = None
    none = progress.sample_progress(exp, 300)
    assert none.fraction is None and none.planned_total is None and none.bar == 0.0
    assert none.text() == "300 units exposed (no planned sample size)"
    assert progress.units_exposed(engine, []) == {}


def _cuped_data(engine, key, with_pre: bool):
    """300 units, two arms; rev has a pre-period covariate (correlated with it) when `with_pre`."""
    exp = make_experiment(engine, key=key, variants=("control", "a"), primary_metric="rev", secondary_metrics=[],
                          guardrail_metrics=[], metric_type="mean")  # fmt: skip
    rng = np.random.default_rng(11)
    n = 300
    units = [f"c{i:04d}" for i in range(n)]
    arm = rng.integers(0, 2, n)
    pre = rng.lognormal(3, 0.5, n)
    value = pre * rng.lognormal(0, 0.2, n) * (1 + 0.05 * arm)
    exposures = pd.DataFrame({"unit_id": units, "variant": np.asarray(["control", "a"])[arm]})
    metrics = pd.DataFrame({"unit_id": units, "metric": "rev", "value": value,
                            "pre_value": pre if with_pre else np.nan})  # fmt: skip
    insert(engine, exp.id, exposures, metrics)
    return exp


def test_cuped_says_no_pre_period_values_not_no_observations(engine):
    with_pre = readout_service.read_experiment(engine, _cuped_data(engine, "with-pre", True).key)
    overall = with_pre.overall
    assert er.why_empty(overall, "cuped") is None and er.without_pre_period(overall) == []
    assert overall["variance_reduction"].iloc[0] > 0.5  # the covariate explains most of the variance
    assert overall["cuped_ci_high"].iloc[0] - overall["cuped_ci_low"].iloc[0] < (
        overall["ci_high"].iloc[0] - overall["ci_low"].iloc[0]
    )

    without = readout_service.read_experiment(engine, _cuped_data(engine, "no-pre", False).key).overall
    assert int(without["n_control"].iloc[0] + without["n_treatment"].iloc[0]) == 300  # units with observations
    assert er.why_empty(without, "cuped") == er.NO_PRE_PERIOD
    assert er.why_empty(without, "frequentist") is None and er.without_pre_period(without) == ["rev"]

    empty = make_experiment(engine, key="nothing", variants=("control", "a"))
    agg = rollups.aggregate(engine, empty.id)
    results = analysis.compute(empty, agg).overall
    assert er.why_empty(results, "cuped") == er.NO_OBSERVATIONS == er.why_empty(results, "frequentist")
