"""Factories and a real loopback HTTP server for health-check jobs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from maintenance import jobtypes
from maintenance.dispatcher import reschedule
from maintenance.models import Job, Window

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def make_job(name="nightly", *, job_type="command", params=None, **extra) -> Job:
    params = {"command": "verify_audit"} if params is None and job_type == "command" else params
    extra.setdefault("max_duration", timedelta(minutes=10))
    job = Job.objects.create(name=name, job_type=job_type, params=params or {}, **extra)
    return job


def make_scheduled(name, expr, *, now, tz="UTC", **extra) -> Job:
    job = make_job(name, schedule=expr, timezone=tz, **extra)
    reschedule(job, now)
    return job


def make_window(
    name="night", *, kind="allow", schedule="0 2 * * *", duration=timedelta(hours=2), **extra
) -> Window:
    return Window.objects.create(
        name=name, kind=kind, schedule=schedule, duration=duration, **extra
    )


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(float(self.path.rsplit("/", 1)[1]))
        status = 500 if self.path.startswith("/fail") else 200
        body = b"ok" if status == 200 else b"broken"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timed-out health check) is expected, not an error."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def http_server():
    """A real HTTP server on loopback: /ok → 200, /fail → 500, /slow/<seconds> → 200 later."""
    server = QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def health_job(name, url, **extra) -> Job:
    return make_job(name, job_type="health_check", params={"url": url, "timeout_s": 30}, **extra)


@pytest.fixture
def unrunnable_type():
    """A job type declared without a runner, for the paths that must refuse such types."""
    name = "test_unrunnable"
    jobtypes.register(name, "Test", owner_area="test")
    yield name
    jobtypes._types.pop(name, None)
