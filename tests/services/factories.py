"""Small, explicit rows for service tests (the import services and the demo have their own tests)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.core.db import write_session
from services.core.schema_feedback import Feedback
from services.core.schema_ingest import Outcome, Prediction
from services.core.schema_models import ModelVersion
from services.core.timeutil import utcnow


def model_version(engine, name: str = "churn", version: int = 1) -> int:
    with write_session(engine) as session:
        mv = ModelVersion(model_name=name, version=version, created_by="test")
        session.add(mv)
        session.flush()
        return mv.id


def predictions(engine, model_version_id: int, n: int, start: datetime | None = None, **cohorts) -> list[str]:
    start = start or utcnow() - timedelta(days=10)
    ids = []
    with write_session(engine) as session:
        for i in range(n):
            request_id = f"req-{model_version_id}-{i}"
            session.add(
                Prediction(
                    request_id=request_id, model_version_id=model_version_id, ts=start + timedelta(hours=i),
                    score=(i % 10) / 10, predicted_label=int(i % 10 >= 5), features={"x": i, "plan": "pro"},
                    cohorts={"platform": "ios" if i % 2 else "web", **cohorts},
                )
            )  # fmt: skip
            ids.append(request_id)
    return ids


def outcome(engine, request_id: str, label: int) -> None:
    with write_session(engine) as session:
        session.add(Outcome(request_id=request_id, ts=utcnow(), actual_label=label))


def feedback(engine, n: int, request_ids: list[str] | None = None, age_days: float = 0, **values) -> list[int]:
    pks = []
    with write_session(engine) as session:
        for i in range(n):
            item = Feedback(
                feedback_id=f"fb-{values.get('source', 'app')}-{age_days}-{i}",
                request_id=request_ids[i % len(request_ids)] if request_ids else None,
                ts=utcnow() - timedelta(days=age_days, minutes=i),
                source=values.get("source", "app"), rating=values.get("rating", 1 + i % 5),
                text=values.get("text", f"feedback number {i}"), status=values.get("status", "new"),
                corrected_label=values.get("corrected_label"),
            )  # fmt: skip
            session.add(item)
            session.flush()
            pks.append(item.id)
    return pks
