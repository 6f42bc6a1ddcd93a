"""Alert rules: the form for a new rule, and changing, pausing or resuming one (analysts and up)."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.monitoring import keys
from pages.monitoring.common import ALL_ROWS
from pages.monitoring.header import Selection
from services.core.roles import Actor
from services.monitoring import alerts
from services.monitoring import views as mon
from services.stats import drift as d


def draw(engine: Engine, actor: Actor, sel: Selection, rules: Sequence) -> None:
    with st.expander("New alert rule", icon=":material/add_alert:"):
        columns = [*sel.features, mon.PREDICTION_SCORE, mon.PREDICTION_LABEL, mon.OUTCOME_LABEL]
        st.caption("Fields marked * are required; the cohort and the severity are optional.")
        names = mon.metric_names(columns)
        metric = st.selectbox(f"Watch * ({len(names)} metrics)", names, key=keys.RULE_METRIC,
                              help="Every metric of this model is listed: drift:<column> is that column's drift "
                                   "score (p-value or distance); drift_share the share of drifted features; "
                                   "estimated_* come from CBPE.")  # fmt: skip
        field = st.selectbox("Only for the cohort", [ALL_ROWS, *sel.fields], format_func=lambda f: f or "(all rows)",
                             key=keys.RULE_FIELD)  # fmt: skip
        with st.form(keys.RULE_FORM):
            cols = st.columns(4)
            name = cols[0].text_input("Name *", key=keys.RULE_NAME, placeholder="e.g. iOS accuracy")
            options = alerts.comparisons(metric)
            comparison = cols[1].selectbox(
                "Alert when the value is *", options, index=options.index(alerts.default_comparison(metric)),
                format_func=lambda c: "on the drift side (p < t, distance >= t)" if c == alerts.AUTO else c,
                key=f"{keys.RULE_CMP_PREFIX}{metric}",
            )  # fmt: skip
            threshold = cols[2].number_input("Threshold *", value=_default_rule_threshold(metric), format="%.4f",
                                             key=f"{keys.RULE_THRESHOLD_PREFIX}{metric}")  # fmt: skip
            defaults = alerts.rule_defaults(engine)  # the admin's (Settings)
            window = cols[3].selectbox("Over the last *", alerts.WINDOWS, key=keys.RULE_WINDOW,
                                       index=alerts.WINDOWS.index(defaults["window"]))  # fmt: skip
            cols = st.columns(2)
            values = cols[0].multiselect(f"{field} is" if field else "Cohort values", sel.field_values.get(field, []),
                                         key=f"{keys.RULE_VALUES_PREFIX}{field}", disabled=not field)  # fmt: skip
            severity = cols[1].selectbox("Severity", alerts.SEVERITIES, key=keys.RULE_SEVERITY,
                                         index=alerts.SEVERITIES.index(defaults["severity"]))  # fmt: skip
            auto_retrain = st.checkbox("File a retrain request by itself when it opens an alert (it still needs its "
                                       "approvals)", key=keys.RULE_AUTO_RETRAIN)  # fmt: skip
            if st.form_submit_button("Create rule", type="primary"):
                cohort = {field: list(values)} if field else None
                widgets.attempt(
                    lambda: alerts.create_rule(
                        engine, actor, name=name, model_name=sel.info.model_name, metric=metric, threshold=threshold,
                        comparison=comparison, window=window, cohort=cohort, severity=severity,
                        auto_retrain=auto_retrain,
                    ),
                    lambda rule: f"Rule {rule.name} created. Evaluate the rules to check it now.",
                )  # fmt: skip
    if rules:
        with st.expander("Change, pause or resume a rule", icon=":material/pause_circle:"):
            by_id = {r.id: r for r in rules}
            rid = st.selectbox("Rule", list(by_id),
                               format_func=lambda i: f"{by_id[i].name} ({'on' if by_id[i].enabled else 'paused'})",
                               key=keys.RULE_TOGGLE_ID)  # fmt: skip
            rule = by_id[rid]
            cols = st.columns([2, 1, 1])
            threshold = cols[0].number_input("Threshold", value=float(rule.threshold), format="%.4f",
                                             key=f"{keys.RULE_EDIT_THRESHOLD_PREFIX}{rid}")  # fmt: skip
            if cols[1].button("Save threshold", key=keys.RULE_SAVE_THRESHOLD, disabled=threshold == rule.threshold):
                widgets.attempt(lambda: alerts.update_rule_threshold(engine, actor, rid, threshold),
                                f"Rule {rule.name}: threshold {threshold:g}.")  # fmt: skip
            if cols[2].button("Pause" if rule.enabled else "Resume", key=keys.RULE_TOGGLE):
                widgets.attempt(lambda: alerts.set_rule_enabled(engine, actor, rid, not rule.enabled),
                                f"Rule {rule.name} {'paused' if rule.enabled else 'resumed'}.")  # fmt: skip


def _default_rule_threshold(metric: str) -> float:
    if metric.startswith(mon.DRIFT_PREFIX):
        return d.DISTANCE_THRESHOLD
    if metric == mon.DRIFT_SHARE:
        return mon.DATASET_DRIFT_SHARE
    name = metric.removeprefix(mon.ESTIMATED_PREFIX)
    return {"accuracy": 0.8, "roc_auc": 0.8, "precision": 0.5, "recall": 0.5, "f1": 0.5, "log_loss": 0.5,
            "brier": 0.2, "positive_rate": 0.3}.get(name, 0.5)  # fmt: skip
