"""The Models and Approvals pages: pure helpers first (tables from service results, tested without a
browser), then the background retraining jobs, then the views (`render_models`, `render_approvals`,
called by the thin pages/models/page.py and pages/approvals/page.py).

Retraining runs in a background thread, and the page polls it with st.fragment(run_every=...):
a fit takes seconds to minutes, and a script run that waited for it (st.status with progress) would
hold the session: every click during the fit would interrupt the run (and with it the fit) or queue
behind it. The thread calls only the service (never Streamlit); its progress goes to a job in the
process-wide board of app/jobs.py (shared with the Data page's imports); a fragment redraws the progress bar and,
once the job is over, reruns the page so the new version shows everywhere. Jobs are per user: a
second browser tab of the same user sees the same run.

User text (comments, reasons, model card fields, e-mails) is shown only through plain-text elements
(st.text, dataframes, widget values) or escaped for markdown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_models as figs
from app import format as fmt
from app import widgets
from app.jobs import Job, job_board, progress_panel
from services.core import settings
from services.core.errors import LoopdeckError
from services.core.roles import Actor, Role
from services.core.schema import ApprovalRequest, ModelVersion
from services.core.timeutil import to_utc, utcnow
from services.feedback import training_sets
from services.governance import approvals
from services.models import judge, registry, retraining, rollout
from services.monitoring import alerts

MODEL_VIEWS = ("Registry", "Deployments", "Retrain", "Judge")
APPROVAL_VIEWS = ("Awaiting me", "All requests", "Rules")
KIND_LABELS = {
    "promote": "Promote to full traffic",
    "canary": "Canary / shadow",
    "rollback": "Roll back",
    "retrain": "Retrain",
    "stop-experiment": "Stop experiment",
}
STATUS_ICONS = {"pending": "⏳", "approved": "✅", "rejected": "⛔", "executed": "🚀", "cancelled": "✖️"}
GATE_ICONS = {"pass": "✅ pass", "fail": "❌ fail", "not checked": "➖ not checked"}
CARD_FIELDS = (
    ("summary", "Summary"),
    ("intended_use", "Intended use"),
    ("training_data", "Training data"),
    ("evaluation", "Evaluation"),
    ("limitations", "Known limitations"),
    ("ethical_considerations", "Ethical considerations"),
    ("owner", "Owner"),
    ("retraining_note", "Why it was retrained"),
)
EDITABLE_CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "owner")

K_MODEL, K_VIEW, K_VERSION = "mdl_model", "mdl_view", "mdl_version"
K_JOB, K_PANEL = "mdl_job", "mdl_panel"
K_APR_VIEW, K_APR_SELECTED, K_CONFIRM = "apr_view", "apr_selected", "apr_confirm"


# --- pure helpers ------------------------------------------------------------------------------


def md_escape(text: Any) -> str:
    """User text inside a markdown element: every markdown/HTML control character escaped."""
    out = []
    for ch in str(text):
        if ch in "\\`*_{}[]()#+-.!|<>~$:":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out).replace("\n", " ")


def _day(value: Any) -> str:
    if not value:
        return "—"
    try:
        return to_utc(datetime.fromisoformat(str(value))).strftime("%Y-%m-%d")
    except ValueError:
        return str(value)


def _when(value: datetime | None) -> str:
    return to_utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def version_label(v: ModelVersion) -> str:
    return f"v{v.version}"


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


def thresholds_table(config: judge.JudgeConfig) -> pd.DataFrame:
    rows = []
    for scope, thresholds in (("overall", config.thresholds), ("cohort", config.cohort_thresholds)):
        for metric, t in thresholds.items():
            rows.append(
                {"scope": scope, "metric": metric, "min_absolute_change": t.min_absolute_change,
                 "min_relative_change": t.min_relative_change, "threshold": t.threshold,
                 "greater_is_better": t.greater_is_better}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=["scope", "metric", "min_absolute_change", "min_relative_change", "threshold",
                                       "greater_is_better"])  # fmt: skip


def config_from_table(table: pd.DataFrame, base: judge.JudgeConfig) -> judge.JudgeConfig:
    parts: dict[str, dict[str, Any]] = {"overall": {}, "cohort": {}}
    for row in table.to_dict("records"):
        scope, metric = str(row.get("scope") or "").strip(), str(row.get("metric") or "").strip()
        if not metric:
            continue
        if scope not in parts:
            raise LoopdeckError(f"Scope is overall or cohort, not {scope!r}.")
        parts[scope][metric] = {k: row.get(k) for k in ("threshold", "min_absolute_change", "min_relative_change",
                                                       "greater_is_better")}  # fmt: skip
    parsed = judge.parse_thresholds(parts)
    return replace(base, thresholds=parsed["overall"], cohort_thresholds=parsed["cohort"])


def gate_option(gate: judge.Gate) -> str:
    """A failed gate in the backlog chooser: scope, metric, rule and both values."""
    return f"{gate.scope}: {gate.rule} (candidate {gate.candidate:.4f}, champion {gate.champion:.4f})"


def gate_backlog_key(panel: judge.JudgePanel, gate: judge.Gate) -> str:
    """The key of the backlog form for one gate (stable across reruns of the same panel, distinct per gate)."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in f"{gate.scope}_{gate.metric}_{gate.rule}")
    return f"jd_{panel.candidate.id}_{panel.champion.id}_{slug}"


