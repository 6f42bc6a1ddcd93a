"""The import kinds and their columns: the contract between files, the Data page and the loader.

Column types: "text", "integer", "number" (float), "timestamp" (ISO 8601; without an offset it is
taken as UTC) and, for the prediction feature columns, "number or text".
Columns whose name is `feature_<name>` (predictions) / `cohort_<name>` (predictions and exposures)
are "prefix" columns: any number of them may appear.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from services.core.errors import InvalidInput

# A cohort field of an exposure: a plain name (it becomes a key of a JSON column and a label on the page).
COHORT_FIELD_MAX = 64
# Width bounds: every step after an import (blocks, readouts, segment tables) costs per column, per
# cohort field and per cohort value, so a file cannot make them unbounded.
MAX_COLUMNS = 1000
MAX_FEATURES = 500
MAX_COHORT_FIELDS = 20
MAX_COHORT_VALUES = 1000  # distinct values of one cohort field in one file
COHORT_FIELD = re.compile(rf"[A-Za-z][A-Za-z0-9_]{{0,{COHORT_FIELD_MAX - 1}}}")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str  # text | integer | number | timestamp | number or text
    required: bool
    description: str
    prefix: bool = False  # True: `name` ends in "<name>" and stands for any column with this prefix
    max_length: int | None = None  # for text columns stored in a bounded column

    @property
    def stem(self) -> str:
        """For prefix columns, the literal prefix (e.g. "feature_")."""
        return self.name.split("<", 1)[0] if self.prefix else self.name


@dataclass(frozen=True)
class KindSpec:
    name: str
    description: str
    columns: list[ColumnSpec]
    natural_key: tuple[str, ...]  # file columns that identify a row; re-imports skip known ids
    table: str = ""  # the table the rows go to
    example: dict[str, str] = field(default_factory=dict)  # one example row for the template

    @property
    def fixed_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if not c.prefix]

    @property
    def prefix_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.prefix]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required and not c.prefix]

    def column(self, name: str) -> ColumnSpec | None:
        for c in self.fixed_columns:
            if c.name == name:
                return c
        for c in self.prefix_columns:
            if name.startswith(c.stem) and len(name) > len(c.stem):
                return c
        return None


def _c(name, type_, required, description, **kw) -> ColumnSpec:
    return ColumnSpec(name, type_, required, description, **kw)


KINDS: dict[str, KindSpec] = {
    "predictions": KindSpec(
        name="predictions",
        description="What the model predicted, one row per request (features and cohort fields included).",
        columns=[
            _c("request_id", "text", True, "Unique id of the request; the natural id of the row.", max_length=200),
            _c("model_name", "text", True, "Registered model name.", max_length=200),
            _c("model_version", "integer", True, "Registered version number of that model."),
            _c("ts", "timestamp", True, "When the prediction was made (ISO 8601; no offset means UTC)."),
            _c("score", "number", True, "Model score, between 0 and 1."),
            _c("predicted_label", "integer", True, "Predicted class."),
            _c(
                "feature_<name>",
                "number or text",
                False,
                "Any number of input features; stored without the prefix. Empty cells are left out.",
                prefix=True,
            ),
            _c(
                "cohort_<name>",
                "text",
                False,
                "Any number of cohort fields (region, platform, tier...); stored as text.",
                prefix=True,
            ),
        ],
        natural_key=("request_id",),
        table="prediction",
        example={
            "request_id": "req-000001",
            "model_name": "churn",
            "model_version": "1",
            "ts": "2024-05-01T12:00:00Z",
            "score": "0.82",
            "predicted_label": "1",
            "feature_tenure_months": "14",
            "feature_plan": "pro",
            "cohort_region": "EU",
        },
    ),
    "outcomes": KindSpec(
        name="outcomes",
        description="Delayed ground truth for earlier predictions (the prediction must be imported first).",
        columns=[
            _c("request_id", "text", True, "Request id of an imported prediction; the natural id.", max_length=200),
            _c("ts", "timestamp", True, "When the outcome became known."),
            _c("actual_label", "integer", True, "The true class."),
            _c("actual_value", "number", False, "Optional real-valued outcome (e.g. revenue)."),
        ],
        natural_key=("request_id",),
        table="outcome",
        example={"request_id": "req-000001", "ts": "2024-05-08T09:30:00Z", "actual_label": "1", "actual_value": "49.9"},
    ),
    "feedback": KindSpec(
        name="feedback",
        description="User or reviewer feedback; the text is PII-redacted before it is stored.",
        columns=[
            _c("feedback_id", "text", True, "Unique id of the feedback item; the natural id.", max_length=200),
            _c("ts", "timestamp", True, "When the feedback was given."),
            _c(
                "request_id",
                "text",
                False,
                "Request id of the prediction it is about (must be imported).",
                max_length=200,
            ),
            _c("source", "text", True, "Where it came from (app, support, reviewer...).", max_length=100),
            _c("rating", "integer", False, "Rating from 1 to 5."),
            _c("text", "text", True, "Free text (may be empty); e-mails, phones, cards, IBANs are redacted."),
            _c("corrected_label", "integer", False, "The label the user says is right."),
            _c("category", "text", False, "Category, if already known.", max_length=100),
        ],
        natural_key=("feedback_id",),
        table="feedback",
        example={
            "feedback_id": "fb-0001",
            "ts": "2024-05-02T08:15:00Z",
            "request_id": "req-000001",
            "source": "app",
            "rating": "2",
            "text": "Wrong offer again, call me on +44 20 7946 0958",
            "corrected_label": "0",
            "category": "wrong_prediction",
        },
    ),
    "exposures": KindSpec(
        name="exposures",
        description="Which unit saw which variant of an experiment, with the unit's cohort fields "
        "(results by segment).",
        columns=[
            _c("experiment_key", "text", True, "Key of an existing experiment.", max_length=200),
            _c("unit_id", "text", True, "The randomisation unit (user, session...).", max_length=200),
            _c("variant", "text", True, "One of the experiment's variant keys.", max_length=100),
            _c("ts", "timestamp", True, "First exposure time."),
            _c(
                "cohort_<name>",
                "text",
                False,
                "Any number of cohort fields of the unit (platform, region, tier...), for results by segment; "
                "stored as text without the prefix. The name: a letter, then letters, digits or _ "
                f"(at most {COHORT_FIELD_MAX} characters). Empty cells are left out.",
                prefix=True,
            ),
            _c("segment", "text", False, "Legacy: the same as a cohort_segment column.", max_length=200),
        ],
        natural_key=("experiment_key", "unit_id", "variant"),
        table="exposure",
        example={
            "experiment_key": "exp-retention-offer",
            "unit_id": "user-42",
            "variant": "treatment",
            "ts": "2024-05-03T10:00:00Z",
            "cohort_platform": "ios",
            "cohort_region": "EU",
            "cohort_tier": "pro",
        },
    ),
    "metrics": KindSpec(
        name="metrics",
        description="Experiment metric observations: one unit's value of one metric (pre_value enables CUPED).",
        columns=[
            _c("experiment_key", "text", True, "Key of an existing experiment.", max_length=200),
            _c("unit_id", "text", True, "The randomisation unit.", max_length=200),
            _c("metric", "text", True, "Metric name.", max_length=200),
            _c("value", "number", True, "The unit's value in the experiment period."),
            _c("pre_value", "number", False, "The unit's value before the experiment (for CUPED)."),
            _c("ts", "timestamp", False, "When it was measured."),
        ],
        natural_key=("experiment_key", "unit_id", "metric"),
        table="metric_observation",
        example={
            "experiment_key": "exp-retention-offer",
            "unit_id": "user-42",
            "metric": "converted",
            "value": "1",
            "pre_value": "0",
            "ts": "2024-05-10T00:00:00Z",
        },
    ),
}


def template_csv(kind: str) -> bytes:
    """Header and one example row for `kind` (UTF-8 CSV), for a download button."""
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidInput(f"Unknown import kind {kind!r}; expected one of: {', '.join(KINDS)}.")
    header = [c.name for c in spec.fixed_columns]
    header += [k for k in spec.example if k not in header]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerow([spec.example.get(h, "") for h in header])
    return buffer.getvalue().encode("utf-8")
