"""The sections of the Settings screen: feedback SLA and categories, approvals needed per kind and request
expiry, the judge's default gates, new alert rules' defaults, and the server's paths. Each reads the
setting through its service and saves it with one call."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from app.judge_gates import config_from_table, thresholds_table
from pages.approvals.tables import KIND_LABELS
from pages.feedback.context import cached_facets
from pages.settings import keys
from services.core import settings
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.governance import approvals as governance
from services.models import judge
from services.monitoring import alerts


def categories_from_text(text: str) -> list[str]:
    """The category box (one per line, or comma-separated) -> a list."""
    return [part.strip() for part in re.split(r"[\n,]", text or "") if part.strip()]


def feedback(me: Actor, engine: Engine) -> None:
    st.subheader("Feedback", anchor=False)
    cols = st.columns(2, gap="large")
    with cols[0], st.form(keys.SLA_FORM):
        days = st.number_input("SLA (days a new item may wait for triage)", 1, 90,
                               int(settings.get(engine, "feedback.sla_days")), key=keys.SLA)  # fmt: skip
        if st.form_submit_button("Save SLA"):
            widgets.attempt(lambda: settings.set_value(engine, me, "feedback.sla_days", int(days)), "SLA saved.")
    with cols[1], st.form(keys.CATEGORIES_FORM):
        text = st.text_area("Categories (one per line)", "\n".join(settings.get(engine, "feedback.categories")),
                            height=180, key=keys.CATEGORIES)  # fmt: skip
        if st.form_submit_button("Save categories"):
            saved = widgets.attempt(
                lambda: settings.set_value(engine, me, "feedback.categories", categories_from_text(text)), rerun=False
            )
            if saved is not None:
                cached_facets.clear()  # the Feedback screen's filters list the categories
                widgets.flash("success", f"{len(saved)} categories saved.")
                st.rerun()


def approvals(me: Actor, engine: Engine) -> None:
    st.subheader("Approvals", anchor=False)
    current = settings.get(engine, "approvals.required")
    st.markdown("**Approvals each kind of request needs** (the requester never counts)")
    table = pd.DataFrame(
        [{"kind": k, "what": KIND_LABELS.get(k, k), "approvals": int(current.get(k, 1))} for k in governance.KINDS]
    )
    edited = st.data_editor(
        table, hide_index=True, width="stretch", key=keys.APPROVALS_EDITOR, disabled=["kind", "what"],
        column_config={"approvals": st.column_config.NumberColumn(min_value=1, max_value=5, step=1)},
    )  # fmt: skip
    if st.button("Save approvals", key=keys.APPROVALS_SAVE):
        value = {row["kind"]: int(row["approvals"]) for row in edited.to_dict("records")}
        widgets.attempt(lambda: settings.set_value(engine, me, "approvals.required", value), "Approval rules saved.")
    with st.form(keys.EXPIRY_FORM):
        days = st.number_input("Request expiry (days a request stays open; an older one can no longer be approved "
                               "or executed)", 1, 365, int(settings.get(engine, "approvals.expiry_days")),
                               key=keys.EXPIRY)  # fmt: skip
        if st.form_submit_button("Save expiry"):
            widgets.attempt(lambda: settings.set_value(engine, me, "approvals.expiry_days", int(days)),
                            "Request expiry saved.")  # fmt: skip


def judge_gates(me: Actor, engine: Engine) -> None:
    st.subheader("Judge gates", anchor=False)
    base = judge.config_from_settings(engine)
    st.caption(
        "The no-regression rule a candidate must pass against the champion (as MLflow's MetricThreshold). "
        "min_absolute_change / min_relative_change: how much better the candidate must be; a negative value "
        f"allows that much regression. A cohort gate fails only when the difference is significant "
        f"(p < {base.cohort_alpha}). Each run on the Models screen starts from these and may change them."
    )
    edited = st.data_editor(thresholds_table(base), hide_index=True, num_rows="dynamic", key=keys.GATES_EDITOR,
                            width="stretch")  # fmt: skip
    if st.button("Save gates", key=keys.GATES_SAVE):
        try:
            value = judge.thresholds_setting_value(config_from_table(edited, base))
        except LoopdeckError as exc:
            st.error(str(exc))
            return
        widgets.attempt(lambda: settings.set_value(engine, me, judge.SETTING_KEY, value), "Default gates saved.")


def alert_defaults(me: Actor, engine: Engine) -> None:
    st.subheader("Alert defaults", anchor=False)
    current = alerts.rule_defaults(engine)
    with st.form(keys.ALERTS_FORM):
        st.caption("What a new alert rule starts with (its author can change both).")
        cols = st.columns(2)
        severity = cols[0].selectbox("Severity", alerts.SEVERITIES, key=keys.ALERT_SEVERITY,
                                     index=alerts.SEVERITIES.index(current["severity"]))  # fmt: skip
        window = cols[1].selectbox("Window", alerts.WINDOWS, index=alerts.WINDOWS.index(current["window"]),
                                   key=keys.ALERT_WINDOW)  # fmt: skip
        if st.form_submit_button("Save alert defaults"):
            widgets.attempt(
                lambda: settings.set_value(engine, me, alerts.DEFAULTS_KEY, {"severity": severity, "window": window}),
                "Alert defaults saved.",
            )


def server(me: Actor, engine: Engine) -> None:
    st.subheader("Server paths", anchor=False)
    st.caption("Where this server keeps its files (shown to admins only). Each is moved by the environment "
               "variable beside it (see the README).")  # fmt: skip
    rows = widgets.attempt(lambda: settings.server_paths(engine, me), rerun=False) or []
    st.dataframe(pd.DataFrame([{"what": p.what, "path": p.path, "set by": p.setting} for p in rows]),
                 hide_index=True, width="stretch", key=keys.PATHS)  # fmt: skip
