"""Real local receivers for notification tests: an SMTP sink (aiosmtpd) and an HTTP server."""

from __future__ import annotations

import queue
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.db import transaction

from notifications.dispatch import notify
from notifications.models import Notification, WebhookEndpoint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self):
        from email import message_from_bytes

        return [message_from_bytes(e.content) for e in self.envelopes]


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1 with Django's SMTP backend pointed at it."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the HTTP receiver got, and how it answers (queued status codes, then 200)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    gate: threading.Event | None = None
    arrived: queue.Queue = field(default_factory=queue.Queue)

    def answer(self, *codes: int) -> None:
        self.statuses.extend(codes)

    def hold(self) -> threading.Event:
        """Keep each request waiting until the returned event is set."""
        self.gate = threading.Event()
        return self.gate


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
        receiver.arrived.put(self.path)
        if receiver.gate is not None:
            receiver.gate.wait(timeout=10)
        status = receiver.statuses.popleft() if receiver.statuses else 200
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "7")
        self.end_headers()
        self.wfile.write(b"thanks\n" if status < 300 else b"broken\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 that records the webhooks POSTed to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.receiver = Receiver(url=f"http://127.0.0.1:{server.server_port}/hook")
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        if server.receiver.gate is not None:
            server.receiver.gate.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def scratch_events(monkeypatch):
    """Events registered during the test are forgotten afterwards."""
    from notifications import events

    monkeypatch.setattr(events, "_events", dict(events._events))


def make_endpoint(url: str, *, name: str = "ops-bridge", events=None, enabled=True):
    return WebhookEndpoint.objects.create(
        name=name, url=url, events=list(events or []), enabled=enabled
    )


def announce(
    event: str = "approvals.requested", *, key: str = "cr:1", subject: str = "Approval needed"
) -> Notification | None:
    """notify() the way callers do: inside their transaction."""
    with transaction.atomic():
        return notify(
            event,
            subject=subject,
            body="Release 1.4.2 to production\nRequested by bob",
            payload={"change_request": 1},
            dedup_key=key,
            link="/audit/approvals/1/",
        )
