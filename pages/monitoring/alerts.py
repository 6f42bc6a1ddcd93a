"""The Alerts tab: the alerts by state, one alert's evidence (shown in Monitoring, acknowledged, resolved
or filed to the backlog), and the rules (their forms live in alert_rules).
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from app import jobs, widgets
from pages.monitoring import alert_rules, keys, links
from pages.monitoring.common import ALL_ROWS, CUSTOM
from pages.monitoring.frames import alerts_frame, escape_md, rules_frame
from pages.monitoring.header import Selection
from services.core.roles import Actor, Role
from services.models import alert_retrain
from services.monitoring import alerts
from services.monitoring import views as mon


def _show_in_monitoring(view: alerts.AlertView) -> None:
    """Point the page at the alert's evidence: its version, its window as the current one, its cohort."""
    w = view.window
    vid = view.alert.model_version_id
    if w is None or vid is None:
        return
    st.session_state[keys.VERSION] = vid
    st.session_state[keys.CUR] = CUSTOM
    st.session_state[f"{keys.CUR_RANGE_PREFIX}{vid}"] = (w.start, w.end)
    cohort = view.rule.cohort or {}
    field_key = f"{keys.FILTER_FIELD_PREFIX}{vid}"
    if cohort:
        field, values = next(iter(cohort.items()))
        st.session_state[field_key] = field
        chosen = [values] if isinstance(values, str) else list(values)
        st.session_state[f"{keys.FILTER_VALUES_PREFIX}{vid}_{field}"] = chosen
    else:
        st.session_state[field_key] = ALL_ROWS
    metric = view.rule.metric
    if metric.startswith(mon.ESTIMATED_PREFIX):
        st.session_state[keys.TAB] = "Estimated performance"
    elif metric.startswith(mon.DRIFT_PREFIX) or metric == mon.DRIFT_SHARE:
        st.session_state[keys.TAB] = "Drift"
    else:
        st.session_state[keys.TAB] = "Performance"


def drift_params(view: alerts.AlertView) -> dict[str, str | list[str]]:
    """The Monitoring URL of the alert's drift: its version, its window as the current one, its cohort."""
    e = view.alert.evidence or {}
    version = e.get("model_version")
    return links.monitoring_params(str(e.get("model", view.rule.model_name)),
                                   int(version) if isinstance(version, int | str) and str(version).isdigit() else None,
                                   "Drift", view.rule.cohort or None, view.window)  # fmt: skip


def feedback_params(view: alerts.AlertView) -> dict[str, str | list[str]]:
    """The Feedback queue's URL filter for the alert's cohort (every value of its field)."""
    return links.feedback_params(view.rule.cohort or None)


def _retrain_message(filed: alert_retrain.AlertRetrain) -> str:
    link = f"[Open request #{filed.request.id}](/approval-requests?request={filed.request.id})"
    return f"{escape_md(filed.message)} {link}"


def _actions(engine: Engine, actor: Actor, view: alerts.AlertView, can_act: bool) -> None:
    """From the alert to action: its drift and its cohort's feedback (links: open them in a new tab, share
    them), a retrain request (trigger alert:N)."""
    a = view.alert
    cols = st.columns(3)
    cols[0].page_link("pages/monitoring/page.py", label="Open drift for this cohort",
                      icon=":material/stacked_line_chart:", query_params=drift_params(view))  # fmt: skip
    cols[1].page_link("pages/feedback/page.py", label="Open feedback for this cohort", icon=":material/feedback:",
                      query_params=feedback_params(view))  # fmt: skip
    retrain = can_act and a.experiment_id is None
    if retrain and cols[2].button("Request retraining", key=f"{keys.ALERT_RETRAIN_PREFIX}{a.id}",
                                  icon=":material/model_training:"):  # fmt: skip
        widgets.attempt(lambda: alert_retrain.request_for_alert(engine, actor, a.id), _retrain_message, rerun=False)


def _evaluate_now(actor: Actor, slot) -> None:
    """The "Evaluate rules now" button queues one evaluation for the worker (it refreshes the monitoring data
    first: long work that never runs in the web process); its progress shows here, then the alerts opened."""
    board = jobs.job_board()
    job = board.get(st.session_state.get(keys.EVALUATE_JOB))
    if job is not None and job.done:
        st.session_state.pop(keys.EVALUATE_JOB, None)
        if job.error is not None or job.crash is not None:
            st.error(f"Evaluating the alert rules failed: {escape_md(str(job.error or job.crash))}")
        else:
            st.success(f"{len(job.value.alerts_opened)} new alert(s).")
    running = job is not None and not job.done
    if slot.button("Evaluate rules now", icon=":material/notifications_active:", key=keys.EVALUATE, disabled=running):
        job = board.enqueue(actor, "alerts.evaluate", {"trigger": "on demand"}, "Evaluate the alert rules")
        st.session_state[keys.EVALUATE_JOB] = job.id
        running = True
    if running:
        jobs.progress_panel(keys.EVALUATE_JOB, actor)


