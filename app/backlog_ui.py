"""The Backlog screen: ranked items with filters, an item's detail (edit, move, close with outcome,
evidence, history), the system's proposals to accept or dismiss, and items by kind over time.

Other pages file items from their evidence with `create_from_evidence(...)` (a small form), so every
"Create backlog item" button in Loopdeck goes through the same service call."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import figures_backlog, widgets
from app import format as fmt
from services.backlog import evidence as backlog_evidence
from services.backlog import items as backlog
from services.backlog import scoring
from services.backlog.evidence import EvidenceRef
from services.core.roles import Actor, Role
from services.overview import proposals

PAGE_OF_EVIDENCE = {
    "alert": "pages/monitoring/page.py", "drift": "pages/monitoring/page.py", "cohort_gap": "pages/monitoring/page.py",
    "theme": "pages/feedback/page.py", "feedback": "pages/feedback/page.py", "experiment": "pages/experiments/page.py",
    "judge_gate": "pages/models/page.py",
}  # fmt: skip
STATUS_LABELS = {"proposed": "Proposed", "planned": "Planned", "in_progress": "In progress", "done": "Done",
                 "dropped": "Dropped"}  # fmt: skip
IMPACT_OPTIONS = list(scoring.IMPACT_SCALE)
ANYONE = "Anyone"


def _kind(k: str) -> str:
    return backlog.KIND_LABELS.get(k, k)


def _num(value: float | None, digits: str = ".4g") -> str:
    return fmt.DASH if value is None or pd.isna(value) else format(value, digits)


def items_frame(items: list) -> pd.DataFrame:
    """The ranked table as shown: rank, id, title, kind, status, owner, score, method, reach."""
    rows = [
        {"rank": i + 1, "id": it.id, "title": it.title, "kind": _kind(it.kind),
         "status": STATUS_LABELS.get(it.status, it.status), "owner": it.owner or "", "score": it.score,
         "method": it.scoring.upper(), "reach / week": it.reach, "created": it.created_at}
        for i, it in enumerate(items)
    ]  # fmt: skip
    columns = ["rank", "id", "title", "kind", "status", "owner", "score", "method", "reach / week", "created"]
    return pd.DataFrame(rows, columns=columns)


# --- creating ----------------------------------------------------------------------------------


def create_from_evidence(
    engine: Engine, actor: Actor, ref: EvidenceRef, default_title: str, *, key: str,
    kind: str = "model_improvement", description: str = "",
) -> None:  # fmt: skip
    """A small form another page places next to its evidence (an experiment result, a failed judge gate,
    a cohort gap): creates a proposed item linking `ref`; reach is pre-filled from it."""
    if not actor.can(Role.analyst):
        return
    with st.form(f"bl_from_{key}"):
        title = st.text_input("Backlog item title", value=default_title, key=f"bl_from_title_{key}")
        kinds = list(backlog.KINDS)
        chosen = st.selectbox("Kind", kinds, index=kinds.index(kind), format_func=_kind, key=f"bl_from_kind_{key}")
        if st.form_submit_button("Create backlog item", icon=":material/playlist_add:"):
            widgets.attempt(
                lambda: backlog.create_item(engine, actor, kind=chosen, title=title, description=description,
                                            links=[ref]),
                lambda item: f"Backlog item #{item.id} created.",
            )  # fmt: skip


def _new_item_form(engine: Engine, actor: Actor) -> None:
    with st.expander("New backlog item", icon=":material/add:"), st.form(widgets.form_key("bl_new")):
        title = st.text_input("Title", key="bl_new_title")
        cols = st.columns(3)
        kind = cols[0].selectbox("Kind", backlog.KINDS, format_func=_kind, key="bl_new_kind")
        owner = cols[1].text_input("Owner (e-mail)", value=actor.label, key="bl_new_owner")
        status = cols[2].selectbox("Status", ["proposed", "planned"], format_func=STATUS_LABELS.get,
                                   key="bl_new_status")  # fmt: skip
        description = st.text_area("Description", key="bl_new_description")
        st.caption("Evidence (optional): what justifies the item. Reach is pre-filled from it when left at 0.")
        ecols = st.columns(2)
        ref_type = ecols[0].selectbox(
            "Evidence type", ["(none)", *backlog_evidence.EVIDENCE_TYPES], key="bl_new_ref_type"
        )
        ref_id = ecols[1].text_input("Evidence id", key="bl_new_ref_id",
                                     help="alert id, theme id, experiment id, model:field=value for a cohort "
                                          "gap, model:feature for drift")  # fmt: skip
        st.caption("RICE: reach x impact x confidence / effort.")
        rcols = st.columns(4)
        reach = rcols[0].number_input("Reach per week", min_value=0.0, value=0.0, key="bl_new_reach")
        impact = rcols[1].selectbox("Impact", IMPACT_OPTIONS, index=2, key="bl_new_impact",
                                    format_func=lambda v: f"{v:g} ({scoring.IMPACT_SCALE[v]})")  # fmt: skip
        confidence = rcols[2].number_input("Confidence (0-1)", 0.0, 1.0, 0.8, step=0.1, key="bl_new_confidence")
        effort = rcols[3].number_input("Effort (person-weeks)", min_value=0.1, value=1.0, key="bl_new_effort")
        if st.form_submit_button("Create item", type="primary"):
            links = [] if ref_type == "(none)" or not ref_id.strip() else [EvidenceRef(ref_type, ref_id.strip())]

            def create():
                item = backlog.create_item(
                    engine, actor, kind=kind, title=title, description=description, owner=owner, status=status,
                    links=links, reach=reach or None, impact=impact, confidence=confidence, effort=effort,
                )  # fmt: skip
                widgets.reset_form("bl_new")
                st.session_state["bl_selected"] = item.id
                return item

            widgets.attempt(create, lambda item: f"Backlog item #{item.id} created.")


# --- the list and one item -----------------------------------------------------------------------


def _filters(engine: Engine) -> tuple[list[str], list[str], str | None]:
    cols = st.columns([2, 2, 1])
    kinds = cols[0].multiselect("Kind", backlog.KINDS, format_func=_kind, key="bl_filter_kind")
    statuses = cols[1].multiselect("Status", backlog.STATUSES, default=list(backlog.OPEN_STATUSES),
                                   format_func=STATUS_LABELS.get, key="bl_filter_status")  # fmt: skip
    owner = cols[2].selectbox("Owner", [ANYONE, *backlog.owners(engine)], key="bl_filter_owner")
    return kinds, statuses, None if owner == ANYONE else owner


def _evidence(detail: backlog.ItemDetail) -> None:
    st.markdown("**Evidence**")
    if not detail.evidence:
        st.caption("No evidence linked yet.")
    for e in detail.evidence:
        cols = st.columns([3, 1])
        cols[0].text(f"{e.ref_type} {e.ref_id}" + (f": {e.label}" if e.label else ""))
        page = PAGE_OF_EVIDENCE.get(e.ref_type)
        if page:
            cols[1].page_link(page, label="Open", icon=":material/open_in_new:")


def _edit_form(engine: Engine, actor: Actor, item) -> None:
    with st.form(f"bl_edit_{item.id}_{item.version}"):
        title = st.text_input("Title", value=item.title, key=f"bl_edit_title_{item.id}")
        cols = st.columns(3)
        kind = cols[0].selectbox("Kind", backlog.KINDS, index=backlog.KINDS.index(item.kind), format_func=_kind,
                                 key=f"bl_edit_kind_{item.id}")  # fmt: skip
        owner = cols[1].text_input("Owner", value=item.owner or "", key=f"bl_edit_owner_{item.id}")
        method = cols[2].radio("Scoring", scoring.METHODS, index=scoring.METHODS.index(item.scoring),
                               format_func=str.upper, horizontal=True, key=f"bl_edit_scoring_{item.id}")  # fmt: skip
        description = st.text_area("Description", value=item.description, key=f"bl_edit_description_{item.id}")
        st.caption("RICE")
        r = st.columns(4)
        reach = r[0].number_input("Reach per week", min_value=0.0, value=float(item.reach or 0.0),
                                  key=f"bl_edit_reach_{item.id}")  # fmt: skip
        impact = r[1].number_input("Impact (0.25-3)", min_value=0.0, value=float(item.impact or 1.0), step=0.25,
                                   key=f"bl_edit_impact_{item.id}")  # fmt: skip
        confidence = r[2].number_input("Confidence (0-1)", 0.0, 1.0, float(item.confidence or 0.8), step=0.1,
                                       key=f"bl_edit_confidence_{item.id}")  # fmt: skip
        effort = r[3].number_input("Effort (person-weeks)", min_value=0.1, value=float(item.effort or 1.0),
                                   key=f"bl_edit_effort_{item.id}")  # fmt: skip
        st.caption("WSJF: (business value + time criticality + risk reduction) / job size")
        w = st.columns(4)
        bv = w[0].number_input("Business value", min_value=0.0, value=float(item.business_value or 1.0),
                               key=f"bl_edit_bv_{item.id}")  # fmt: skip
        tc = w[1].number_input("Time criticality", min_value=0.0, value=float(item.time_criticality or 1.0),
                               key=f"bl_edit_tc_{item.id}")  # fmt: skip
        rr = w[2].number_input("Risk reduction", min_value=0.0, value=float(item.risk_reduction or 1.0),
                               key=f"bl_edit_rr_{item.id}")  # fmt: skip
        size = w[3].number_input("Job size", min_value=0.1, value=float(item.job_size or 1.0),
                                 key=f"bl_edit_size_{item.id}")  # fmt: skip
        if st.form_submit_button("Save changes"):
            changes = {"title": title, "kind": kind, "owner": owner, "scoring": method, "description": description,
                       "reach": reach, "impact": impact, "confidence": confidence, "effort": effort}  # fmt: skip
            if method == "wsjf" or item.scoring == "wsjf" or item.business_value is not None:
                changes |= {"business_value": bv, "time_criticality": tc, "risk_reduction": rr, "job_size": size}
            widgets.attempt(
                lambda: backlog.update_item(engine, actor, item.id, changes, expected_version=item.version),
                f"Item #{item.id} saved.",
            )


def _status_controls(engine: Engine, actor: Actor, item) -> None:
    moves = [s for s in backlog.TRANSITIONS[item.status] if s not in ("done", "dropped")]
    if moves:
        cols = st.columns(len(moves) + 1)
        for i, target in enumerate(moves):
            if cols[i].button(f"Move to {STATUS_LABELS[target].lower()}", key=f"bl_move_{item.id}_{target}"):
                widgets.attempt(
                    lambda target=target: backlog.transition(engine, actor, item.id, target,
                                                             expected_version=item.version),
                    f"Item #{item.id} is {STATUS_LABELS[target].lower()}.",
                )  # fmt: skip
    if "done" in backlog.TRANSITIONS[item.status]:
        with st.form(f"bl_close_{item.id}"):
            st.markdown("**Close as done** with the outcome")
            cols = st.columns(3)
            metric = cols[0].text_input("Metric", placeholder="accuracy on mobile", key=f"bl_close_metric_{item.id}")
            before = cols[1].number_input("Before", value=0.0, format="%.4f", key=f"bl_close_before_{item.id}")
            after = cols[2].number_input("After", value=0.0, format="%.4f", key=f"bl_close_after_{item.id}")
            note = st.text_input("Note", key=f"bl_close_note_{item.id}")
            if st.form_submit_button("Close as done"):
                widgets.attempt(
                    lambda: backlog.close(engine, actor, item.id, metric=metric, before=before, after=after,
                                          note=note, expected_version=item.version),
                    f"Item #{item.id} closed.",
                )  # fmt: skip
    if "dropped" in backlog.TRANSITIONS[item.status]:
        with st.form(f"bl_drop_{item.id}"):
            reason = st.text_input("Why drop it?", key=f"bl_drop_reason_{item.id}")
            if st.form_submit_button("Drop item"):
                widgets.attempt(
                    lambda: backlog.transition(engine, actor, item.id, "dropped", comment=reason,
                                               expected_version=item.version),
                    f"Item #{item.id} dropped.",
                )  # fmt: skip


def _detail(engine: Engine, actor: Actor, item_id: int) -> None:
    detail = backlog.get_item(engine, item_id)
    item = detail.item
    st.subheader(f"#{item.id} {item.title}", anchor=False)
    cols = st.columns(4)
    cols[0].metric("Status", STATUS_LABELS.get(item.status, item.status))
    cols[1].metric("Kind", _kind(item.kind))
    cols[2].metric(f"Score ({item.scoring.upper()})", _num(item.score), help=detail.score_formula)
    cols[3].metric("Reach / week", _num(item.reach, ",.1f"), help=item.reach_basis or "set by hand")
    st.caption(f"Owner: {item.owner or 'nobody yet'} · created by {item.created_by} {fmt.when(item.created_at)}")
    if item.description:
        st.text(item.description)
    if item.status == "done":
        st.text(f"Outcome: {item.outcome_metric} {_num(item.outcome_before)} -> {_num(item.outcome_after)}"
                + (f" ({(item.outcome or {}).get('note')})" if (item.outcome or {}).get("note") else ""))  # fmt: skip
    elif item.status == "dropped":
        st.text(f"Dropped: {(item.outcome or {}).get('note') or ''}")
    _evidence(detail)
    if actor.can(Role.analyst):
        _status_controls(engine, actor, item)
        with st.expander("Edit item"):
            _edit_form(engine, actor, item)
    with st.expander("History"):
        st.dataframe(
            pd.DataFrame([{"when": e.ts, "who": e.actor, "action": e.action, "details": e.payload}
                          for e in detail.history]),
            hide_index=True, width="stretch",
        )  # fmt: skip


def _items_tab(engine: Engine, actor: Actor) -> None:
    if actor.can(Role.analyst):
        _new_item_form(engine, actor)
    kinds, statuses, owner = _filters(engine)
    items = backlog.ranked(engine, kinds=kinds, statuses=statuses, owner=owner)
    if not items:
        st.info("No items match. Accept a proposal, or create one from an alert, a theme or an experiment.")
        return
    st.dataframe(
        items_frame(items), hide_index=True, width="stretch",
        column_config={"score": st.column_config.NumberColumn(format="%.4g"),
                       "reach / week": st.column_config.NumberColumn(format="%.1f"),
                       "id": st.column_config.NumberColumn(format="%d")},
    )  # fmt: skip
    ids = [it.id for it in items]
    titles = {it.id: it.title for it in items}
    selected = st.session_state.get("bl_selected")
    index = ids.index(selected) if selected in ids else 0
    chosen = st.selectbox("Open item", ids, index=index, format_func=lambda i: f"#{i} {titles[i]}", key="bl_open")
    st.session_state["bl_selected"] = chosen
    _detail(engine, actor, chosen)


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def _proposals_tab(engine: Engine, actor: Actor, found: proposals.ProposalList) -> None:
    st.caption(
        "Loopdeck proposes items from open signals that no item covers yet: a drifted feature of a champion, a "
        "growing negative feedback theme, a cohort newly below the rest, an open alert. Accepting creates the "
        "item with its evidence; dismissing is remembered."
    )
    for problem in found.problems:
        st.warning(fmt.md_escape(problem))
    if not found.proposals:
        st.info("No open proposals. (Drift and cohort signals read the monitoring data built so far.)")
    for p in found.proposals:
        k = _safe(p.key)
        with st.container(border=True):
            st.markdown(f"**{fmt.md_escape(p.title)}**")
            st.caption(f"{p.rule.replace('_', ' ')} · {_kind(p.kind)} · {p.key}")
            st.text(p.why)
            if actor.can(Role.analyst):
                cols = st.columns([1, 1, 2, 1])
                if cols[0].button("Accept as planned", key=f"bl_prop_plan_{k}", type="primary"):
                    widgets.attempt(lambda p=p: proposals.accept(engine, actor, p.key, status="planned",
                                                                 owner=actor.label),
                                    lambda item: f"Planned as item #{item.id}.")  # fmt: skip
                if cols[1].button("Accept as proposed", key=f"bl_prop_propose_{k}"):
                    widgets.attempt(lambda p=p: proposals.accept(engine, actor, p.key, status="proposed"),
                                    lambda item: f"Added as item #{item.id}.")  # fmt: skip
                reason = cols[2].text_input("Reason to dismiss", key=f"bl_prop_reason_{k}",
                                            label_visibility="collapsed", placeholder="Reason to dismiss")  # fmt: skip
                if cols[3].button("Dismiss", key=f"bl_prop_dismiss_{k}"):
                    widgets.attempt(lambda p=p, reason=reason: proposals.dismiss(engine, actor, p.key, reason),
                                    "Dismissed: it will not be proposed again.")  # fmt: skip
    dismissed = proposals.list_dismissed(engine)
    if dismissed:
        with st.expander(f"Dismissed proposals ({len(dismissed)})"):
            for d in dismissed:
                cols = st.columns([4, 1])
                cols[0].text(f"{d.title} — {d.reason or 'no reason'} ({d.decided_by}, {fmt.when(d.decided_at)})")
                if actor.can(Role.analyst) and cols[1].button("Restore", key=f"bl_prop_restore_{_safe(d.key)}"):
                    widgets.attempt(lambda d=d: proposals.restore(engine, actor, d.key), "Proposed again.")


def _over_time_tab(engine: Engine) -> None:
    flow = backlog.weekly_flow(engine)
    st.plotly_chart(figures_backlog.items_over_time(flow), width="stretch", key="bl_over_time")
    if not flow.empty:
        totals = flow.groupby("kind")[["created", "closed"]].sum()
        totals["open now"] = flow.groupby("kind")["open"].last()
        totals.index = [_kind(k) for k in totals.index]
        st.dataframe(totals, width="stretch")


def render_backlog(actor: Actor, engine: Engine) -> None:
    st.title("Backlog")
    widgets.show_flash()
    with st.spinner("Looking for open signals ..."):
        found = proposals.list_proposals(engine)
    tabs = st.tabs(["Ranked items", f"Proposals ({len(found.proposals)})", "By kind over time"])
    with tabs[0]:
        _items_tab(engine, actor)
    with tabs[1]:
        _proposals_tab(engine, actor, found)
    with tabs[2]:
        _over_time_tab(engine)
