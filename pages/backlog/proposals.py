"""The Proposals tab of the Backlog screen: the items Loopdeck proposes from open signals, to accept or
dismiss, and the dismissed ones to restore."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import streamlit as st
from sqlalchemy.engine import Engine

from app import format as fmt
from app import widgets
from app.backlog_form import kind_label as _kind
from pages.backlog import keys
from services.core.roles import Actor, Role
from services.overview import proposals


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def _act(call: Callable[[], Any], success: str | Callable[[Any], str]) -> None:
    """One action on a proposal; the next run keeps the Proposals tab open (pages/backlog/screen.py)."""
    st.session_state[keys.ON_PROPOSALS] = True
    widgets.attempt(call, success)


def render(engine: Engine, actor: Actor, found: proposals.ProposalList) -> None:
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
                if cols[0].button("Accept as planned", key=f"{keys.PROP_PLAN}{k}", type="primary"):
                    _act(lambda p=p: proposals.accept(engine, actor, p.key, status="planned", owner=actor.label),
                         lambda item: f"Planned as item #{item.id}.")  # fmt: skip
                if cols[1].button("Accept as proposed", key=f"{keys.PROP_PROPOSE}{k}"):
                    _act(lambda p=p: proposals.accept(engine, actor, p.key, status="proposed"),
                         lambda item: f"Added as item #{item.id}.")  # fmt: skip
                reason = cols[2].text_input("Reason to dismiss", key=f"{keys.PROP_REASON}{k}",
                                            label_visibility="collapsed", placeholder="Reason to dismiss")  # fmt: skip
                if cols[3].button("Dismiss", key=f"{keys.PROP_DISMISS}{k}"):
                    _act(lambda p=p, reason=reason: proposals.dismiss(engine, actor, p.key, reason),
                         "Dismissed: it will not be proposed again.")  # fmt: skip
    dismissed = proposals.list_dismissed(engine)
    if dismissed:
        with st.expander(f"Dismissed proposals ({len(dismissed)})"):
            for d in dismissed:
                cols = st.columns([4, 1])
                cols[0].text(f"{d.title} — {d.reason or 'no reason'} ({d.decided_by}, {fmt.when(d.decided_at)})")
                if actor.can(Role.analyst) and cols[1].button("Restore", key=f"{keys.PROP_RESTORE}{_safe(d.key)}"):
                    _act(lambda d=d: proposals.restore(engine, actor, d.key), "Proposed again.")
