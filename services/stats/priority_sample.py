"""Mergeable uniform samples (bottom-k by a hash priority) and the bound they put on the numeric drift
distances (docs/scale.md).

Each row gets a priority in [0, 1) from a hash of its request id, so the same row always has the same
priority whatever chunk or process folds it. A day keeps its k rows of lowest priority and its
threshold (the k-th priority; 1.0 when the day has k rows or fewer, i.e. all of them). For a window
of days, tau = the lowest threshold among its days: every row of the window with priority <= tau is in
its day's sample, so {rows with priority <= tau} is a uniform sample of the window (the priorities are
independent of the values); capped at `cap` rows by taking the lowest priorities, it stays one. A day
keeps its threshold when rows leave it (erasure), so the rule holds after deletions too.

Bound on the normed Wasserstein distance (distance / reference std, Evidently's test): by the triangle
inequality |W(sample_r, sample_c) - W(R, C)| <= W(sample_r, R) + W(sample_c, C). The distance of an
m-row uniform sample to its population, normed by the std, stays below WASSERSTEIN_C / sqrt(m) in 99% of
draws (two independent m-samples of one distribution: 99th percentile 3.6-3.8 / sqrt(m) measured over
normal, lognormal, gamma and Poisson data, services/monitoring/blocks.py; a sample against its own
population is about 1/sqrt(2) of that, and sampling without replacement only lowers it). A complete
window (no day saturated) has bound 0: the sample is the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import union_categoricals

WASSERSTEIN_C = 3.0
PRIORITY = "_priority"


def priorities(ids: npt.ArrayLike | pd.Series) -> np.ndarray:
    """A uniform priority in [0, 1) per id, from pandas' 64-bit hash of the value (stable across runs)."""
    h = pd.util.hash_pandas_object(pd.Series(ids), index=False).to_numpy()
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def bottom_k(priority: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Indices of the k lowest priorities (ascending) and the day's threshold (1.0: every row kept)."""
    if priority.size <= k:
        return np.argsort(priority, kind="stable"), 1.0
    idx = np.argpartition(priority, k - 1)[:k]
    idx = idx[np.argsort(priority[idx], kind="stable")]
    return idx, float(priority[idx[-1]])


def window_sample(
    samples: Sequence[pd.DataFrame], thresholds: Sequence[float], cap: int, columns: Sequence[str] | None = None
) -> tuple[pd.DataFrame, bool]:
    """The uniform sample of a window from its days' samples: rows with priority <= the lowest
    threshold, at most `cap` of them (lowest priorities), with `columns` (default: all; the priority is
    always kept). Returns (sample, complete): complete when no day was saturated and no cap applied, i.e.
    the sample holds every row of the window. Column by column in numpy: each day is filtered before
    anything is copied."""
    parts = [s for s in samples if len(s)]
    if not parts:
        return (samples[0].iloc[:0] if samples else pd.DataFrame({PRIORITY: []})), True
    tau = min(thresholds) if thresholds else 1.0
    cols = [c for c in (columns if columns is not None else parts[0].columns) if c != PRIORITY]
    prios = [s[PRIORITY].to_numpy() for s in parts]
    masks = [p <= tau for p in prios]
    prio = np.concatenate([p[m] for p, m in zip(prios, masks, strict=True)])
    complete = tau >= 1.0
    keep = None
    if prio.size > cap:
        keep = np.sort(np.argpartition(prio, cap - 1)[:cap])
        complete = False
    data = {}
    for c in [*cols, PRIORITY]:
        if all(isinstance(s[c].dtype, pd.CategoricalDtype) for s in parts):  # codes, never the strings
            values = union_categoricals([s[c].array[m] for s, m in zip(parts, masks, strict=True)])
        else:
            values = np.concatenate([s[c].to_numpy()[m] for s, m in zip(parts, masks, strict=True)])
        data[c] = values if keep is None else values[keep]
    return pd.DataFrame(data), complete


def wasserstein_bound(m_reference: int, m_current: int, complete_reference: bool, complete_current: bool) -> float:
    """How far (99% of draws) the normed Wasserstein distance of two window samples can be from that of
    the windows' full data."""
    bound = 0.0
    for m, complete in ((m_reference, complete_reference), (m_current, complete_current)):
        if not complete:
            bound += WASSERSTEIN_C / math.sqrt(max(m, 1))
    return bound
