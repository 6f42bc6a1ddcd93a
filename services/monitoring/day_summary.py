"""Per (model version, UTC day) summaries, folded in as rows arrive, so a Monitoring view costs per-day
work instead of per-row work (docs/scale.md). One `DaySummary` holds, for the day and for each cohort
stratum (every rows, then each value of each cohort field):

- `counts` / `sums`: (strata, 3 label states, 2 predicted labels, N_BINS) score histograms: the row
  count and the sum of scores per fine score bin (services/stats/score_histogram.py). Confusion counts,
  ROC AUC, calibration bins and CBPE's sufficient statistics all read them.
- `categories`: counts per (stratum, categorical feature, category), and `present`: non-missing values
  per (stratum, numeric feature): exact counts for categorical drift and for the test-selection rule.
- `sample`: the day's bottom-k rows by hash priority (services/stats/priority_sample.py) with their
  numeric features, score, labels and cohort values, and `threshold`: mergeable into a uniform window
  sample for the numeric distance tests.

Everything is additive: a new chunk for a day already summarised is folded into it (`merge_days`), a
late outcome moves its row from the unlabelled cells to its label's (`apply_outcomes`), an erased
request leaves the counts and the sample (`erase`), and none of these rewrites the day from raw rows.
Stored as one compressed npz blob (`to_bytes`: numeric arrays, JSON and Arrow IPC only, never pickle),
about 0.5-0.65 MiB a day whatever the day's row count (measured at 11,000 and 111,000 rows a day).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from services.stats import priority_sample as ps
from services.stats.score_histogram import N_BINS, NEGATIVE, POSITIVE, UNLABELLED, bin_index

ALL = ("", "")  # the stratum of every row
SAMPLE_K = 8192  # rows a day keeps for the numeric distance tests
CELLS = 3 * 2 * N_BINS  # label state x predicted label x bin


@dataclass(frozen=True)
class SummarySchema:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    cohorts: tuple[str, ...]
    sample_k: int = SAMPLE_K


@dataclass
class DaySummary:
    day: date
    strata: list[tuple[str, str]]  # index -> (cohort field, value); index 0 is ALL
    counts: np.ndarray  # int64 (S, 3, 2, N_BINS)
    sums: np.ndarray  # float64 (S, 3, 2, N_BINS)
    present: np.ndarray  # int64 (S, numeric features)
    categories: pd.DataFrame  # stratum (int), feature, category, count
    sample: pd.DataFrame
    threshold: float
    n_rows: int
    out_of_range: int = 0  # scores outside [0, 1]: binned into the end bins
    schema: SummarySchema = field(default_factory=lambda: SummarySchema((), (), ()))

    def index(self) -> dict[tuple[str, str], int]:
        return {key: i for i, key in enumerate(self.strata)}


def label_state(label: np.ndarray) -> np.ndarray:
    """0 unlabelled (NaN), 1 negative, 2 positive."""
    lab = np.asarray(label, dtype=np.float64)
    state = np.full(lab.shape, UNLABELLED, dtype=np.int64)
    state[lab == 0] = NEGATIVE
    state[lab == 1] = POSITIVE
    return state


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Category codes (-1 for missing) and the labels, as text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes, dtype=np.int64)
        return codes, [str(c) for c in values.cat.categories]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # arrow strings factorize without a copy
    return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques]


def _strata_rows(frame: pd.DataFrame, schema: SummarySchema) -> tuple[list[tuple[str, str]], list[np.ndarray]]:
    """The strata of a day and, for each, the stratum index of every row (-1: not in it) per field."""
    strata: list[tuple[str, str]] = [ALL]
    per_field = []
    for f in schema.cohorts:
        codes, labels = _codes(frame[f])
        base = len(strata)
        strata += [(f, v) for v in labels]
        per_field.append(np.where(codes >= 0, codes + base, -1))
    return strata, per_field


def _histograms(cell: np.ndarray, score: np.ndarray, stratum: list[np.ndarray], n_strata: int):
    counts = np.zeros((n_strata, CELLS), dtype=np.int64)
    sums = np.zeros((n_strata, CELLS), dtype=np.float64)
    counts[0] = np.bincount(cell, minlength=CELLS)
    sums[0] = np.bincount(cell, weights=score, minlength=CELLS)
    for codes in stratum:
        ok = codes >= 0
        flat = codes[ok] * CELLS + cell[ok]
        counts += np.bincount(flat, minlength=n_strata * CELLS).reshape(n_strata, CELLS)
        sums += np.bincount(flat, weights=score[ok], minlength=n_strata * CELLS).reshape(n_strata, CELLS)
    return counts.reshape(n_strata, 3, 2, N_BINS), sums.reshape(n_strata, 3, 2, N_BINS)


def _category_counts(frame: pd.DataFrame, schema: SummarySchema, stratum: list[np.ndarray], n_strata: int):
    """(stratum, feature, category, count) of every non-zero count, built as one frame at the end."""
    strata, features, names, counts = [], [], [], []
    all_rows = np.zeros(len(frame), dtype=np.int64)
    for feat in schema.categorical:
        codes, labels = _codes(frame[feat])
        k = len(labels)
        if k == 0:
            continue
        labels_arr = np.asarray(labels, dtype=object)
        for strat in (all_rows, *stratum):
            ok = (codes >= 0) & (strat >= 0)
            c = np.bincount(strat[ok] * k + codes[ok], minlength=n_strata * k).reshape(n_strata, k)
            s_idx, c_idx = np.nonzero(c)
            strata.append(s_idx)
            features.append(np.full(s_idx.size, feat, dtype=object))
            names.append(labels_arr[c_idx])
            counts.append(c[s_idx, c_idx])
    if not strata:
        return empty_categories()
    # each pass fills its own strata (ALL, or one field's values): no (stratum, feature, category) twice
    return pd.DataFrame({"stratum": np.concatenate(strata), "feature": np.concatenate(features),
                         "category": np.concatenate(names), "count": np.concatenate(counts)})  # fmt: skip


def _present(frame: pd.DataFrame, schema: SummarySchema, stratum: list[np.ndarray], n_strata: int) -> np.ndarray:
    out = np.zeros((n_strata, len(schema.numeric)), dtype=np.int64)
    for j, feat in enumerate(schema.numeric):
        ok = np.isfinite(frame[feat].to_numpy(dtype=np.float64, na_value=np.nan))
        out[0, j] = int(ok.sum())
        for codes in stratum:
            sel = ok & (codes >= 0)
            out[:, j] += np.bincount(codes[sel], minlength=n_strata)
    return out


def empty_categories() -> pd.DataFrame:
    return pd.DataFrame({"stratum": np.zeros(0, dtype=np.int64), "feature": [], "category": [],
                         "count": np.zeros(0, dtype=np.int64)})  # fmt: skip


def restratify(categories: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
    """Category counts with their stratum numbers mapped through `index` (old number -> new)."""
    if not len(categories):
        return categories
    return categories.assign(stratum=index[categories["stratum"].to_numpy(dtype=np.int64)])


def add_categories(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Category counts of disjoint rows, added up."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_categories()
    frame = pd.concat(parts, ignore_index=True)
    return frame.groupby(["stratum", "feature", "category"], as_index=False)["count"].sum()


def sample_columns(schema: SummarySchema) -> list[str]:
    return ["request_id", "score", "predicted_label", "label", *schema.numeric, *schema.cohorts]


def fold_day(frame: pd.DataFrame, day: date, schema: SummarySchema) -> DaySummary:
    """The summary of one day's rows (request_id, score, predicted_label, label (NaN: unknown), the
    schema's features and cohort fields)."""
    score = frame["score"].to_numpy(dtype=np.float64)
    pred = frame["predicted_label"].to_numpy(dtype=np.int64)
    if pred.size and not np.isin(pred, (0, 1)).all():
        raise ValueError("predicted_label must be 0 or 1")
    cell = (label_state(frame["label"].to_numpy()) * 2 + pred) * N_BINS + bin_index(score)
    strata, stratum = _strata_rows(frame, schema)
    counts, sums = _histograms(cell, score, stratum, len(strata))
    prio = ps.priorities(frame["request_id"])
    idx, threshold = ps.bottom_k(prio, schema.sample_k)
    sample = frame.iloc[idx][sample_columns(schema)].reset_index(drop=True)
    sample[ps.PRIORITY] = prio[idx]
    for f in schema.cohorts:  # categories: a window sample merges their codes, not strings
        col = sample[f] if isinstance(sample[f].dtype, pd.CategoricalDtype) else sample[f].astype("category")
        sample[f] = col.cat.rename_categories([str(c) for c in col.cat.categories])
    out_of_range = int(((score < 0) | (score > 1)).sum())
    return DaySummary(day, strata, counts, sums, _present(frame, schema, stratum, len(strata)),
                      _category_counts(frame, schema, stratum, len(strata)), sample, threshold, len(frame),
                      out_of_range, schema)  # fmt: skip


