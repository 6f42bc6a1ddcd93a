"""An experiment's lifecycle on the Experiments screen: start a draft or edit it, amend a started one with a
reason (pre-registration: the design is frozen at the start), resume a stopped one, conclude with a
decision."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import widgets
from pages.experiments import keys
from pages.experiments.tables import OUTCOME_NAMES, guardrail_texts, guardrails_from_text, metric_list
from services.core.errors import LoopdeckError
from services.core.roles import Actor
from services.experiments import lifecycle as experiments


def _design_form(prefix: str, exp, with_reason: bool) -> tuple[bool, dict[str, Any], str]:
    inc, dec = guardrail_texts(exp.guardrail_metrics)
    with st.form(f"{prefix}_{exp.key}"):
        hypothesis = st.text_area("Hypothesis", value=exp.hypothesis or "", key=f"{prefix}{keys.F_HYP}{exp.key}")
        c = st.columns(2)
        secondary = c[0].text_input("Secondary metrics", value=", ".join(exp.secondary_metrics or ()),
                                    key=f"{prefix}{keys.F_SEC}{exp.key}")  # fmt: skip
        primary = c[1].text_input("Primary metric", value=exp.primary_metric, key=f"{prefix}{keys.F_PRI}{exp.key}")
        g = st.columns(2)
        bad_up = g[0].text_input("Guardrails: bad if they go up", value=inc, key=f"{prefix}{keys.F_UP}{exp.key}")
        bad_down = g[1].text_input("Guardrails: bad if they go down", value=dec, key=f"{prefix}{keys.F_DOWN}{exp.key}")
        d = st.columns(3)
        planned = d[0].number_input("Planned units per arm", 0, value=int(exp.planned_sample_size or 0), step=100,
                                    key=f"{prefix}{keys.F_N}{exp.key}")  # fmt: skip
        scale = 100 if exp.mde_relative else 1
        mde = d[1].number_input("MDE (%)" if exp.mde_relative else "MDE", 0.0, value=float(exp.mde or 0) * scale,
                                format="%.4g", key=f"{prefix}{keys.F_MDE}{exp.key}")  # fmt: skip
        rule = d[2].radio(
            "Stopping rule",
            experiments.STOPPING_RULES,
            horizontal=True,
            index=experiments.STOPPING_RULES.index(exp.stopping_rule),
            key=f"{prefix}{keys.F_RULE}{exp.key}",
        )
        reason = ""
        if with_reason:
            reason = st.text_area(
                "Reason for the amendment (recorded in the audit log)", key=f"{prefix}{keys.F_WHY}{exp.key}"
            )
        label = "Record the amendment" if with_reason else "Save the draft"
        submitted = st.form_submit_button(label, type="primary")
    candidate = {
        "hypothesis": hypothesis, "primary_metric": primary, "secondary_metrics": metric_list(secondary),
        "guardrail_metrics": guardrails_from_text(bad_up, bad_down), "planned_sample_size": int(planned) or None,
        "mde": (mde / scale) or None, "stopping_rule": rule,
    }  # fmt: skip
    current = experiments.design_of(exp)
    changes = {k: v for k, v in candidate.items() if current.get(k) != v}
    old_mde, new_mde = current.get("mde"), changes.get("mde")
    if new_mde is not None and old_mde is not None and math.isclose(new_mde, old_mde, rel_tol=1e-9):
        changes.pop("mde")
    return submitted, changes, reason


def render(me: Actor, engine: Engine, exp) -> None:
    if exp.status == "draft":
        st.button("Start the experiment", type="primary", icon=":material/play_arrow:", key=keys.START,
                  on_click=_start, args=(me, engine, exp.key))  # fmt: skip
        with st.expander("Edit the draft"):
            submitted, changes, _ = _design_form(keys.EDIT, exp, with_reason=False)
            if submitted:
                widgets.attempt(lambda: experiments.update_draft(engine, me, exp.key, changes),
                                f"Saved the draft of {exp.key}.")  # fmt: skip
        return
    if exp.status in ("running", "stopped"):
        st.info(
            f"The design is frozen since the start ({fmt.when(exp.start_at)}): pre-registration. A change is an "
            "amendment, recorded in the audit log with its reason and the values before and after."
        )
        with st.expander("Amend the design (on the record)"):
            submitted, changes, reason = _design_form(keys.AMEND, exp, with_reason=True)
            if submitted:
                widgets.attempt(lambda: experiments.amend_experiment(engine, me, exp.key, changes, reason),
                                f"Amendment to {exp.key} recorded.")  # fmt: skip
        if exp.status == "stopped":
            with st.form(f"{keys.RESUME}{exp.key}"):
                why = st.text_input("Why is it safe to continue?", key=f"{keys.RESUME_WHY}{exp.key}")
                if st.form_submit_button("Resume the experiment"):
                    widgets.attempt(lambda: experiments.set_status(engine, me, exp.key, "running", comment=why),
                                    f"{exp.key} is running again.")  # fmt: skip
        with st.expander("Conclude with a decision"), st.form(f"{keys.CONCLUDE}{exp.key}"):
            if exp.status == "running":
                st.caption("Concluding a running experiment stops it: that needs an approved stop request.")
            outcome = st.radio("Decision", experiments.OUTCOMES, format_func=OUTCOME_NAMES.get, horizontal=True,
                               key=f"{keys.OUTCOME}{exp.key}")  # fmt: skip
            rationale = st.text_area("Rationale (what the data says, what ships, what is next)",
                                     key=f"{keys.RATIONALE}{exp.key}")  # fmt: skip
            if st.form_submit_button("Conclude the experiment", type="primary"):
                widgets.attempt(
                    lambda: experiments.conclude(engine, me, exp.key, rationale, outcome=outcome),
                    f"{exp.key} concluded: {OUTCOME_NAMES[outcome]}.",
                )


def _start(me: Actor, engine: Engine, key: str) -> None:
    try:
        experiments.start_experiment(engine, me, key)
    except LoopdeckError as exc:
        widgets.flash("error", str(exc))
        return
    widgets.flash("success", f"{key} is running; its design is now frozen.")
