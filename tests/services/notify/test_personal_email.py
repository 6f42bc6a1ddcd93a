"""Approvers hear about a request addressed to them (SQLite and Postgres): people who opted in to their own
e-mail get, through the configured SMTP server (aiosmtpd here), `approval.requested` when they may decide
the request (approver and up, enabled, not the requester) and `approval.decided` on their own requests;
nobody else's channel gets a personal event, and the mail links to the request on the public address."""

from __future__ import annotations

import socket
from email import message_from_bytes

import pytest

from services.core import settings, users
from services.core.errors import InvalidInput
from services.core.roles import Actor
from services.experiments import lifecycle as experiments
from services.governance import approvals
from services.notify import channels, delivery, personal
from tests.services.experiments.test_experiments import T0, register

ROOT = Actor.system("root")
controller_mod = pytest.importorskip("aiosmtpd.controller")


def _person(engine, email: str, role: str) -> Actor:
    view = users.add_user(engine, ROOT, email, role, "a long password")
    return users.current_actor(engine, view.id)


class Inbox:
    """An SMTP server on a free local port that keeps what it receives."""

    def __init__(self) -> None:
        self.mails: list = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                inbox.mails.append(envelope)
                return "250 OK"

        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.controller = controller_mod.Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, email: str) -> list[str]:
        """The subjects and bodies mailed to this address."""
        out = []
        for mail in self.mails:
            if email in mail.rcpt_tos:
                msg = message_from_bytes(mail.content)
                part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
                out.append(f"{msg['Subject']}\n{part.get_payload(decode=True).decode()}")
        return out


@pytest.fixture
def inbox(monkeypatch):
    box = Inbox()
    monkeypatch.setenv("LOOPDECK_SMTP_URL", f"mailto://127.0.0.1:{box.port}?from=loopdeck@example.com&mode=insecure")
    monkeypatch.setenv("LOOPDECK_PUBLIC_URL", "https://loopdeck.example.com")
    yield box
    box.controller.stop()


def test_approvers_get_the_request_and_the_requester_gets_the_decision(engine, inbox):
    team = {n: _person(engine, f"{n}@example.com", r) for n, r in
            (("ana", "analyst"), ("p1", "approver"), ("p2", "approver"), ("p3", "approver"), ("boss", "admin"),
             ("vic", "viewer"), ("gone", "approver"))}  # fmt: skip
    for name in ("ana", "p1", "p2", "boss", "vic", "gone"):  # p3 did not opt in
        view = personal.set_personal(engine, team[name], True)
        assert view.enabled and view.available and view.email == f"{name}@example.com"
    users.set_disabled(engine, team["boss"], team["gone"].user_id, True)
    settings.set_value(engine, ROOT, "approvals.required", {"stop-experiment": 1})
    exp = register(engine, actor=team["ana"], key="exp-1")
    experiments.start_experiment(engine, team["ana"], exp.key, at=T0)

    request = experiments.request_stop(engine, team["p1"], "exp-1", "guard rail breached")  # an approver asks
    assert delivery.deliver_due(engine)["delivered"] == 2
    asked = f"https://loopdeck.example.com/approval-requests?request={request.id}"
    for name in ("p2", "boss"):  # who may decide it, and opted in
        [mail] = inbox.to(f"{name}@example.com")
        assert "A request awaits approval" in mail and asked in mail and "guard rail" not in mail.split("\n")[0]
    for name in ("p1", "p3", "ana", "vic", "gone"):  # the requester, not opted in, not approvers, disabled
        assert inbox.to(f"{name}@example.com") == []

    approvals.decide(engine, team["p2"], request.id, "approve")
    assert delivery.deliver_due(engine)["delivered"] == 1
    [mail] = inbox.to("p1@example.com")
    assert "A request was approved or rejected" in mail and "status: approved" in mail and asked in mail
    assert len(inbox.mails) == 3  # nobody else heard of the decision


def test_opting_out_and_what_the_admins_see(engine, inbox, monkeypatch):
    p1 = _person(engine, "p1@example.com", "approver")
    ana = _person(engine, "ana@example.com", "analyst")
    personal.set_personal(engine, p1, True)
    assert not personal.set_personal(engine, p1, False).enabled
    with pytest.raises(InvalidInput):
        personal.set_personal(engine, p1, True, ("alert.opened",))
    with pytest.raises(InvalidInput):
        personal.set_personal(engine, ROOT, True)  # the system has no mailbox
    [channel] = channels.list_channels(engine, ROOT)
    assert channel.kind == "email" and channel.target == f"personal e-mail of user #{p1.user_id}"
    settings.set_value(engine, ROOT, "approvals.required", {"stop-experiment": 1})
    exp = register(engine, actor=ana, key="exp-1")
    experiments.start_experiment(engine, ana, exp.key, at=T0)
    experiments.request_stop(engine, ana, "exp-1", "guard rail breached")
    assert delivery.deliver_due(engine)["delivered"] == 0 and inbox.mails == []

    personal.set_personal(engine, p1, True)
    monkeypatch.delenv("LOOPDECK_SMTP_URL")  # no SMTP server: the delivery fails and is retried, as any other
    assert not personal.get_personal(engine, p1).available
    exp2 = register(engine, actor=ana, key="exp-2")
    experiments.start_experiment(engine, ana, exp2.key, at=T0)
    experiments.request_stop(engine, ana, "exp-2", "guard rail breached")
    assert delivery.deliver_due(engine)["retrying"] == 1
    [log] = channels.delivery_log(engine, ROOT)
    assert "LOOPDECK_SMTP_URL" in log.last_error
