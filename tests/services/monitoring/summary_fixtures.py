"""Day summaries for tests of the views that read them: every day block of a version folded into its
day's summary (summary_store.fold_rows), the same rows the row path reads, with their request ids, and
with a chosen sample size (a small one makes the windows' samples saturate on small test data)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.monitoring import blocks as md
from services.monitoring import day_summary as dsum
from services.monitoring import summary_store


def fold_blocks(engine: Engine, model_version_id: int, sample_k: int = dsum.SAMPLE_K,
                skip_days: tuple = ()) -> dsum.SummarySchema:  # fmt: skip
    """Folds the version's block rows into day summaries (`sample_k` rows kept a day), replacing any the
    refresh stored; `skip_days` are left without a summary. Returns the schema used."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM monitoring_day_summary WHERE model_version_id = :mv"),
                     {"mv": model_version_id})  # fmt: skip
    blocks = [b for b in md.block_index(engine, model_version_id) if b.day not in skip_days]
    frame = md.read_frame(engine, blocks)
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT id, request_id FROM prediction WHERE model_version_id = :mv"),
                                {"mv": model_version_id}).all())  # fmt: skip
    out = pd.DataFrame({"request_id": frame["id"].map(ids), "ts": frame["ts"], "score": frame["score"],
                        "predicted_label": frame["predicted_label"], "label": frame["label"]})  # fmt: skip
    numeric, categorical, cohorts = [], [], []
    for col in frame.columns:
        if col.startswith(md.FEATURE_PREFIX):
            name = col[len(md.FEATURE_PREFIX) :]
            (categorical if isinstance(frame[col].dtype, pd.CategoricalDtype) else numeric).append(name)
            out[name] = frame[col]
        elif col.startswith(md.COHORT_PREFIX):
            name = col[len(md.COHORT_PREFIX) :]
            cohorts.append(name)
            out[name] = frame[col]
    schema = dsum.SummarySchema(tuple(numeric), tuple(categorical), tuple(cohorts), sample_k)
    summary_store.fold_rows(engine, model_version_id, out, schema)
    return schema
