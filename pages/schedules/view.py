"""The Schedules screen: every schedule with its last and next run and outcome; admins edit them;
recent worker jobs below. Reads and writes only through services.jobs."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.schedules import keys
from services.core.roles import Actor, Role
from services.jobs import queue, schedules
from services.models import registry


def schedules_frame(rows: list[schedules.ScheduleView]) -> pd.DataFrame:
    columns = ["id", "what", "model", "when (UTC cron)", "enabled", "last run", "outcome", "next run", "changed by"]
    return pd.DataFrame(
        [[r.id, r.what, r.model_name or "all", r.cron, r.enabled, r.last_run_at, r.last_outcome, r.next_run_at,
          r.updated_by] for r in rows],
        columns=columns,
    )  # fmt: skip


def jobs_frame(rows: list[queue.JobView]) -> pd.DataFrame:
    columns = ["id", "job", "status", "progress", "message", "requested by", "created", "worker"]
    return pd.DataFrame(
        [[j.id, j.label, j.status, j.progress, j.message, j.requested_by, j.created_at, j.worker_id] for j in rows],
        columns=columns,
    )


def _edit(me: Actor, engine: Engine) -> None:
    st.subheader("Set a schedule")
    kinds = list(schedules.SCHEDULABLE)
    kind = st.selectbox("What", kinds, format_func=lambda k: schedules.SCHEDULABLE[k][0], key=keys.KIND)
    per_model = schedules.SCHEDULABLE[kind][1]
    models = [""] + registry.model_names(engine)
    model = st.selectbox("Model", models, format_func=lambda m: m or "every model", key=keys.MODEL,
                         disabled=not per_model)  # fmt: skip
    cron = st.text_input("When (cron, UTC)", value=schedules.SCHEDULABLE[kind][2], key=keys.CRON)
    enabled = st.toggle("Enabled", value=True, key=keys.ENABLED)
    if st.button("Save", type="primary", key=keys.SAVE):
        widgets.attempt(lambda: schedules.set_schedule(engine, me, kind, cron, model_name=model, enabled=enabled),
                        lambda v: f"Schedule {v.id} saved; next run {v.next_run_at:%Y-%m-%d %H:%M} UTC.")  # fmt: skip


def render(me: Actor, engine: Engine) -> None:
    st.title("Schedules")
    st.caption("The worker fires each schedule when due (every worker checks each second; each fires once).")
    rows = schedules.list_schedules(engine)
    if rows:
        st.dataframe(schedules_frame(rows), hide_index=True, width="stretch", key=keys.TABLE)
    else:
        st.caption("No schedules yet.")
    if me.can(Role.admin):
        _edit(me, engine)
        for r in rows:
            if st.button(
                f"Delete schedule {r.id} ({r.what}, {r.model_name or 'all'})", key=f"{keys.DELETE_PREFIX}{r.id}"
            ):
                widgets.attempt(lambda r=r: schedules.delete_schedule(engine, me, r.id), lambda _: "Deleted.")
    else:
        st.caption("An admin sets schedules.")
    st.subheader("Recent jobs")
    st.dataframe(jobs_frame(queue.list_jobs(engine, limit=50)), hide_index=True, width="stretch", key=keys.JOBS)
