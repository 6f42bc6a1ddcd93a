"""The tasks over the loop's services (imported by the worker when a job of one of these kinds first
runs: a worker that only delivers notifications never loads scikit-learn). Importing it loads every
feature's request kinds (services/kinds.py), as every entry point does before its first request: these
tasks file and execute approval requests. The worker's start does not: that cost ~4 CPU-s of imports in
every worker process, most of which never run such a task."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from services import kinds
from services.core.timeutil import utcnow
from services.experiments import guard
from services.ingest import service as ingest
from services.jobs import queue
from services.models import alert_retrain as alert_retrain_service
from services.models import registry, retraining
from services.monitoring import alerts, refresh, retention, summary_admin
from services.notify import delivery, events
from services.overview import report
from worker.tasks import TaskContext

kinds.load()


def import_file(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    data = queue.blob(ctx.engine, ctx.job_id)
    result = ingest.import_file(ctx.engine, ctx.actor, p["kind"], data or b"", file_name=p.get("file_name"),
                                progress=ctx.progress)  # fmt: skip
    return {"summary": result.summary(), "import_result": dataclasses.asdict(result)}


def refresh_monitoring(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    result = refresh.refresh_monitoring(ctx.engine, ctx.progress)
    return {"summary": result.summary(), "changed": result.changed, "blocks_built": result.blocks_built}


def purge_retention(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    results = retention.purge_all(ctx.engine, ctx.actor)
    return {
        "summary": " ".join(r.summary() for r in results) or "No model has a retention policy.",
        "purged": {r.model_name: {"predictions": r.predictions, "outcomes": r.outcomes} for r in results},
    }


def rebuild_summaries(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    result = summary_admin.rebuild_summaries(ctx.engine, ctx.actor, str(p["model_name"]), int(p["version"]),
                                             ctx.progress)  # fmt: skip
    return {"summary": result.summary(), "predictions": result.predictions, "days": len(result.days)}


def evaluate_alerts(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    opened = alerts.evaluate_rules(ctx.engine, ctx.actor, p.get("model_name") or None, ctx.progress,
                                   trigger=str(p.get("trigger") or "job"))  # fmt: skip
    return {"summary": f"{len(opened)} alert(s) opened.", "alerts_opened": [a.id for a in opened]}


def check_guards(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    results = guard.evaluate_running(ctx.engine, ctx.actor, p.get("experiments"))
    return {"summary": f"{len(results)} running experiment(s) checked."}


def weekly_report(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    week = p.get("week") or report.week_of(utcnow() - timedelta(days=7))
    built = report.weekly_report(ctx.engine, ctx.actor, week)
    events.announce(ctx.engine, "report.weekly_ready", {"week": week, "champion": built.champion},
                    f"/home?week={week}")  # fmt: skip
    return {"summary": f"Weekly report {week} ready.", "week": week}


def deliver(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    counts = delivery.deliver_due(ctx.engine, progress=ctx.progress)
    return {"summary": ", ".join(f"{v} {k}" for k, v in counts.items()), **counts}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(str(text))


def retrain(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    result = retraining.retrain(ctx.engine, ctx.actor, int(p["base_version_id"]), _at(p["train_from"]),
                                _at(p["train_to"]), p.get("dataset_id"), seed=int(p.get("seed", 0)),
                                trigger=str(p.get("trigger") or "manual"), progress=ctx.progress,
                                comment=str(p.get("comment") or ""))  # fmt: skip
    return {"summary": result.summary(), "version_id": result.version.id}


def retrain_request(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    result = retraining.retrain_from_request(ctx.engine, ctx.actor, int(p["request_id"]), ctx.progress)
    if isinstance(result, retraining.ExternalRun):  # the model trains elsewhere: its pipeline was called
        return {"summary": result.summary(), "external": result.result}
    return {"summary": result.summary(), "version_id": result.version.id}


def request_retrain(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    """A scheduled retrain request: the champion of the model, on the last `window_days` days."""
    champion = registry.aliases(ctx.engine, p["model_name"]).champion
    if champion is None:
        return {"summary": f"{p['model_name']} has no champion: no retrain requested."}
    end = utcnow()
    start = end - timedelta(days=int(p.get("window_days", 28)))
    req = retraining.request_retrain(ctx.engine, ctx.actor, champion.id, start, end, p.get("dataset_id"),
                                     trigger="schedule", comment=f"Scheduled ({p.get('trigger', '')})")  # fmt: skip
    return {"summary": f"Retrain request #{req.id} filed for {p['model_name']}.", "request_id": req.id}


def alert_retrain(ctx: TaskContext, p: dict[str, Any]) -> dict[str, Any]:
    """An auto-retrain rule opened an alert: file its retrain request (or point at the open one)."""
    filed = alert_retrain_service.file_for_alert(ctx.engine, ctx.actor, int(p["alert_id"]))
    if filed is None:
        return {"summary": f"Alert #{p['alert_id']}: its rule no longer files retrain requests."}
    return {"summary": filed.message, "request_id": filed.request.id, "created": filed.created}
