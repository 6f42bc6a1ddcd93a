"""Models: register a version trained elsewhere, by upload (the same service as
POST /api/v1/models/{name}/versions). The skops artifact is optional; its SHA-256 is checked against
the one typed in, or shown to compare by eye when none is typed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, time
from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.models import keys
from services.core.errors import InvalidInput
from services.core.roles import Actor, Role
from services.models import external


def _json(text: str, what: str) -> dict[str, Any]:
    if not (text or "").strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object.")
    return value


def _day(value) -> datetime | None:
    return datetime.combine(value, time(), tzinfo=UTC) if value else None


def _register(actor: Actor, engine: Engine, fields: dict[str, Any], upload) -> Any:
    data = upload.getvalue() if upload is not None else None
    sha = (fields["sha256"] or "").strip() or (hashlib.sha256(data).hexdigest() if data is not None else None)
    info = external.ExternalVersion(
        feature_schema=_json(fields["schema"], "The feature schema"), params=_json(fields["params"], "Parameters"),
        metrics=_json(fields["metrics"], "Overall metrics"), cohort_metrics=_json(fields["cohorts"], "Cohort metrics"),
        window_start=_day(fields["start"]), window_end=_day(fields["end"]),
        training_rows=int(fields["rows"]) if fields["rows"] else None, code_reference=fields["code"],
    )  # fmt: skip
    return external.register_external_version(engine, actor, fields["model"], info, data, sha)


def render_register(actor: Actor, engine: Engine) -> None:
    """The Models page's 'register a version trained elsewhere' section."""
    st.subheader("Register a version trained elsewhere")
    st.caption("Pipelines can do the same with `POST /api/v1/models/{name}/versions` or the Python client.")
    form = widgets.form_key(keys.REGISTER_FORM)
    with st.form(form):
        fields: dict[str, Any] = {"model": st.text_input("Model name", key=f"{form}{keys.REGISTER_MODEL}")}
        fields["schema"] = st.text_area("Feature schema (JSON)", '{"tenure": "numeric", "plan": "categorical"}',
                                        key=f"{form}{keys.REGISTER_SCHEMA}")  # fmt: skip
        fields["params"] = st.text_area("Parameters (JSON)", "{}", key=f"{form}{keys.REGISTER_PARAMS}")
        fields["metrics"] = st.text_area(
            "Metrics, overall (JSON)", '{"roc_auc": 0.8}', key=f"{form}{keys.REGISTER_METRICS}"
        )
        fields["cohorts"] = st.text_area("Metrics per cohort (JSON: field → value → metric)", "{}",
                                         key=f"{form}{keys.REGISTER_COHORTS}")  # fmt: skip
        left, right = st.columns(2)
        fields["start"] = left.date_input("Trained from", value=None, key=f"{form}{keys.REGISTER_START}")
        fields["end"] = right.date_input("Trained to", value=None, key=f"{form}{keys.REGISTER_END}")
        fields["rows"] = st.number_input("Training rows", 0, None, 0, key=f"{form}{keys.REGISTER_ROWS}")
        fields["code"] = st.text_input("Code reference (commit, URL)", key=f"{form}{keys.REGISTER_CODE}")
        upload = st.file_uploader("Artifact (skops, optional)", type=["skops"], key=f"{form}{keys.REGISTER_ARTIFACT}")
        fields["sha256"] = st.text_input("Artifact SHA-256 (checked when given)", key=f"{form}{keys.REGISTER_SHA}")
        submitted = st.form_submit_button("Register", type="primary")
    if submitted:
        if upload is not None and not fields["sha256"].strip():
            st.info(f"Artifact SHA-256: {hashlib.sha256(upload.getvalue()).hexdigest()}")
        row = widgets.attempt(lambda: _register(actor, engine, fields, upload), rerun=False)
        if row is not None:
            widgets.reset_form(keys.REGISTER_FORM)
            widgets.flash("success", f"Registered {row.model_name} v{row.version} as a candidate.")
            st.rerun()


def render(page) -> None:
    """The Register view of the Models screen (analysts and up; the service checks the role again)."""
    if not page.me.can(Role.analyst):
        st.info("Registering a version needs the analyst role.")
        return
    render_register(page.me, page.engine)
