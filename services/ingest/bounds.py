"""How wide an import may be: every step after it (blocks, readouts, segment tables) costs per column,
per cohort field and per cohort value, so the width is capped with a message that says by how much."""

from __future__ import annotations

from services.ingest.kinds import MAX_COHORT_FIELDS, MAX_COLUMNS, MAX_FEATURES
from services.ingest.problems import ProblemLog


def check_width(columns: list[str], log: ProblemLog) -> bool:
    """False (with the problem logged) when the file has more columns than any import may have; the
    header is then not read column by column."""
    if len(columns) > MAX_COLUMNS:
        log.add(f"the file has {len(columns):,} columns; an import may have at most {MAX_COLUMNS:,}")
        return False
    return True


def check_header_width(features: int, cohorts: int, log: ProblemLog) -> None:
    """Too many feature_ or cohort_ columns (the counts of the file's header)."""
    if features > MAX_FEATURES:
        log.add(f"the file has {features:,} feature_ columns; at most {MAX_FEATURES:,} are allowed")
    if cohorts > MAX_COHORT_FIELDS:
        log.add(f"the file has {cohorts:,} cohort_ columns; at most {MAX_COHORT_FIELDS} are allowed")
