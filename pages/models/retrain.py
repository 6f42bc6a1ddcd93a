"""The Retrain view of the Models screen: a candidate fitted in the background (app/retrain_jobs), or a
request to retrain that an approver approves and the Approvals screen runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any

import streamlit as st

from app import retrain_jobs, widgets
from app.jobs import job_board
from pages.models import keys, pipeline
from pages.models.common import ModelsPage, version_option
from pages.models.tables import trigger_options
from services.feedback import training_sets
from services.models import retraining
from services.monitoring import alerts


def render(p: ModelsPage) -> None:
    st.caption(
        "A candidate is the base version's pipeline cloned (same family, preprocessing and parameters), fitted on "
        "the predictions of the window whose outcome is known, with the corrected labels of a feedback training set, "
        "seeded. It runs in the background: keep working while it fits."
    )
    pipeline.render(p)  # admins: train this model in an external pipeline instead
    if not p.can_request:
        st.info("Retraining needs the analyst role.")
        return
    suggestion = retraining.suggest_window(p.engine, p.model_name)
    datasets = training_sets.list_datasets(p.engine)
    model_alerts = [a for a in alerts.list_alerts(p.engine, model_name=p.model_name, limit=50)
                    if a.alert.state != "resolved"]  # fmt: skip
    champion = p.aliases.champion
    ids = [v.id for v in sorted(p.versions, key=lambda v: -v.version)]
    with st.form(keys.RETRAIN_FORM):
        base = st.selectbox("Base version", ids, index=ids.index(champion.id) if champion else 0,
                            format_func=lambda i: version_option(p, i), key=keys.RT_BASE)  # fmt: skip
        c1, c2 = st.columns(2)
        start = c1.date_input("Train from (UTC)", value=suggestion.train_from.date() if suggestion.train_from else None,
                              key=keys.RT_FROM)  # fmt: skip
        end = c2.date_input("Train to (UTC, excluded)",
                            value=suggestion.train_to.date() if suggestion.train_to else None, key=keys.RT_TO,
                            help="Leave time after the window: the judge's holdout comes after it.")  # fmt: skip
        dataset = st.selectbox("Feedback training set", [None, *[d.id for d in datasets]], key=keys.RT_DATASET,
                               format_func=lambda i: "none" if i is None else _dataset_label(datasets, i))  # fmt: skip
        c3, c4 = st.columns(2)
        seed = c3.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key=keys.RT_SEED)
        triggers = trigger_options(model_alerts)
        trigger = c4.selectbox("Trigger", list(triggers), format_func=lambda t: triggers[t], key=keys.RT_TRIGGER,
                               help="Recorded with the new version: by hand, a schedule, or the alert that "
                                    "prompted it (its evidence is attached to a request).")  # fmt: skip
        comment = st.text_area("Why (kept in the model card; required to request approval)", key=keys.RT_COMMENT)
        b1, b2 = st.columns(2)
        submitted = b1.form_submit_button("Start retraining", type="primary", key=keys.RT_SUBMIT)
        requested = b2.form_submit_button(
            "Request approval to retrain",
            key=keys.RT_REQUEST,
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
    label = f"Retraining {p.model_name} from v{p.by_id[base].version}"
    payload = {"base_version_id": base, "train_from": _as_utc(start).isoformat(), "train_to": _as_utc(end).isoformat(),
               "dataset_id": dataset, "seed": seed, "trigger": trigger, "comment": comment}  # fmt: skip
    retrain_jobs.start(p.me, label, "models.retrain", payload)
    st.rerun()