def draw(engine: Engine, actor: Actor, sel: Selection) -> None:
    can_act = actor.can(Role.analyst)
    top = st.columns([3, 1])
    state = top[0].segmented_control("Alerts", ["open", "acknowledged", "resolved", "all"], default="open",
                                     key=keys.ALERT_STATE, required=True,
                                     format_func=lambda s: s.capitalize())  # fmt: skip
    if can_act:
        _evaluate_now(actor, top[1])
    views = alerts.list_alerts(engine, None if state == "all" else state)
    if not views:
        st.info(f"No {'' if state == 'all' else state + ' '}alerts.")
    else:
        table = st.dataframe(alerts_frame(views), hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="single-row", key=f"{keys.ALERTS_TABLE_PREFIX}{state}",
                             column_config={"value": st.column_config.NumberColumn(format="%.4g"),
                                            "backlog item": st.column_config.NumberColumn(format="%d")})  # fmt: skip
        picked = table.selection.rows if table is not None else []
        if picked and picked[0] < len(views):
            _alert_detail(engine, actor, views[picked[0]], can_act)
        else:
            st.caption("Select an alert to see its evidence and act on it.")
    st.subheader("Rules", divider="gray")
    rules = alerts.list_rules(engine)
    if rules:
        st.dataframe(rules_frame(rules), hide_index=True, width="stretch", key=keys.RULES_TABLE)
    else:
        st.caption("No alert rules yet.")
    if can_act:
        alert_rules.draw(engine, actor, sel, rules)


def _alert_detail(engine: Engine, actor: Actor, view: alerts.AlertView, can_act: bool) -> None:
    a = view.alert
    with st.container(border=True):
        st.markdown(f"**Alert {a.id}** · {a.state} · {escape_md(view.summary)}")
        st.json(a.evidence or {}, expanded=False)
        if a.ack_comment:
            st.caption(f"Acknowledged by {a.acknowledged_by}: {a.ack_comment}")
        if a.resolved_at:
            st.caption(f"Resolved by {a.resolved_by}" + (f": {a.resolve_comment}" if a.resolve_comment else ""))
        st.button("Show the evidence in Monitoring", key=f"{keys.ALERT_SHOW_PREFIX}{a.id}",
                  on_click=_show_in_monitoring, args=(view,), icon=":material/search:")  # fmt: skip
        _actions(engine, actor, view, can_act)
        if not can_act:
            return
        cols = st.columns(3)
        with cols[0].form(f"{keys.ACK_FORM_PREFIX}{a.id}"):
            comment = st.text_input("Comment", key=f"{keys.ACK_COMMENT_PREFIX}{a.id}", disabled=a.state != "open")
            if st.form_submit_button("Acknowledge", disabled=a.state != "open"):
                widgets.attempt(lambda: alerts.acknowledge(engine, actor, a.id, comment), f"Alert {a.id} acknowledged.")
        with cols[1].form(f"{keys.RESOLVE_FORM_PREFIX}{a.id}"):
            note = st.text_input(
                "Resolution note", key=f"{keys.RESOLVE_COMMENT_PREFIX}{a.id}", disabled=a.state == "resolved"
            )
            if st.form_submit_button("Resolve", disabled=a.state == "resolved"):
                widgets.attempt(lambda: alerts.resolve(engine, actor, a.id, note), f"Alert {a.id} resolved.")
        with cols[2].form(f"{keys.BACKLOG_FORM_PREFIX}{a.id}"):
            title = st.text_input("Backlog item title", key=f"{keys.BACKLOG_TITLE_PREFIX}{a.id}",
                                  placeholder="default: the rule and its value",
                                  disabled=a.backlog_item_id is not None)  # fmt: skip
            if st.form_submit_button("Add to backlog", disabled=a.backlog_item_id is not None):
                widgets.attempt(lambda: alerts.to_backlog(engine, actor, a.id, title or None),
                                lambda item: f"Backlog item {item.id} created from alert {a.id}.")  # fmt: skip