def gate_backlog_description(panel: judge.JudgePanel, gate: judge.Gate) -> str:
    h = panel.holdout
    return (
        f"The judge's {gate.metric} gate ({gate.scope}) failed for {panel.candidate.label} against "
        f"{panel.champion.label}: {gate.rule}; candidate {gate.candidate:.4f}, champion {gate.champion:.4f}"
        + (f" ({gate.note})" if gate.note else "")
        + f". Holdout: {h.rows:,} labelled predictions after {_when(h.start)}; judged {_when(panel.computed_at)}."
    )


def gates_table(gates: pd.DataFrame) -> pd.DataFrame:
    out = gates.copy()
    out["result"] = [GATE_ICONS.get(r, r) for r in out["result"]]
    return out


def overall_metrics_table(frame: pd.DataFrame) -> pd.DataFrame:
    part = frame[frame["scope"] == "overall"]
    return pd.DataFrame(
        {
            "metric": part["metric"],
            "candidate": [f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                          zip(part["candidate"], part["candidate_low"], part["candidate_high"], strict=True)],
            "champion": [f"{v:.4f} [{lo:.4f}, {hi:.4f}]" for v, lo, hi in
                         zip(part["champion"], part["champion_low"], part["champion_high"], strict=True)],
            "difference": [f"{v:+.4f} [{lo:+.4f}, {hi:+.4f}]" for v, lo, hi in
                           zip(part["difference"], part["diff_low"], part["diff_high"], strict=True)],
            "p": [_p(v) for v in part["p_value"]],
            "test": part["test"],
        }
    )  # fmt: skip


def cohort_metrics_compare(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    part = frame[(frame["metric"] == metric) & (frame["scope"] != "overall")]
    return pd.DataFrame(
        {
            "cohort": part["scope"], "rows": part["rows"], "candidate": part["candidate"].round(4),
            "champion": part["champion"].round(4), "difference": part["difference"].round(4),
            "95% CI": [f"[{lo:+.3f}, {hi:+.3f}]" for lo, hi in zip(part["diff_low"], part["diff_high"], strict=True)],
            "p": [_p(v) for v in part["p_value"]],
        }
    )  # fmt: skip


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def subject_label(request: ApprovalRequest, versions: Mapping[int, ModelVersion]) -> str:
    if request.subject_type == "model_version":
        v = versions.get(int(request.subject_id))
        return f"{v.model_name} v{v.version}" if v else f"model version {request.subject_id}"
    if request.subject_type == "model":
        return f"model {request.subject_id}"
    return f"experiment {request.subject_id}"


def requests_table(rows: Iterable[ApprovalRequest], versions: Mapping[int, ModelVersion]) -> pd.DataFrame:
    data = [
        {
            "#": r.id, "kind": r.kind, "subject": subject_label(r, versions),
            "status": f"{STATUS_ICONS.get(r.status, '')} {r.status}", "requested by": r.requested_by,
            "requested": _when(r.requested_at), "approvals needed": r.required_approvals,
            "executed": f"{_when(r.executed_at)} by {r.executed_by}" if r.executed_at else "",
            "comment": r.comment,
        }
        for r in rows
    ]  # fmt: skip
    columns = ["#", "kind", "subject", "status", "requested by", "requested", "approvals needed", "executed",
               "comment"]  # fmt: skip
    return pd.DataFrame(data, columns=columns)


def decisions_table(decisions: Iterable[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"who": d.actor, "verdict": d.verdict, "when": _when(d.ts), "valid": "yes" if d.valid else "reset",
          "comment": d.comment} for d in decisions],
        columns=["who", "verdict", "when", "valid", "comment"],
    )  # fmt: skip


def evidence_gates(evidence: Mapping[str, Any] | None) -> pd.DataFrame | None:
    if not evidence or evidence.get("kind") != "judge_panel":
        return None
    gates = pd.DataFrame(evidence.get("gates") or [])
    if gates.empty:
        return gates
    return gates_table(gates)


def trigger_options(open_alerts: Iterable[Any]) -> dict[str, str]:
    """The triggers a retraining run can record: by hand, a schedule, or one of the model's unresolved alerts."""
    out = {"manual": "By hand", "schedule": "Schedule"}
    for view in open_alerts:
        out[f"alert:{view.alert.id}"] = f"Alert #{view.alert.id} ({view.alert.state}): {view.summary}"[:160]
    return out


def payload_lines(request: ApprovalRequest) -> list[str]:
    p = request.payload or {}
    if request.kind == "canary":
        stage = p.get("stage", "canary")
        rail = p.get("guardrail") or {}
        guard = (
            f"; guard rail: {rail.get('metric', 'accuracy')} at most {rail['max_drop']:g} below the champion"
            if rail.get("max_drop") is not None
            else ""
        )
        return [f"stage {stage}" + ("" if stage == "shadow" else f", {float(p.get('traffic_share', 0)):.0%}")
                + guard]  # fmt: skip
    if request.kind == "rollback":
        if p.get("end_deployment_id"):
            return [f"end deployment #{p['end_deployment_id']}"]
        return [f"back to v{p.get('to_version', '?')}"]
    if request.kind == "retrain":
        return [f"base version id {p.get('base_version_id')}, window {p.get('train_from', '')[:10]} to "
                f"{p.get('train_to', '')[:10]}, dataset {p.get('dataset_id') or 'none'}, trigger "
                f"{p.get('trigger', 'manual')}"]  # fmt: skip
    return [f"{k}: {v}" for k, v in p.items()]


# --- background jobs -----------------------------------------------------------------------------


