"""Notifications: events published inside the caller's transaction (an outbox), delivered by the worker
to signed webhooks and apprise channels (Slack, Teams, e-mail)."""
