"""Tables and text of the Approvals screen from service results: pure functions (no Streamlit), tested
without a browser."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from app.format import gates_table
from app.format import when as _when
from services.core.schema_governance import ApprovalRequest
from services.core.schema_models import ModelVersion

KIND_LABELS = {
    "promote": "Promote to full traffic",
    "canary": "Canary / shadow",
    "rollback": "Roll back",
    "retrain": "Retrain",
    "stop-experiment": "Stop experiment",
}
STATUS_ICONS = {
    "pending": "⏳",
    "approved": "✅",
    "rejected": "⛔",
    "executed": "🚀",
    "cancelled": "✖️",
    "expired": "⌛",
}


def md_escape(text: Any) -> str:
    """User text inside a markdown element: every markdown/HTML control character escaped."""
    out = []
    for ch in str(text):
        if ch in "\\`*_{}[]()#+-.!|<>~$:":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out).replace("\n", " ")


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