def start_retrain(me: Actor, label: str, kind: str, payload: dict[str, Any]) -> Job:
    """Queue a retraining job for the worker (kinds models.retrain and models.retrain_request)."""
    job = job_board().enqueue(me, kind, payload, label)
    st.session_state[K_JOB] = job.id
    return job


def job_status() -> None:
    """The latest retraining job of this session: polled while it runs, its outcome once it is over."""
    job = job_board().get(st.session_state.get(K_JOB))
    if job is None:
        return
    if not job.done:
        progress_panel(K_JOB)
        return
    if job.error is not None:
        st.error(f"{job.label} failed: {fmt.md_escape(str(job.error))}")
    elif job.crash is not None:
        st.error(f"{job.label} failed unexpectedly: {fmt.md_escape(job.crash)}")
    else:
        st.success(job.value.summary())
    if st.button("Dismiss", key=f"mdl_job_dismiss_{job.id}"):
        st.session_state.pop(K_JOB, None)
        st.rerun()


# --- the Models page ---------------------------------------------------------------------------


@dataclass
class ModelsPage:
    me: Actor
    engine: Engine
    model_name: str
    versions: list[ModelVersion]
    aliases: registry.Aliases

    @property
    def by_id(self) -> dict[int, ModelVersion]:
        return {v.id: v for v in self.versions}

    @property
    def can_request(self) -> bool:
        return self.me.can(Role.analyst)


def render_models(me: Actor, engine: Engine) -> None:
    st.title("Models")
    names = registry.model_names(engine)
    if not names:
        st.info("No model versions yet. Register one with the registry service or load the demo "
                "(`python -m services init-db --demo`).")  # fmt: skip
        return
    top = st.columns([2, 3, 2], vertical_alignment="bottom")
    model_name = top[0].selectbox("Model", names, key=K_MODEL)
    aliases = registry.aliases(engine, model_name)
    with top[1]:
        _alias_line(aliases)
    awaiting = approvals.count_awaiting(engine, me)
    if awaiting:
        label = f"Approvals awaiting you: {awaiting}"
        top[2].page_link("pages/approvals/page.py", label=label, icon=":material/approval:")
    page = ModelsPage(me, engine, model_name, registry.list_versions(engine, model_name), aliases)
    job_status()
    view = st.segmented_control("View", MODEL_VIEWS, default="Registry", required=True, key=K_VIEW,
                                label_visibility="collapsed") or "Registry"  # fmt: skip
    {"Registry": _registry, "Deployments": _deployments, "Retrain": _retrain, "Judge": _judge}[view](page)


def _alias_line(a: registry.Aliases) -> None:
    if a.champion is None:
        st.markdown("**Champion:** none (nothing serves full traffic)")
        return
    routing_parts = [f"**Champion:** v{a.champion.version}"]
    for v, d in a.challengers:
        share = "0% (shadow)" if d.stage == "shadow" else f"{d.traffic_share:.0%}"
        routing_parts.append(f"**challenger:** v{v.version} {d.stage} {share}")
    st.markdown(" · ".join(routing_parts))


def _registry(p: ModelsPage) -> None:
    table = versions_table(p.versions, p.aliases)
    st.dataframe(
        table, hide_index=True, width="stretch", key="mdl_versions_table",
        column_config={"roc_auc": st.column_config.NumberColumn("ROC AUC", format="%.4f"),
                       "accuracy": st.column_config.NumberColumn(format="%.4f"),
                       "rows": st.column_config.NumberColumn(format="%d")},
    )  # fmt: skip
    ids = [v.id for v in sorted(p.versions, key=lambda v: -v.version)]
    chosen = st.selectbox("Version", ids, format_func=lambda i: _version_option(p, i), key=K_VERSION)
    v = p.by_id.get(chosen)
    if v is None:
        return
    parent = p.by_id.get(v.parent_id) if v.parent_id else None
    st.subheader(f"{v.model_name} v{v.version}")
    alias = p.aliases.label(v.id)
    st.caption(f"Status: {v.status}" + (f" · alias: {alias}" if alias else ""))
    left, right = st.columns(2)
    with left:
        st.markdown("**Lineage**")
        st.dataframe(lineage_table(v, parent), hide_index=True, width="stretch", key="mdl_lineage")
        st.markdown("**Parameters** (code: the base pipeline cloned with `sklearn.base.clone`)")
        st.dataframe(params_table(v), hide_index=True, width="stretch", key="mdl_params", height=220)
    with right:
        st.markdown("**Evaluation metrics** (recorded at training)")
        st.dataframe(metrics_table(v), hide_index=True, width="stretch", key="mdl_metrics")
        cohorts = cohort_metrics_table(v)
        if not cohorts.empty:
            st.markdown("**Per cohort**")
            st.dataframe(cohorts, hide_index=True, width="stretch", key="mdl_cohort_metrics")
        _artifact(p, v)
    _model_card(p, v)


def _version_option(p: ModelsPage, version_id: int) -> str:
    v = p.by_id[version_id]
    alias = p.aliases.label(v.id)
    return f"v{v.version} · {v.status}" + (f" · {alias}" if alias and alias != v.status else "")


def _artifact(p: ModelsPage, v: ModelVersion) -> None:
    st.markdown("**Artifact** (skops; never pickle)")
    st.text(f"sha256 {v.artifact_sha256 or '—'}\n{v.artifact_uri or '—'}")
    hint = "Re-reads the file and loads it the way serving does: checksum first, then the skops types."
    if st.button("Verify artifact", key=f"mdl_verify_{v.id}", icon=":material/verified:", help=hint):
        check = registry.verify_artifact(p.engine, v.id)
        (st.success if check.ok else st.error)(check.message)


