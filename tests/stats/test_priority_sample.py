"""Bottom-k samples by hash priority merge into a uniform window sample: every window row under the
threshold is there, the sample's values follow the window's, a complete window is the data itself,
and the stated Wasserstein bound holds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from services.stats import priority_sample as ps
from services.stats.drift import wasserstein_normed


def _days(sizes, k, seed=0):
    rng = np.random.default_rng(seed)
    days, full = [], []
    for d, n in enumerate(sizes):
        frame = pd.DataFrame({"request_id": [f"r-{d}-{i}" for i in range(n)], "x": rng.lognormal(d * 0.01, 1, n)})
        frame[ps.PRIORITY] = ps.priorities(frame["request_id"])
        idx, threshold = ps.bottom_k(frame[ps.PRIORITY].to_numpy(), k)
        days.append((frame.iloc[idx].reset_index(drop=True), threshold))
        full.append(frame)
    return days, pd.concat(full, ignore_index=True)


def test_priorities_are_stable_and_uniform():
    ids = pd.Series([f"req-{i}" for i in range(100_000)])
    p = ps.priorities(ids)
    np.testing.assert_array_equal(p, ps.priorities(ids.copy()))  # same id, same priority, any process
    assert p.min() >= 0 and p.max() < 1
    assert abs(p.mean() - 0.5) < 0.005 and np.histogram(p, 10)[0].min() > 9_500


def test_window_sample_is_every_row_under_the_lowest_threshold():
    days, full = _days([5_000, 20_000, 800, 12_000], k=1_000)
    sample, complete = ps.window_sample([d for d, _ in days], [t for _, t in days], cap=10_000)
    tau = min(t for _, t in days)
    want = set(full.loc[full[ps.PRIORITY] <= tau, "request_id"])
    assert set(sample["request_id"]) == want and not complete
    assert days[2][1] == 1.0  # a day smaller than k keeps every row


def test_complete_window_and_cap():
    days, full = _days([300, 500], k=1_000)
    sample, complete = ps.window_sample([d for d, _ in days], [t for _, t in days], cap=10_000)
    assert complete and len(sample) == len(full)
    capped, complete = ps.window_sample([d for d, _ in days], [t for _, t in days], cap=100)
    assert not complete and len(capped) == 100
    assert capped[ps.PRIORITY].max() <= np.sort(full[ps.PRIORITY])[99]


def test_wasserstein_on_window_samples_is_within_the_bound_of_the_full_data():
    ref_days, ref = _days([30_000] * 7, k=4_000, seed=1)
    cur_days, cur = _days([30_000] * 7, k=4_000, seed=2)
    rs, rc = ps.window_sample([d for d, _ in ref_days], [t for _, t in ref_days], cap=50_000)
    cs, cc = ps.window_sample([d for d, _ in cur_days], [t for _, t in cur_days], cap=50_000)
    full = wasserstein_normed(ref["x"].to_numpy(), cur["x"].to_numpy()).distance
    sampled = wasserstein_normed(rs["x"].to_numpy(), cs["x"].to_numpy()).distance
    bound = ps.wasserstein_bound(len(rs), len(cs), rc, cc)
    assert 0 < bound < 0.05
    assert abs(sampled - full) <= bound
    assert ps.wasserstein_bound(10, 10, True, True) == 0.0
