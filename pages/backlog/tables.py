"""Tables and labels of the Backlog screen: pure functions (no Streamlit), tested without a browser."""

from __future__ import annotations

import pandas as pd

from app import format as fmt
from app.backlog_form import kind_label as _kind
from services.backlog import scoring

PAGE_OF_EVIDENCE = {
    "alert": "pages/monitoring/page.py", "drift": "pages/monitoring/page.py", "cohort_gap": "pages/monitoring/page.py",
    "theme": "pages/feedback/page.py", "feedback": "pages/feedback/page.py", "experiment": "pages/experiments/page.py",
    "judge_gate": "pages/models/page.py",
}  # fmt: skip
STATUS_LABELS = {"proposed": "Proposed", "planned": "Planned", "in_progress": "In progress", "done": "Done",
                 "dropped": "Dropped"}  # fmt: skip
IMPACT_OPTIONS = list(scoring.IMPACT_SCALE)
ANYONE = "Anyone"


def num(value: float | None, digits: str = ".4g") -> str:
    return fmt.DASH if value is None or pd.isna(value) else format(value, digits)


def items_frame(items: list) -> pd.DataFrame:
    """The ranked table as shown: rank, id, title, kind, status, owner, score, method, reach."""
    rows = [
        {"rank": i + 1, "id": it.id, "title": it.title, "kind": _kind(it.kind),
         "status": STATUS_LABELS.get(it.status, it.status), "owner": it.owner or "", "score": it.score,
         "method": it.scoring.upper(), "reach / week": it.reach, "created": it.created_at}
        for i, it in enumerate(items)
    ]  # fmt: skip
    columns = ["rank", "id", "title", "kind", "status", "owner", "score", "method", "reach / week", "created"]
    return pd.DataFrame(rows, columns=columns)