def _model_card(p: ModelsPage, v: ModelVersion) -> None:
    card = v.model_card or {}
    with st.expander("Model card", expanded=True):
        for key, title in CARD_FIELDS:
            if card.get(key):
                st.markdown(f"**{title}**")
                st.text(str(card[key]))
        cohorts = cohort_metrics_table(v)
        if cohorts.empty:
            st.caption("Metrics per cohort were not recorded with this version; the Judge view measures them on a "
                       "holdout.")  # fmt: skip
    if not p.can_request:
        return
    with st.expander("Edit the model card"):
        values = {}
        for key in EDITABLE_CARD_FIELDS:
            title = dict(CARD_FIELDS)[key]
            values[key] = st.text_area(title, value=str(card.get(key, "")), key=f"mdl_card_{v.id}_{key}", height=80)
        if st.button("Save the model card", key=f"mdl_card_save_{v.id}"):
            widgets.attempt(lambda: registry.update_model_card(p.engine, p.me, v.id, values),
                            f"Model card of v{v.version} saved.")  # fmt: skip


def _deployments(p: ModelsPage) -> None:
    history = history_frame(rollout.history_with_versions(p.engine, p.model_name))
    st.plotly_chart(figs.deployment_timeline(history, utcnow()), key="mdl_timeline", width="stretch")
    st.markdown("**Deployment history** (never overwritten: a deployment that stops gets an end time)")
    st.dataframe(history_table(history), hide_index=True, width="stretch", key="mdl_history")
    routing = rollout.current_routing(p.engine, p.model_name)
    with st.expander("Routing now (what production reads: `python -m services routing --json`)"):
        st.json(routing.as_dict())
    if not p.can_request:
        return
    left, right = st.columns(2)
    with left:
        st.markdown("**Request a rollback**")
        target = registry.previous_champion(p.engine, p.model_name)
        champion = p.aliases.champion
        options = [v.id for v in sorted(p.versions, key=lambda v: -v.version) if not champion or v.id != champion.id]
        if not options:
            st.caption("There is no other version to roll back to.")
        else:
            default = options.index(target.id) if target and target.id in options else 0
            to = st.selectbox("Back to", options, index=default, key="mdl_rollback_to",
                              format_func=lambda i: f"v{p.by_id[i].version}"
                              + (" (previous champion)" if target and i == target.id else ""))  # fmt: skip
            reason = st.text_input("Why", key="mdl_rollback_reason", placeholder="e.g. v3 hurts the web cohort")
            if st.button("Request rollback", key="mdl_rollback_request", icon=":material/undo:"):
                widgets.attempt(
                    lambda: rollout.request_rollback(p.engine, p.me, p.model_name, reason, to_version_id=to),
                    lambda r: f"Rollback requested (#{r.id}); an approver decides on the Approvals page.",
                )  # fmt: skip
    with right:
        canaries = [(v, d) for v, d in p.aliases.challengers]
        st.markdown("**Challengers**")
        if not canaries:
            st.caption("No canary or shadow is serving.")
        for v, d in canaries:
            metric, drop, source = rollout.stage_guardrail(p.engine, d)
            st.text(f"v{v.version}: {d.stage} {d.traffic_share:.0%} since {_when(d.started_at)} (deployment #{d.id}); "
                    f"guard rail: {metric} at most {drop:g} below the champion"
                    + (" (default)" if source == "default" else ""))  # fmt: skip
        if canaries:
            end = st.selectbox("End one", [d.id for _, d in canaries], key="mdl_end_canary",
                               format_func=lambda i: f"deployment #{i}")  # fmt: skip
            why = st.text_input("Why", key="mdl_end_reason")
            if st.button("Request to end it", key="mdl_end_request"):
                widgets.attempt(
                    lambda: rollout.request_rollback(p.engine, p.me, p.model_name, why, end_deployment_id=end),
                    lambda r: f"Requested (#{r.id}).",
                )  # fmt: skip
            cols = st.columns(2)
            if cols[0].button("Record shadow scores", key="mdl_shadow_scores"):
                widgets.attempt(lambda: rollout.record_shadow_scores(p.engine, p.me, p.model_name),
                                lambda n: f"{n:,} shadow scores recorded.", rerun=False)  # fmt: skip
            if cols[1].button("Check guard rails", key="mdl_guardrails"):
                checks = widgets.attempt(lambda: rollout.check_guardrails(p.engine, p.me, p.model_name), rerun=False)
                for c in checks or []:
                    (st.error if c.breached else st.info)(c.message())


