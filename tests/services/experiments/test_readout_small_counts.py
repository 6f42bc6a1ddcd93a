"""The readout's health messages for comparisons too small for the normal readings (issue 13 point 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from services.experiments import readout as er
from services.experiments import readout_service
from services.experiments.checks import small_count_items
from tests.services.experiments.test_experiment_readout import insert, make_experiment


def _overall(exact, rel):
    return pd.DataFrame({"metric": ["conv", "rev"], "variant": ["a", "a"], "exact_test": exact,
                         "rel_small_counts": rel})  # fmt: skip


def test_small_counts_and_delta_method_show_as_health_messages():
    exact, rel = small_count_items(_overall([True, False], [True, True]))
    assert (exact.name, exact.ok, exact.value) == ("small_counts", False, 1.0)
    assert "conv (a)" in exact.message and "Fisher's exact test" in exact.message
    assert (rel.name, rel.ok, rel.value) == ("relative_lift", False, 2.0)
    assert "conv (a), rev (a)" in rel.message and "absolute lift" in rel.message
    fine = small_count_items(_overall([False, False], [False, False]))
    assert all(item.ok for item in fine)


def test_readout_reads_0_of_200_against_4_of_200_with_fishers_exact_test(engine):
    """Before: the readout said "win" on the absolute scale at p = 0.043 (normal approximation)."""
    exp = make_experiment(engine, key="tiny", variants=("control", "treatment"))
    units = [f"u{i}" for i in range(400)]
    variant = np.array(["control"] * 200 + ["treatment"] * 200)
    conv = np.zeros(400)
    conv[200:204] = 1.0
    exposures = pd.DataFrame({"unit_id": units, "variant": variant})
    metrics = pd.DataFrame({"unit_id": units, "metric": "conv", "value": conv, "pre_value": np.nan})
    insert(engine, exp.id, exposures, metrics)
    readout = readout_service.read_experiment(engine, exp.key, er.ReadoutOptions(difference_type="absolute"))
    [row] = readout.overall[readout.overall["metric"] == "conv"].to_dict("records")
    fisher = stats.fisher_exact([[4, 196], [0, 200]]).pvalue
    assert row["exact_test"] and row["p_value"] == pytest.approx(fisher, abs=1e-6)
    assert row["verdict"] == "inconclusive" and np.isnan(row["ci_low"])
    health = {h.name: h for h in readout.health}
    assert not health["small_counts"].ok and "conv (treatment)" in health["small_counts"].message
    assert not health["relative_lift"].ok
