"""Tables of the Models screen from service results: pure functions (no Streamlit), tested without a
browser. The registry's versions, a version's lineage, parameters and metrics, the deployment history,
and the triggers a retraining run can record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from app import figures_models as figs
from app import format as fmt
from app.format import when as _when
from services.core.schema_models import ModelVersion
from services.core.timeutil import to_utc
from services.models import registry


def _day(value: Any) -> str:
    if not value:
        return "—"
    try:
        return to_utc(datetime.fromisoformat(str(value))).strftime("%Y-%m-%d")
    except ValueError:
        return str(value)


def versions_table(versions: Iterable[ModelVersion], aliases: registry.Aliases) -> pd.DataFrame:
    """One row per version, newest first: what the registry table shows."""
    versions = list(versions)
    by_id = {v.id: v for v in versions}
    rows = []
    for v in sorted(versions, key=lambda v: -v.version):
        t, m = v.training_data or {}, v.metrics or {}
        dataset = t.get("feedback_dataset") or {}
        rows.append(
            {
                "version": f"v{v.version}",
                "alias": aliases.label(v.id),
                "status": v.status,
                "estimator": (v.params or {}).get("estimator", ""),
                "parent": f"v{by_id[v.parent_id].version}" if v.parent_id in by_id else "",
                "trigger": v.trigger or "",
                "trained from": _day(t.get("window_start")),
                "trained to": _day(t.get("window_end")),
                "feedback set": f"{dataset['name']} v{dataset['version']}" if dataset else "",
                "rows": t.get("rows"),
                "roc_auc": m.get("roc_auc"),
                "accuracy": m.get("accuracy"),
                "created": _when(v.created_at),
                "by": v.created_by,
            }
        )
    columns = ["version", "alias", "status", "estimator", "parent", "trigger", "trained from", "trained to",
               "feedback set", "rows", "roc_auc", "accuracy", "created", "by"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def lineage_table(v: ModelVersion, parent: ModelVersion | None) -> pd.DataFrame:
    t = v.training_data or {}
    dataset = t.get("feedback_dataset") or {}
    rows = [
        ("Created", f"{_when(v.created_at)} by {v.created_by}"),
        ("Trigger", v.trigger or "manual"),
        ("Parent", f"v{parent.version}" if parent else "—"),
        (
            "Training window",
            f"{_day(t.get('window_start'))} to {_day(t.get('window_end'))}"
            + (" (end excluded)" if t.get("window_end_exclusive") else ""),
        ),  # fmt: skip
        ("Training rows", f"{t['rows']:,}" if isinstance(t.get("rows"), int) else "—"),
        (
            "Validation rows",
            f"{t.get('validation_rows', t.get('holdout_rows', '—')):,}"
            if isinstance(t.get("validation_rows", t.get("holdout_rows")), int)
            else "—",
        ),  # fmt: skip
        ("Labels known by", _day(t.get("labels_known_by"))),
        (
            "Feedback training set",
            f"{dataset['name']} v{dataset['version']} (id {dataset['id']}, sha256 "
            f"{str(dataset.get('sha256', ''))[:12]}…): +{dataset.get('added', 0)} rows, "
            f"{dataset.get('overrides', 0)} labels corrected"
            if dataset
            else "none",
        ),  # fmt: skip
        ("Seed", str(t.get("seed", "—"))),
        ("Code", code_line(t.get("code"))),
        ("Approval request", f"#{t['approval_request_id']}" if t.get("approval_request_id") else "—"),
    ]
    return pd.DataFrame(rows, columns=["", "value"])


def code_line(code: Mapping[str, Any] | None) -> str:
    """Which code fitted the version: the Loopdeck commit and the library versions."""
    if not code:
        return "—"
    commit = code.get("loopdeck_commit")
    libs = ", ".join(f"{k} {v}" for k, v in code.items() if k != "loopdeck_commit" and v)
    return (f"commit {commit[:12]}; " if commit else "") + libs


def params_table(v: ModelVersion) -> pd.DataFrame:
    return pd.DataFrame([(k, str(val)) for k, val in (v.params or {}).items()], columns=["parameter", "value"])


def metrics_table(v: ModelVersion) -> pd.DataFrame:
    m = v.metrics or {}
    rows = [(k, m[k]) for k in ("accuracy", "roc_auc", "log_loss", "brier", "positive_rate") if k in m]
    return pd.DataFrame(rows, columns=["metric", "value"])


def cohort_metrics_table(v: ModelVersion) -> pd.DataFrame:
    """Per cohort metrics recorded with the version (metrics['cohorts'] or the card's metrics_by_cohort)."""
    cohorts = (v.metrics or {}).get("cohorts") or (v.model_card or {}).get("metrics_by_cohort") or {}
    rows = []
    for field_name, values in cohorts.items():
        for value, metrics in values.items():
            rows.append({"cohort": f"{field_name}={value}", **metrics})
    columns = ["cohort", "rows", "accuracy", "roc_auc", "log_loss", "brier"]
    return pd.DataFrame(rows).reindex(columns=columns) if rows else pd.DataFrame(columns=columns)


def history_frame(pairs: Iterable[tuple[Any, ModelVersion]]) -> pd.DataFrame:
    rows = []
    for d, v in pairs:
        rows.append(
            {
                "deployment_id": d.id, "version": v.version, "stage": d.stage, "traffic_share": d.traffic_share,
                "started_at": to_utc(d.started_at), "ended_at": to_utc(d.ended_at) if d.ended_at else pd.NaT,
                "started_by": d.started_by, "reason": d.reason, "request": d.approval_request_id,
                "ended_by": d.ended_by, "end_reason": d.end_reason,
            }
        )  # fmt: skip
    columns = [*figs.TIMELINE_COLUMNS, "request", "ended_by", "end_reason"]
    return pd.DataFrame(rows, columns=columns)


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """The history as text columns, newest first."""
    if history.empty:
        return pd.DataFrame(columns=["#", "version", "stage", "share", "from", "to", "request", "by", "reason"])
    h = history.iloc[::-1]
    return pd.DataFrame(
        {
            "#": h["deployment_id"].astype(int),
            "version": "v" + h["version"].astype(int).astype(str),
            "stage": h["stage"],
            "share": [f"{s:.0%}" for s in h["traffic_share"]],
            "from": [_when(t) for t in h["started_at"]],
            "to": ["serving" if pd.isna(t) else _when(t) for t in h["ended_at"]],
            "request": [f"#{int(r)}" if pd.notna(r) else "" for r in h["request"]],
            "by": h["started_by"],
            "reason": h["reason"],
        }
    )


def trigger_options(open_alerts: Iterable[Any]) -> dict[str, str]:
    """The triggers a retraining run can record: by hand, a schedule, or one of the model's unresolved alerts."""
    out = {"manual": "By hand", "schedule": "Schedule"}
    for view in open_alerts:
        out[f"alert:{view.alert.id}"] = f"Alert #{view.alert.id} ({view.alert.state}): {view.summary}"[:160]
    return out


def monitoring_params(model_name: str, version: int, tab: str | None = None, cohort: str | None = None) -> dict:
    """The Monitoring page's URL for one version: ?model=..&version=..[&tab=..][&cohort=..]."""
    params = {"model": model_name, "version": str(int(version))}
    if tab:
        params["tab"] = tab
    if cohort:
        params["cohort"] = cohort
    return params


def live_table(frame: pd.DataFrame, challenger: str, champion: str) -> pd.DataFrame:
    """services.models.live's frame as text: each metric for both with its interval, and the difference."""
    return pd.DataFrame(
        {
            "metric": frame["metric"],
            challenger: [fmt.metric_interval(v, lo, hi) for v, lo, hi in
                         zip(frame["challenger"], frame["challenger_low"], frame["challenger_high"], strict=True)],
            champion: [fmt.metric_interval(v, lo, hi) for v, lo, hi in
                       zip(frame["champion"], frame["champion_low"], frame["champion_high"], strict=True)],
            "difference": [fmt.metric(v, signed=True) for v in frame["difference"]],
        }
    )  # fmt: skip