def _retrain(p: ModelsPage) -> None:
    st.caption(
        "A candidate is the base version's pipeline cloned (same family, preprocessing and parameters), fitted on "
        "the predictions of the window whose outcome is known, with the corrected labels of a feedback training set, "
        "seeded. It runs in the background: keep working while it fits."
    )
    if not p.can_request:
        st.info("Retraining needs the analyst role.")
        return
    suggestion = retraining.suggest_window(p.engine, p.model_name)
    datasets = training_sets.list_datasets(p.engine)
    model_alerts = [a for a in alerts.list_alerts(p.engine, model_name=p.model_name, limit=50)
                    if a.alert.state != "resolved"]  # fmt: skip
    champion = p.aliases.champion
    ids = [v.id for v in sorted(p.versions, key=lambda v: -v.version)]
    with st.form("mdl_retrain_form"):
        base = st.selectbox("Base version", ids, index=ids.index(champion.id) if champion else 0,
                            format_func=lambda i: _version_option(p, i), key="mdl_rt_base")  # fmt: skip
        c1, c2 = st.columns(2)
        start = c1.date_input("Train from (UTC)", value=suggestion.train_from.date() if suggestion.train_from else None,
                              key="mdl_rt_from")  # fmt: skip
        end = c2.date_input("Train to (UTC, excluded)",
                            value=suggestion.train_to.date() if suggestion.train_to else None, key="mdl_rt_to",
                            help="Leave time after the window: the judge's holdout comes after it.")  # fmt: skip
        dataset = st.selectbox("Feedback training set", [None, *[d.id for d in datasets]], key="mdl_rt_dataset",
                               format_func=lambda i: "none" if i is None else _dataset_label(datasets, i))  # fmt: skip
        c3, c4 = st.columns(2)
        seed = c3.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="mdl_rt_seed")
        triggers = trigger_options(model_alerts)
        trigger = c4.selectbox("Trigger", list(triggers), format_func=lambda t: triggers[t], key="mdl_rt_trigger",
                               help="Recorded with the new version: by hand, a schedule, or the alert that "
                                    "prompted it (its evidence is attached to a request).")  # fmt: skip
        comment = st.text_area("Why (kept in the model card; required to request approval)", key="mdl_rt_comment")
        b1, b2 = st.columns(2)
        submitted = b1.form_submit_button("Start retraining", type="primary", key="mdl_rt_submit")
        requested = b2.form_submit_button(
            "Request approval to retrain",
            key="mdl_rt_request",
            help="An approver approves it; then it runs from the Approvals page.",
        )
    if submitted:
        _start_retrain(p, base, start, end, dataset, int(seed), trigger, comment)
    if requested:
        _request_retrain(p, base, start, end, dataset, int(seed), trigger, comment)


def _dataset_label(datasets: list[Any], dataset_id: int) -> str:
    d = next((d for d in datasets if d.id == dataset_id), None)
    return f"{d.name} v{d.version} ({d.item_count:,} labels)" if d else str(dataset_id)


def _as_utc(day: date | None) -> datetime | None:
    return datetime.combine(day, dtime(0, 0), tzinfo=UTC) if day else None


def _request_retrain(p: ModelsPage, base: int, start: date | None, end: date | None, dataset: int | None,
                     seed: int, trigger: str, comment: str) -> None:  # fmt: skip
    if start is None or end is None:
        st.error("Choose both ends of the training window.")
        return
    widgets.attempt(
        lambda: retraining.request_retrain(p.engine, p.me, base, _as_utc(start), _as_utc(end), dataset, seed=seed,
                                           trigger=trigger, comment=comment),
        lambda r: f"Retraining requested (#{r.id}); once approved it runs from the Approvals page.",
    )  # fmt: skip


def _start_retrain(p: ModelsPage, base: int, start: date | None, end: date | None, dataset: int | None, seed: int,
                   trigger: str, comment: str = "") -> None:  # fmt: skip
    if start is None or end is None:
        st.error("Choose both ends of the training window.")
        return
    running = [j for j in job_board().of(p.me.label) if not j.done]
    if running:
        st.warning("Your previous retraining run is still going; wait for it to finish.")
        return
    me = p.me
    label = f"Retraining {p.model_name} from v{p.by_id[base].version}"
    payload = {"base_version_id": base, "train_from": _as_utc(start).isoformat(), "train_to": _as_utc(end).isoformat(),
               "dataset_id": dataset, "seed": seed, "trigger": trigger, "comment": comment}  # fmt: skip
    start_retrain(me, label, "models.retrain", payload)
    st.rerun()


def _judge(p: ModelsPage) -> None:
    champion = p.aliases.champion
    others = [v for v in sorted(p.versions, key=lambda v: -v.version) if not champion or v.id != champion.id]
    if champion is None or not others:
        st.info("The judge compares a candidate with the champion: it needs a champion and another version.")
        return
    c1, c2, c3 = st.columns([2, 2, 1])
    candidate = c1.selectbox("Candidate", [v.id for v in others], key="mdl_jd_candidate",
                             format_func=lambda i: _version_option(p, i))  # fmt: skip
    against = c2.selectbox("Against", [champion.id] + [v.id for v in others if v.id != candidate],
                           key="mdl_jd_champion", format_func=lambda i: _version_option(p, i))  # fmt: skip
    resamples = c3.selectbox("Resamples", [200, 1000, 2000], index=1, key="mdl_jd_resamples")
    base = judge.config_from_settings(p.engine)
    with st.expander("Gates (no-regression rule, as MLflow's MetricThreshold)"):
        st.caption(
            "min_absolute_change / min_relative_change: how much better than the champion the candidate must be; "
            "a negative value allows that much regression. Overall gates read the point estimates; a cohort gate "
            f"fails only when the difference is also significant (p < {base.cohort_alpha})."
        )
        edited = st.data_editor(thresholds_table(base), hide_index=True, num_rows="dynamic", key="mdl_jd_thresholds",
                                width="stretch")  # fmt: skip
        if p.me.can(Role.admin):
            if st.button("Save these gates as everyone's default", key="mdl_jd_save_gates",
                         help="An admin setting (audited); each run can still change them here."):  # fmt: skip
                widgets.attempt(
                    lambda: settings.set_value(p.engine, p.me, judge.SETTING_KEY,
                                               judge.thresholds_setting_value(config_from_table(edited, base))),
                    "Default gates saved.",
                )  # fmt: skip
        else:
            st.caption("Changes here apply to this run; an admin sets the defaults.")
    if st.button("Run the judge", type="primary", key="mdl_jd_run", icon=":material/balance:"):
        try:
            config = replace(config_from_table(edited, base), n_resamples=int(resamples))
            with st.spinner("Scoring the holdout with both versions and bootstrapping ..."):
                panel = judge.judge(p.engine, candidate, against, config=config)
        except LoopdeckError as exc:
            st.error(str(exc))
            return
        st.session_state[K_PANEL] = panel
    panel: judge.JudgePanel | None = st.session_state.get(K_PANEL)
    if panel is None or panel.candidate.id != candidate or panel.champion.id != against:
        st.caption("Choose the versions and run the judge: both score the same holdout, after both training windows.")
        return
    _panel(p, panel)


