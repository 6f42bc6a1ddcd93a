"""Data in: import predictions, outcomes, feedback, experiment exposures and metric observations
from CSV or Parquet files (or DataFrames), validated, idempotent, audited, all or nothing.

    from services import ingest
    result = ingest.import_file(engine, actor, "predictions", "preds.parquet", progress=cb)
    result.summary()  # "1,000 rows: 990 new, 10 already known, 0 redactions, 0.4 s"

See kinds.py for the columns of each kind and problems.py for how rows are numbered.
"""

from services.ingest.kinds import KINDS, ColumnSpec, KindSpec, template_csv
from services.ingest.problems import ImportRejected, ImportResult, Problem
from services.ingest.service import import_file, import_frame, import_history

__all__ = [
    "KINDS",
    "ColumnSpec",
    "ImportRejected",
    "ImportResult",
    "KindSpec",
    "Problem",
    "import_file",
    "import_frame",
    "import_history",
    "template_csv",
]
