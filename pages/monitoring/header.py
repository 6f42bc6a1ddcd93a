"""The top of the Monitoring screen: bring the monitoring data up to date (a job of the worker, whose progress
is shown here), then pick the model version, the reference and current windows and an optional cohort filter
that every tab uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import jobs
from pages.monitoring import keys
from pages.monitoring.common import ALL_ROWS, CUSTOM, set_default
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.monitoring import frames, refresh
from services.monitoring import views as mon


@dataclass(frozen=True)
class Selection:
    info: mon.VersionInfo
    reference: mon.Window
    current: mon.Window
    cohort_filter: dict[str, list[str]]
    features: dict[str, str]
    fields: list[str]
    field_values: dict[str, list[str]]


def prepare_data(engine: Engine, actor: Actor) -> bool:
    """Bring the monitoring data up to date in the worker, never in this process: when new predictions or
    outcomes wait, the refresh job (this session's, another tab's or replica's, or a new one) shows its
    progress on top and the page redraws once it is over. False while a first build runs (nothing to draw
    yet); otherwise the page draws the data as of the last refresh meanwhile."""
    mine = jobs.job_board().get(st.session_state.get(keys.REFRESH_JOB))
    if mine is not None and mine.done and _outcome(mine):
        return True  # a failed refresh is not queued again by itself: the user asks (button above)
    state = refresh.request_refresh(engine, actor.label)
    if state.job is None or not state.needs_refresh:
        return True
    st.session_state[keys.REFRESH_JOB] = str(state.job.id)
    if state.first_build:
        st.info("Preparing the monitoring data for the first time: every prediction is read once (later imports "
                "only add their days). The worker builds it; this page draws it when it is done.")  # fmt: skip
    else:
        st.info("New predictions or outcomes arrived: the worker is adding them to the monitoring data. Below is "
                "the data as of the last refresh; the page redraws when the refresh is done.",
                icon=":material/sync:")  # fmt: skip
    jobs.progress_panel(keys.REFRESH_JOB)
    return not state.first_build


def _outcome(job: jobs.Job) -> bool:
    """Show a finished refresh of this session once; True when it failed (and a retry waits for a click)."""
    if job.error is None and job.crash is None:
        st.session_state.pop(keys.REFRESH_JOB, None)
        st.success(job.value.summary() if job.value is not None else "Monitoring data refreshed.")
        return False
    st.error(f"The refresh of the monitoring data failed: {fmt.md_escape(str(job.error or job.crash))}. The page "
             "shows the data as of the last refresh.")  # fmt: skip
    if st.button("Try the refresh again", key=keys.REFRESH_RETRY):
        st.session_state.pop(keys.REFRESH_JOB, None)
        st.rerun()
    return True


def _window_picker(info: mon.VersionInfo, label: str, key: str, range_prefix: str, presets: dict[str, str],
                   default: str, column, reference: mon.Window | None = None) -> mon.Window:  # fmt: skip
    set_default(key, default)
    options = [*presets, CUSTOM]
    if st.session_state[key] not in options:
        st.session_state[key] = default
    choice = column.selectbox(label, options, format_func=lambda o: presets.get(o, "Custom range"), key=key)
    assert info.first_day is not None and info.last_day is not None
    if choice != CUSTOM:
        try:
            return mon.preset_window(info, choice, reference)
        except LoopdeckError as exc:
            column.warning(str(exc))
            return mon.preset_window(info, default, reference)
    range_key = f"{range_prefix}{info.id}"
    fallback = mon.preset_window(info, default, reference)
    stored = st.session_state.get(range_key)
    if not stored or any(x < info.first_day or x > info.last_day for x in stored):
        st.session_state[range_key] = (fallback.start, fallback.end)
    picked = column.date_input(
        f"{label}: days (UTC)", min_value=info.first_day, max_value=info.last_day, key=range_key, format="YYYY-MM-DD"
    )
    picked = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    start = picked[0] if picked else fallback.start
    end = picked[1] if len(picked) > 1 else start
    return mon.Window(start, end)


def select(engine: Engine, versions: list[mon.VersionInfo]) -> Selection:
    by_id = {v.id: v for v in versions}
    default = mon.default_version(versions) or versions[0]
    set_default(keys.VERSION, default.id)
    if st.session_state[keys.VERSION] not in by_id:
        st.session_state[keys.VERSION] = default.id
    top = st.columns([2, 2, 2, 3])
    vid = top[0].selectbox(
        "Model version", list(by_id), format_func=lambda i: f"{by_id[i].label}, {by_id[i].n_rows:,} predictions",
        key=keys.VERSION,
    )  # fmt: skip
    info = by_id[vid]
    reference = _window_picker(info, "Reference window", keys.REF, keys.REF_RANGE_PREFIX, mon.REFERENCE_PRESETS,
                               "first14", top[1])  # fmt: skip
    current = _window_picker(info, "Current window", keys.CUR, keys.CUR_RANGE_PREFIX, mon.CURRENT_PRESETS, "last28",
                             top[2], reference)  # fmt: skip
    features, fields, values = frames.version_columns(engine, info)
    field_key = f"{keys.FILTER_FIELD_PREFIX}{vid}"
    set_default(field_key, ALL_ROWS)
    if st.session_state[field_key] not in [ALL_ROWS, *fields]:
        st.session_state[field_key] = ALL_ROWS
    with top[3]:
        inner = st.columns(2)
        field = inner[0].selectbox(
            "Only rows where", [ALL_ROWS, *fields], format_func=lambda f: f or "(all rows)", key=field_key,
            help="Restrict every tab to one cohort, e.g. platform = ios or android.",
        )  # fmt: skip
        cohort_filter: dict[str, list[str]] = {}
        if field:
            chosen = inner[1].multiselect(
                f"{field} is", values.get(field, []), key=f"{keys.FILTER_VALUES_PREFIX}{vid}_{field}"
            )
            if chosen:
                cohort_filter = {field: list(chosen)}
    overlap = current.start <= reference.end and reference.start <= current.end
    st.caption(
        f"{info.label}: data from {info.first_day:%Y-%m-%d} to {info.last_day:%Y-%m-%d}, {info.n_rows:,} predictions, "
        f"{info.n_labelled:,} with outcomes (last outcome for {info.last_labelled_day or '—'}). "
        f"Reference {reference.label}, current {current.label}, {mon.filter_label(cohort_filter)}. Days are UTC."
        + (" The two windows overlap." if overlap else "")
    )
    return Selection(info, reference, current, cohort_filter, features, fields, values)