def _panel(p: ModelsPage, panel: judge.JudgePanel) -> None:
    h = panel.holdout
    verdict = {"pass": st.success, "fail": st.error}.get(panel.verdict, st.warning)
    verdict(f"Verdict: {panel.verdict.upper()}. {panel.headline()}")
    st.caption(
        f"Holdout: {h.rows:,} labelled predictions after {_when(h.start)}"
        + (f" and before {_when(h.end)}" if h.end else "")
        + f" ({h.positives:,} churned), never seen by either version. {panel.comparison.n_resamples} paired "
        f"bootstrap resamples, seed {panel.comparison.seed}; {panel.seconds:.1f} s."
    )
    st.markdown("**Gates**")
    st.dataframe(gates_table(panel.gates_frame()), hide_index=True, width="stretch", key="mdl_jd_gates",
                 column_config={"candidate": st.column_config.NumberColumn(format="%.4f"),
                                "champion": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip
    if panel.failed and p.can_request:
        _failed_gate_to_backlog(p, panel)
    frame = panel.metrics_frame()
    st.markdown("**Overall** (95% CI; difference = candidate - champion, paired)")
    st.dataframe(overall_metrics_table(frame), hide_index=True, width="stretch", key="mdl_jd_overall")
    metric = st.segmented_control("Metric", list(judge.METRICS), default="accuracy", key="mdl_jd_metric") or "accuracy"
    st.plotly_chart(figs.metric_comparison(frame, metric), key="mdl_jd_compare", width="stretch")
    st.dataframe(cohort_metrics_compare(frame, metric), hide_index=True, width="stretch", key="mdl_jd_cohorts")
    st.plotly_chart(figs.calibration_figure(panel.calibration), key="mdl_jd_calibration", width="stretch")
    if p.can_request:
        _request_actions(p, panel)


def _failed_gate_to_backlog(p: ModelsPage, panel: judge.JudgePanel) -> None:
    """A failed gate becomes a backlog item (app/backlog_ui's form; evidence "judge_gate")."""
    from app import backlog_ui

    with st.expander("File a failed gate in the backlog", icon=":material/playlist_add:"):
        failed = list(panel.failed)
        index = 0
        if len(failed) > 1:
            index = st.selectbox("Failed gate", list(range(len(failed))), key="mdl_jd_backlog_gate",
                                 format_func=lambda i: gate_option(failed[i]))  # fmt: skip
        gate = failed[index]
        where = "overall" if gate.scope == "overall" else f"on {gate.scope}"
        backlog_ui.create_from_evidence(
            p.engine, p.me, panel.gate_evidence(gate),
            f"{panel.candidate.label} fails the {gate.metric} gate {where} against v{panel.champion.version}",
            key=gate_backlog_key(panel, gate), description=gate_backlog_description(panel, gate),
        )  # fmt: skip


def _request_actions(p: ModelsPage, panel: judge.JudgePanel) -> None:
    st.markdown("**Ask for a change** (the panel above is attached as evidence, as it is now)")
    comment = st.text_area("Comment", key="mdl_req_comment", placeholder="Why this change, and what you checked")
    c1, c2, c3 = st.columns(3, vertical_alignment="bottom")
    evidence = panel.to_evidence()
    cid = panel.candidate.id
    if c1.button("Request promotion", key="mdl_req_promote", icon=":material/rocket_launch:"):
        widgets.attempt(
            lambda: approvals.request_change(p.engine, p.me, "promote", cid, comment, {"stage": "full"}, evidence),
            lambda r: f"Promotion requested (#{r.id}); it needs {r.required_approvals} approval(s) by someone else.",
        )  # fmt: skip
    share = c2.selectbox("Canary share", [0.05, 0.10, 0.25, 0.5], format_func=lambda s: f"{s:.0%}",
                         key="mdl_req_share")  # fmt: skip
    rail_metric = c3.selectbox("Guard rail (canary or shadow)", list(rollout.GUARDRAIL_METRICS),
                               key="mdl_req_guardrail_metric")  # fmt: skip
    drop = c3.number_input(f"{rail_metric} at most this much below the champion's",
                           min_value=0.0, max_value=0.5, value=rollout.DEFAULT_MAX_DROP, step=0.005, format="%.3f",
                           key="mdl_req_guardrail",
                           help="Checked on the stage's labelled requests; a breach raises an alert and proposes "
                                "a rollback.")  # fmt: skip
    rail = rollout.guardrail_condition(drop, rail_metric)
    if c2.button("Request canary", key="mdl_req_canary"):
        widgets.attempt(
            lambda: approvals.request_change(p.engine, p.me, "canary", cid, comment,
                                             {"stage": "canary", "traffic_share": share, "guardrail": rail},
                                             evidence),
            lambda r: f"Canary requested (#{r.id}).",
        )  # fmt: skip
    if c3.button("Request shadow", key="mdl_req_shadow", help="0% of traffic; scores recorded, never served"):
        widgets.attempt(
            lambda: approvals.request_change(p.engine, p.me, "canary", cid, comment,
                                             {"stage": "shadow", "traffic_share": 0.0, "guardrail": rail}, evidence),
            lambda r: f"Shadow requested (#{r.id}).",
        )  # fmt: skip


# --- the Approvals page ------------------------------------------------------------------------


def render_approvals(me: Actor, engine: Engine) -> None:
    awaiting = approvals.list_requests(engine, awaiting=me) if me.can(Role.approver) else []
    title, badge = st.columns([4, 1], vertical_alignment="center")
    title.title("Approvals")
    badge.badge(f"{len(awaiting)} awaiting you", icon=":material/inbox:", color="orange" if awaiting else "gray")
    st.caption(
        "Changes with consequences need approval by someone other than the requester (four-eyes). A change to the "
        "subject after approval resets its approvals. Executing an approved request shows exactly what will happen "
        "first; the change, the request's status and the audit events commit together."
    )
    versions = {v.id: v for v in registry.list_versions(engine)}
    job_status()
    view = st.segmented_control("View", APPROVAL_VIEWS, default="Awaiting me", required=True, key=K_APR_VIEW,
                                label_visibility="collapsed") or "Awaiting me"  # fmt: skip
    if view == "Awaiting me":
        if not me.can(Role.approver):
            st.info("Approving needs the approver role. Your own requests are under All requests.")
        elif not awaiting:
            st.success("Nothing awaits your decision.")
        for row in awaiting:
            with st.container(border=True):
                _request_detail(me, engine, row.id, versions)
    elif view == "All requests":
        _all_requests(me, engine, versions)
    else:
        _rules(me, engine)
    if K_CONFIRM in st.session_state:
        _confirm_execute(me, engine, *st.session_state[K_CONFIRM])


def _all_requests(me: Actor, engine: Engine, versions: Mapping[int, ModelVersion]) -> None:
    status = st.selectbox("Status", ["", *STATUS_ICONS], format_func=lambda s: s or "any", key="apr_status")
    rows = approvals.list_requests(engine, status or None)
    if not rows:
        st.caption("No requests.")
        return
    st.dataframe(requests_table(rows, versions), hide_index=True, width="stretch", key="apr_table")
    ids = [r.id for r in rows]
    chosen = st.selectbox("Request", ids, key=K_APR_SELECTED,
                          format_func=lambda i: f"#{i} {next(r.kind for r in rows if r.id == i)}")  # fmt: skip
    if chosen is not None:
        with st.container(border=True):
            _request_detail(me, engine, chosen, versions)


def _request_detail(me: Actor, engine: Engine, request_id: int, versions: Mapping[int, ModelVersion]) -> None:
    view = approvals.get_request(engine, request_id)
    r = view.request
    st.markdown(
        f"**#{r.id} · {KIND_LABELS.get(r.kind, r.kind)} · {md_escape(subject_label(r, versions))}** "
        f"· {STATUS_ICONS.get(r.status, '')} {r.status} · {view.approvals} of {view.required} approval(s)"
    )
    st.caption(f"Requested by {r.requested_by} at {_when(r.requested_at)}")
    st.text(r.comment)
    for line in payload_lines(r):
        st.text(f"Asked: {line}")
    gates = evidence_gates(r.evidence)
    if gates is not None:
        ev = r.evidence or {}
        st.markdown(f"**Evidence: judge panel** ({md_escape(ev.get('computed_at', '')[:16])}) "
                    f"verdict **{md_escape(ev.get('verdict', ''))}**")  # fmt: skip
        st.text(str(ev.get("headline", "")))
        with st.expander("Gates and metrics as they were when requested"):
            st.dataframe(gates, hide_index=True, width="stretch", key=f"apr_gates_{r.id}")
            metrics = pd.DataFrame(ev.get("metrics") or [])
            if not metrics.empty:
                st.dataframe(metrics[metrics["scope"] == "overall"], hide_index=True, width="stretch",
                             key=f"apr_metrics_{r.id}")  # fmt: skip
    elif r.evidence:
        ev = r.evidence
        if ev.get("kind") == "alert":
            st.markdown(f"**Evidence: alert #{md_escape(ev.get('alert_id'))}** ({md_escape(ev.get('state'))}, "
                        f"opened {md_escape(str(ev.get('opened_at', ''))[:16])})")  # fmt: skip
            st.text(str(ev.get("summary", "")))
        elif ev.get("kind") == "guardrail":
            st.markdown("**Evidence: guard-rail breach**")
            st.text(f"{ev.get('metric')}: {ev.get('challenger')} vs champion {ev.get('champion')} "
                    f"(at most {ev.get('max_drop')} worse), rows {ev.get('rows')}")  # fmt: skip
        with st.expander("Evidence (as it was when requested)"):
            st.json(ev)
    if r.status in ("pending", "approved"):
        with st.expander("What executing it would do now", expanded=r.status == "approved"):
            _plan_lines(engine, r.id)
    if view.decisions:
        st.dataframe(decisions_table(view.decisions), hide_index=True, width="stretch", key=f"apr_decisions_{r.id}")
    if r.status == "executed" and r.result:
        with st.expander("What was done"):
            for step in r.result.get("steps", []):
                st.text(f"• {step}")
            if r.result.get("model_version_id"):
                st.text(f"Registered model version id {r.result['model_version_id']} (v{r.result.get('version')}).")
    _actions(me, engine, view)


def _plan_lines(engine: Engine, request_id: int) -> None:
    try:
        plan = rollout.plan(engine, request_id)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    if not plan.executable:
        st.warning(f"Cannot be executed now: {plan.blocker}")
    for step in plan.steps:
        st.text(f"• {step}")


def _actions(me: Actor, engine: Engine, view: approvals.RequestView) -> None:
    r = view.request
    mine = r.requested_by == me.label
    decided = any(d.actor == me.label and d.valid for d in view.decisions)
    if r.status == "pending":
        if mine:
            st.info("You requested this: someone else must approve it (four-eyes).")
        elif not me.can(Role.approver):
            st.caption("An approver decides on this request.")
        elif decided:
            st.caption("You have decided on this request; it waits for more approvals.")
        else:
            comment = st.text_input("Your comment", key=f"apr_comment_{r.id}",
                                    placeholder="Required to reject; optional to approve")  # fmt: skip
            c1, c2, _ = st.columns([1, 1, 3])
            if c1.button("Approve", key=f"apr_approve_{r.id}", type="primary", icon=":material/check:"):
                widgets.attempt(
                    lambda: approvals.decide(engine, me, r.id, "approve", comment),
                    lambda v: f"Approved #{r.id} ({v.approvals} of {v.required}; now {v.request.status}).",
                )
            if c2.button("Reject", key=f"apr_reject_{r.id}", icon=":material/close:"):
                widgets.attempt(lambda: approvals.decide(engine, me, r.id, "reject", comment),
                                f"Rejected #{r.id}.")  # fmt: skip
    if r.status == "approved":
        if r.kind == "retrain":
            if me.can(Role.analyst) and st.button("Start the retraining …", key=f"apr_retrain_{r.id}", type="primary"):
                st.session_state[K_CONFIRM] = (r.id, rollout.plan(engine, r.id).digest)
                st.rerun()
        elif me.can(Role.approver):
            if st.button("Execute …", key=f"apr_execute_{r.id}", type="primary", icon=":material/rocket_launch:"):
                try:
                    plan = rollout.plan(engine, r.id)
                except LoopdeckError as exc:
                    st.error(str(exc))
                else:
                    st.session_state[K_CONFIRM] = (r.id, plan.digest)
                    st.rerun()
        else:
            st.caption("Approved: an approver executes it.")
    if (
        r.status in ("pending", "approved")
        and (mine or me.can(Role.admin))
        and st.button("Cancel the request", key=f"apr_cancel_{r.id}")
    ):
        widgets.attempt(lambda: approvals.cancel(engine, me, r.id), f"Request #{r.id} cancelled.")


def _close_confirm() -> None:
    st.session_state.pop(K_CONFIRM, None)


@st.dialog("Confirm: this is exactly what will happen", width="large", on_dismiss=_close_confirm)
def _confirm_execute(me: Actor, engine: Engine, request_id: int, digest: str) -> None:
    try:
        plan = rollout.plan(engine, request_id)
    except LoopdeckError as exc:
        st.error(str(exc))
        return
    if plan.digest != digest:
        st.warning("The state changed since you opened this: the steps below are the new plan. Confirm again.")
        st.session_state[K_CONFIRM] = (request_id, plan.digest)
        digest = plan.digest
    if not plan.executable:
        st.error(f"Request #{request_id} cannot be executed now: {plan.blocker}")
    for i, step in enumerate(plan.steps, start=1):
        st.text(f"{i}. {step}")
    yes, no = st.columns(2)
    if yes.button("Execute now", type="primary", key="apr_confirm_yes", disabled=not plan.executable):
        _close_confirm()
        if plan.kind == "retrain":  # a training job: it runs in the background, the request marked with it
            start_retrain(me, f"Retraining for request #{request_id}", "models.retrain_request",
                          {"request_id": request_id})  # fmt: skip
            st.rerun()
        widgets.attempt(lambda: rollout.execute(engine, me, request_id, expected_digest=digest),
                        lambda x: x.summary())  # fmt: skip
    if no.button("Cancel", key="apr_confirm_no"):
        _close_confirm()
        st.rerun()


def _rules(me: Actor, engine: Engine) -> None:
    current = settings.get(engine, "approvals.required")
    st.markdown("**Approvals each kind of request needs** (the requester never counts)")
    table = pd.DataFrame(
        [{"kind": k, "what": KIND_LABELS.get(k, k), "approvals": int(current.get(k, 1))} for k in approvals.KINDS]
    )
    if not me.can(Role.admin):
        st.dataframe(table, hide_index=True, width="stretch", key="apr_rules_table")
        st.caption("An admin sets these.")
        return
    edited = st.data_editor(
        table, hide_index=True, width="stretch", key="apr_rules_editor", disabled=["kind", "what"],
        column_config={"approvals": st.column_config.NumberColumn(min_value=1, max_value=5, step=1)},
    )  # fmt: skip
    if st.button("Save", key="apr_rules_save"):
        value = {row["kind"]: int(row["approvals"]) for row in edited.to_dict("records")}
        widgets.attempt(lambda: settings.set_value(engine, me, "approvals.required", value), "Approval rules saved.")