def fold_chunk(frame: pd.DataFrame, schema: SummarySchema) -> dict[date, DaySummary]:
    """Summaries of a chunk of rows (any number of days, `ts` in UTC), one per day it touches."""
    days = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    out: dict[date, DaySummary] = {}
    uniq, inverse = np.unique(days, return_inverse=True)
    if len(uniq) == 1:
        d = uniq[0].astype(object)
        return {d: fold_day(frame, d, schema)}
    for i, d in enumerate(uniq):
        out[d.astype(object)] = fold_day(frame[inverse == i], d.astype(object), schema)
    return out


def _align(a: DaySummary, b: DaySummary) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
    """The union of two days' strata, and where each one's strata go in it."""
    strata = list(a.strata)
    where = a.index()
    for key in b.strata:
        if key not in where:
            where[key] = len(strata)
            strata.append(key)
    return strata, np.arange(len(a.strata)), np.asarray([where[k] for k in b.strata], dtype=np.int64)


def merge_days(a: DaySummary, b: DaySummary) -> DaySummary:
    """Two summaries of disjoint rows of the same day (a new chunk of an existing day) as one."""
    if a.day != b.day:
        raise ValueError("merge_days merges summaries of one day; windows merge in summary_merge")
    strata, ia, ib = _align(a, b)
    s = len(strata)

    def add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.zeros((s, *x.shape[1:]), dtype=x.dtype)
        out[ia] += x
        np.add.at(out, ib, y)
        return out

    cats = add_categories([a.categories, restratify(b.categories, ib)])
    both = pd.concat([a.sample, b.sample], ignore_index=True)
    k = a.schema.sample_k
    idx, own = ps.bottom_k(both[ps.PRIORITY].to_numpy(), k)
    threshold = min(a.threshold, b.threshold, own)
    sample = both.iloc[idx]
    sample = sample[sample[ps.PRIORITY].to_numpy() <= threshold].reset_index(drop=True)
    return DaySummary(a.day, strata, add(a.counts, b.counts), add(a.sums, b.sums), add(a.present, b.present), cats,
                      sample, threshold, a.n_rows + b.n_rows, a.out_of_range + b.out_of_range, a.schema)  # fmt: skip


