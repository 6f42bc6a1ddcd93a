"""The Notifications screen (admins): channels with their subscribed events, the delivery log with
status codes, and replay. Secrets are typed once and never shown again."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from app import widgets
from pages.notifications import keys
from services.core.roles import Actor
from services.notify import channels, events


def channels_frame(rows: list[channels.ChannelView]) -> pd.DataFrame:
    columns = ["id", "name", "kind", "target", "events", "state", "failures in a row", "private allowed"]
    return pd.DataFrame(
        [[c.id, c.name, c.kind, c.target, ", ".join(c.events), "enabled" if c.enabled else f"paused: {c.paused_reason}",
          c.consecutive_failures, c.allow_private] for c in rows],
        columns=columns,
    )  # fmt: skip


def log_frame(rows: list[channels.DeliveryView]) -> pd.DataFrame:
    columns = ["delivery", "event", "type", "channel", "status", "attempts", "last status code", "last error",
               "created", "delivered", "next attempt"]  # fmt: skip
    return pd.DataFrame(
        [[d.id, d.event_id, d.event_type, d.channel_id, d.status, d.attempts, d.last_status_code, d.last_error,
          d.created_at, d.delivered_at, d.next_attempt_at if d.status == "pending" else None] for d in rows],
        columns=columns,
    )  # fmt: skip


def _add(me: Actor, engine: Engine) -> None:
    st.subheader("Add a channel")
    kind = st.segmented_control("Kind", list(channels.KINDS), default="webhook", key=keys.KIND, required=True)
    help_text = "https://... (signed webhook)" if kind == "webhook" else "slack://..., msteams://..., mailtos://..."
    url = st.text_input("URL", key=keys.URL, help=help_text)
    secret = st.text_input("Secret (16+ characters; never shown again)", type="password", key=keys.SECRET,
                           disabled=kind != "webhook")  # fmt: skip
    chosen = st.multiselect("Events", [events.ALL, *events.EVENT_TYPES], key=keys.EVENTS)
    private = st.checkbox("Allow private, loopback and link-local addresses", key=keys.PRIVATE)
    if st.button("Add channel", type="primary", key=keys.ADD):
        key = secret or channels.new_secret()
        widgets.attempt(
            lambda: channels.add_channel(engine, me, kind, url, chosen, secret=key, allow_private=private),
            lambda v: f"Channel {v.id} added.",
        )


def _manage(me: Actor, engine: Engine, rows: list[channels.ChannelView]) -> None:
    live = [c for c in rows if c.paused_reason != "removed"]
    if not live:
        return
    names = {c.id: f"{c.id}: {c.name} ({c.target})" for c in live}
    chosen = st.selectbox("Channel", list(names), key=keys.CHANNEL, format_func=names.get)
    channel = next(c for c in live if c.id == chosen)
    a, b, c = st.columns(3)
    if a.button("Send a test event", key=keys.TEST):
        widgets.attempt(lambda: channels.test_channel(engine, me, chosen), lambda e: f"Test event {e} queued.")
    if b.button("Resume" if not channel.enabled else "Pause", key=keys.TOGGLE):
        widgets.attempt(lambda: channels.set_enabled(engine, me, chosen, not channel.enabled), "Saved.")
    if c.button("Remove", key=keys.REMOVE):
        widgets.attempt(lambda: channels.remove_channel(engine, me, chosen), "Removed.")


def render(me: Actor, engine: Engine) -> None:
    st.title("Notifications")
    rows = channels.list_channels(engine, me)
    st.dataframe(channels_frame(rows), hide_index=True, width="stretch", key=keys.CHANNELS)
    _manage(me, engine, rows)
    _add(me, engine)
    st.subheader("Delivery log")
    log = channels.delivery_log(engine, me)
    st.dataframe(log_frame(log), hide_index=True, width="stretch", key=keys.LOG)
    if log:
        pick = st.selectbox("Replay delivery", [d.id for d in log], key=keys.REPLAY_ID)
        if st.button("Replay", key=keys.REPLAY):
            widgets.attempt(lambda: channels.replay(engine, me, pick), lambda n: f"Queued again as delivery {n}.")
