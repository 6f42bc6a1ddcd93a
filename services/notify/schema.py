"""Tables of notifications: channels with their subscribed events, the outbox of events, and deliveries.

`publish` writes a NotifyEvent and one Delivery per subscribed channel in the caller's transaction
(the outbox); the worker delivers them and logs every attempt. A channel's secret is stored to sign
with, and never read back out by a view or a log line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.core.schema_columns import json_field
from services.core.timeutil import utcnow


class Channel(SQLModel, table=True):
    __tablename__ = "notify_channel"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="", max_length=200)
    kind: str = Field(max_length=20)  # webhook | apprise | email (a person's own: user_id)
    url: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # apprise URLs carry tokens: masked in views
    secret: str = Field(default="", max_length=200)  # HMAC key of a webhook; never shown again
    events: list[str] = json_field(nullable=False, default=list)
    allow_private: bool = Field(default=False)
    enabled: bool = Field(default=True)
    paused_reason: str = Field(default="", max_length=500)
    consecutive_failures: int = Field(default=0)
    created_by: str = Field(default="", max_length=320)
    created_at: datetime = Field(default_factory=utcnow)
    # A person's own e-mail channel (kind "email", url ""): it gets only the events addressed to that person
    # (events.publish's recipients), mailed to the account's address through LOOPDECK_SMTP_URL.
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True, unique=True)


class NotifyEvent(SQLModel, table=True):
    __tablename__ = "notify_event"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=40, unique=True)
    type: str = Field(max_length=60, index=True)
    payload: dict[str, Any] = json_field(nullable=False, default=dict)
    deep_link: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    __tablename__ = "notify_delivery"
    __table_args__ = (sa.Index("ix_notify_delivery_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="notify_event.id", index=True)
    channel_id: int = Field(foreign_key="notify_channel.id", index=True)
    status: str = Field(default="pending", max_length=20)  # pending | delivered | failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_status_code: int | None = None
    last_error: str = Field(default="", max_length=500)
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "notify_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="notify_delivery.id", index=True)
    ts: datetime = Field(default_factory=utcnow)
    status_code: int | None = None
    error: str = Field(default="", max_length=500)
    duration_ms: int = Field(default=0)
