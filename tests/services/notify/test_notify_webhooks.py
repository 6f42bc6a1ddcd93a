"""Signed webhooks against a local HTTP receiver that checks every signature; retries with backoff on a
controllable clock; URL rules; secrets never shown; a failing channel paused; replay; the CLI."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from services.cli.main import main as cli
from services.core.db import write_session
from services.core.errors import InvalidInput, PermissionDenied
from services.core.timeutil import utcnow
from services.notify import channels, delivery, events
from services.notify.schema import Channel
from tests.conftest import actor_of

SECRET = "s3cret-of-sixteen-plus"


class Receiver:
    """POSTs land here; each is checked against SECRET. `fail_first` answers 500 that many times."""

    def __init__(self, fail_first: int = 0):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts, sig = self.headers["X-Loopdeck-Timestamp"], self.headers["X-Loopdeck-Signature"]
                expected = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
                receiver.requests.append({"event": self.headers["X-Loopdeck-Event"], "valid": hmac.compare_digest(
                    sig, expected), "body": json.loads(body)})  # fmt: skip
                code = 500 if len(receiver.requests) <= receiver.fail_first else 204
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _hook(engine, admin, receiver, types=("alert.opened",)):
    return channels.add_channel(engine, admin, "webhook", receiver.url, list(types), secret=SECRET, allow_private=True)


def _publish(engine, event_type="alert.opened", payload=None):
    with write_session(engine) as session:
        return events.publish(session, event_type, payload or {"alert_id": 7}, "/monitoring?alert=7").event_id


def test_a_published_event_reaches_the_webhook_signed(engine, admin, receiver, monkeypatch):
    monkeypatch.setenv("LOOPDECK_PUBLIC_URL", "https://loopdeck.example.com/")
    hook = _hook(engine, admin, receiver)
    event_id = _publish(engine)
    _publish(engine, "alert.resolved")  # not subscribed: not sent
    assert delivery.deliver_due(engine) == {"delivered": 1, "retrying": 0, "failed": 0}
    [got] = receiver.requests
    assert got["valid"] and got["event"] == "alert.opened"
    assert got["body"]["id"] == event_id and got["body"]["data"] == {"alert_id": 7}
    assert got["body"]["deep_link"] == "https://loopdeck.example.com/monitoring?alert=7"  # clickable from anywhere
    [log] = channels.delivery_log(engine, admin, hook.id)
    assert log.status == "delivered" and log.last_status_code == 204


def test_failures_are_retried_with_exponential_backoff(engine, admin, receiver):
    receiver.fail_first = 2
    _hook(engine, admin, receiver)
    _publish(engine)
    t0 = utcnow()
    assert delivery.deliver_due(engine, t0)["retrying"] == 1
    assert delivery.deliver_due(engine, t0 + timedelta(seconds=1))["retrying"] == 0  # not due before 2 s
    assert delivery.deliver_due(engine, t0 + timedelta(seconds=2))["retrying"] == 1  # then 4 s more
    assert delivery.deliver_due(engine, t0 + timedelta(seconds=5))["delivered"] == 0
    assert delivery.deliver_due(engine, t0 + timedelta(seconds=6))["delivered"] == 1
    assert [r["valid"] for r in receiver.requests] == [True, True, True]
    [log] = channels.delivery_log(engine, admin)
    codes = [a.status_code for a in channels.attempts_of(engine, admin, log.id)]
    assert codes == [500, 500, 204] and log.attempts == 3


def test_a_channel_failing_repeatedly_is_paused_and_the_admins_told(engine, admin, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "MAX_ATTEMPTS", 1)
    receiver.fail_first = 10**6
    hook = _hook(engine, admin, receiver)
    other = _hook(engine, admin, Receiver(), types=("channel.paused",))
    for _ in range(delivery.PAUSE_AFTER):
        _publish(engine)
    delivery.deliver_due(engine)
    paused = {c.id: c for c in channels.list_channels(engine, admin)}[hook.id]
    assert not paused.enabled and "5 failed deliveries" in paused.paused_reason
    log = channels.delivery_log(engine, admin, other.id)
    assert [d.event_type for d in log] == ["channel.paused"]
    assert channels.set_enabled(engine, admin, hook.id, True).enabled


def test_replay_sends_the_same_event_again(engine, admin, receiver):
    _hook(engine, admin, receiver)
    _publish(engine)
    delivery.deliver_due(engine)
    [first] = channels.delivery_log(engine, admin)
    channels.replay(engine, admin, first.id)
    delivery.deliver_due(engine)
    assert [r["body"]["id"] for r in receiver.requests] == [first.event_id] * 2
    assert all(r["valid"] for r in receiver.requests)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/x",
     "ftp://93.184.216.34/x", "file:///etc/passwd", "http://user:pw@93.184.216.34/x", "http://192.168.0.5/"],
)  # fmt: skip
def test_webhook_urls_are_refused_unless_public_http(engine, admin, url):
    with pytest.raises(InvalidInput):
        channels.add_channel(engine, admin, "webhook", url, ["test"], secret=SECRET)


def test_a_public_address_is_accepted_and_private_ones_need_the_flag(engine, admin):
    assert channels.add_channel(engine, admin, "webhook", "https://93.184.216.34/x", ["test"], secret=SECRET).id
    assert channels.add_channel(engine, admin, "webhook", "http://10.0.0.1/x", ["test"], secret=SECRET,
                                allow_private=True).allow_private  # fmt: skip


def test_secrets_are_never_shown_again_and_only_admins_manage_channels(engine, admin, receiver):
    view = _hook(engine, admin, receiver)
    assert SECRET not in repr(view) and view.has_secret
    assert SECRET not in repr(channels.list_channels(engine, admin))
    with engine.connect() as conn:
        assert not conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE payload LIKE :s"),
                                {"s": f"%{SECRET}%"}).scalar()  # fmt: skip
    with pytest.raises(PermissionDenied):
        channels.add_channel(engine, actor_of("approver"), "webhook", receiver.url, ["test"], secret=SECRET)
    with pytest.raises(InvalidInput):
        channels.add_channel(engine, admin, "webhook", receiver.url, ["no.such.event"], secret=SECRET,
                             allow_private=True)  # fmt: skip


def test_the_cli_adds_lists_tests_and_removes_webhooks(engine, receiver, monkeypatch, capsys):
    monkeypatch.setenv("LOOPDECK_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    argv = ["webhooks", "add", "--url", receiver.url, "--secret", SECRET, "--event", "alert.opened", "--event",
            "job.failed", "--allow-private"]  # fmt: skip
    assert cli(argv) == 0
    assert cli(["webhooks", "add", "--url", receiver.url, "--secret", SECRET, "--event", "test"]) == 2  # loopback
    assert cli(["webhooks", "list"]) == 0
    hook_id = engine.connect().execute(sa.select(sa.func.max(Channel.id))).scalar()
    assert cli(["webhooks", "test", str(hook_id)]) == 0
    assert delivery.deliver_due(engine)["delivered"] == 1
    assert receiver.requests[0]["event"] == "test" and receiver.requests[0]["valid"]
    assert cli(["webhooks", "remove", str(hook_id)]) == 0
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err and "alert.opened,job.failed" in out.out


def test_an_email_channel_delivers_through_apprise_to_smtp(engine, admin):
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    import socket

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            received.append(envelope)
            return "250 OK"

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    smtp = controller_mod.Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        url = f"mailto://127.0.0.1:{port}?from=loopdeck@example.com&to=ops@example.com&mode=insecure"
        view = channels.add_channel(engine, admin, "apprise", url, ["report.weekly_ready"], name="ops mail")
        assert "127.0.0.1" in view.target and "ops@example.com" not in view.target
        _publish(engine, "report.weekly_ready", {"week": "2026-W48"})
        assert delivery.deliver_due(engine)["delivered"] == 1
    finally:
        smtp.stop()
    [mail] = received
    assert mail.rcpt_tos == ["ops@example.com"] and b"2026-W48" in mail.content