def _row_strata(summary: DaySummary, rows: pd.DataFrame) -> list[np.ndarray]:
    """For each row, its stratum index in `summary` per cohort field (ALL first); -1 where unknown."""
    out = [np.zeros(len(rows), dtype=np.int64)]
    for f in summary.schema.cohorts:
        keys = [(i, v) for i, (field_, v) in enumerate(summary.strata) if field_ == f]
        vals = rows[f].astype(object).where(rows[f].notna(), None).astype(str).to_numpy()
        pos = pd.Index([v for _, v in keys], dtype=object).get_indexer(vals) if keys else np.full(len(rows), -1)
        index = np.asarray([i for i, _ in keys] + [-1], dtype=np.int64)
        out.append(index[np.where(pos >= 0, pos, len(keys))])
    return out


def widen(summary: DaySummary, schema: SummarySchema) -> DaySummary:
    """The summary under a wider schema (its version met new features or cohort fields): new numeric
    features have no values yet (present 0, sample NaN), new cohort fields no strata; the day's rows are
    unchanged. Raises ValueError when `schema` drops one of the summary's fields."""
    old = summary.schema
    if (old.numeric, old.categorical, old.cohorts) == (schema.numeric, schema.categorical, schema.cohorts):
        return summary
    for mine, theirs in ((old.numeric, schema.numeric), (old.categorical, schema.categorical),
                         (old.cohorts, schema.cohorts)):  # fmt: skip
        if not set(mine) <= set(theirs):
            raise ValueError(f"a day summary's fields {sorted(set(mine) - set(theirs))} are not in the new schema")
    present = np.zeros((len(summary.strata), len(schema.numeric)), dtype=np.int64)
    for j, name in enumerate(old.numeric):
        present[:, schema.numeric.index(name)] = summary.present[:, j]
    sample = summary.sample.copy()
    for name in schema.numeric:
        if name not in sample.columns:
            sample[name] = np.nan
    for name in schema.cohorts:
        if name not in sample.columns:
            sample[name] = pd.Categorical([None] * len(sample), categories=pd.Index([], dtype="str"))
    cols = [*sample_columns(schema), *[c for c in sample.columns if c not in sample_columns(schema)]]
    summary.present, summary.sample = present, sample[cols]
    summary.schema = SummarySchema(schema.numeric, schema.categorical, schema.cohorts, old.sample_k)
    return summary


def _move(summary: DaySummary, rows: pd.DataFrame, old_state: np.ndarray, new_state: np.ndarray | None) -> None:
    """Takes rows out of their cells (old_state) and, unless new_state is None, puts them back in new ones."""
    score = rows["score"].to_numpy(dtype=np.float64)
    pred = rows["predicted_label"].to_numpy(dtype=np.int64)
    b = bin_index(score)
    for strat in _row_strata(summary, rows):
        ok = strat >= 0
        np.subtract.at(summary.counts, (strat[ok], old_state[ok], pred[ok], b[ok]), 1)
        np.subtract.at(summary.sums, (strat[ok], old_state[ok], pred[ok], b[ok]), score[ok])
        if new_state is not None:
            np.add.at(summary.counts, (strat[ok], new_state[ok], pred[ok], b[ok]), 1)
            np.add.at(summary.sums, (strat[ok], new_state[ok], pred[ok], b[ok]), score[ok])


def apply_outcomes(summary: DaySummary, rows: pd.DataFrame) -> int:
    """Late outcomes of this day's predictions, in place: `rows` has the prediction's request_id, score,
    predicted_label and cohort fields, `previous_label` (NaN: none yet) and the new `label`. Returns the
    rows moved. The day is not rebuilt: each row moves between two cells of each of its strata."""
    if rows.empty:
        return 0
    old = label_state(rows["previous_label"].to_numpy())
    new = label_state(rows["label"].to_numpy())
    _move(summary, rows, old, new)
    where = pd.Index(rows["request_id"].to_numpy(dtype=object)).get_indexer(
        summary.sample["request_id"].to_numpy(dtype=object))  # fmt: skip
    hit = where >= 0
    if hit.any():
        summary.sample.loc[hit, "label"] = rows["label"].to_numpy(dtype=np.float64)[where[hit]]
    return len(rows)


def erase(summary: DaySummary, rows: pd.DataFrame) -> int:
    """Removes erased requests (a data subject's request) from the counts and the sample, in place:
    `rows` as for apply_outcomes with their current `label`, numeric and categorical features. The
    day keeps its sample threshold, so window samples stay uniform."""
    if rows.empty:
        return 0
    _move(summary, rows, label_state(rows["label"].to_numpy()), None)
    strata = _row_strata(summary, rows)
    for j, feat in enumerate(summary.schema.numeric):
        ok = np.isfinite(rows[feat].to_numpy(dtype=np.float64, na_value=np.nan))
        for strat in strata:
            np.subtract.at(summary.present[:, j], strat[ok & (strat >= 0)], 1)
    cats = summary.categories
    for feat in summary.schema.categorical:
        for strat in strata:
            for s, v in zip(strat, rows[feat].astype(object).astype(str), strict=True):
                hit = (cats["stratum"] == s) & (cats["feature"] == feat) & (cats["category"] == v)
                cats.loc[hit, "count"] -= 1
    summary.categories = cats[cats["count"] > 0].reset_index(drop=True)
    summary.sample = summary.sample[~summary.sample["request_id"].isin(set(rows["request_id"]))].reset_index(drop=True)
    summary.n_rows -= len(rows)
    return len(rows)
