"""Abort inside a batch: hosts whose turn has not come are not attempted; a host already
deploying finishes its step and is then rolled back. Real agents on loopback, the driver in a
worker thread, the abort from the test like a person pressing the button."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from audit.models import AuditEvent
from fleet import deployments, tasks
from fleet.models import RollingDeployment, StepState
from tests.fleet.conftest import add_hosts, make_fleet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _site(settings, live_server):
    settings.SITE_URL = live_server.url


class Gate:
    """The app's own health URL on one host: the first check waits until the test opens the
    gate, so the test knows that host is mid-step."""

    def __init__(self):
        self.reached, self.opened = threading.Event(), threading.Event()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                gate.reached.set()
                gate.opened.wait(timeout=4)  # the agent gives its app 5 s
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.opened.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gate():
    g = Gate()
    yield g
    g.close()


def drive_in_background(pk: int) -> tuple[threading.Thread, list]:
    result: list = []

    def run():
        try:
            result.append(tasks.drive_deployment(pk))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def abort_while_first_host_checks(deployment, gate, user):
    thread, result = drive_in_background(deployment.pk)
    assert gate.reached.wait(timeout=30), "the first host never reached its health check"
    deployment.refresh_from_db()
    deployments.request_abort(deployment, user=user, reason="wrong build")
    gate.opened.set()
    thread.join(timeout=60)
    assert not thread.is_alive()
    deployment.refresh_from_db()
    return result[0]


def test_hosts_not_yet_started_in_the_batch_are_not_attempted(
    app, channel, v1, v2, agents, bob, settings, gate
):
    settings.FLEET_MAX_PARALLEL = 1  # one host at a time inside the batch
    fleet = make_fleet(app, channel, batch_size=3, host_timeout=10)
    pairs = add_hosts(fleet, agents, 3)
    first = deployments.start(fleet, v1, user=bob)
    assert tasks.drive_deployment(first.pk) == "succeeded"
    pairs[0][1].config.app_health_url = gate.url  # h1's check now waits at the gate

    deployment = deployments.start(fleet, v2, user=bob)
    assert abort_while_first_host_checks(deployment, gate, bob) == "aborted"
    assert deployment.state == "aborted"
    steps = {s.host_name: s for s in deployment.steps.all()}
    # h1 was mid-step: it finished (healthy) and was rolled back with the rest of the abort.
    assert steps["h1"].state == StepState.ROLLED_BACK and steps["h1"].error == ""
    for name in ("h2", "h3"):
        assert steps[name].state == StepState.SKIPPED
        assert (steps[name].started_at, steps[name].finished_at) == (None, None)
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] * 3
    # The not-attempted hosts never even downloaded the release.
    for _, running in pairs[1:]:
        assert not (running.root / "releases" / v2.bundle_sha256).exists()
    skipped = AuditEvent.objects.filter(action="fleet.host_skipped")
    assert sorted(e.after["host"] for e in skipped) == ["h2", "h3"]
    assert deployment.hosts_done == 3 and deployment.failures == 0


def test_an_abort_during_the_last_batch_does_not_end_succeeded(
    app, channel, v1, v2, agents, bob, gate
):
    fleet = make_fleet(app, channel, batch_size=2, host_timeout=10)
    pairs = add_hosts(fleet, agents, 2)
    first = deployments.start(fleet, v1, user=bob)
    assert tasks.drive_deployment(first.pk) == "succeeded"
    pairs[0][1].config.app_health_url = gate.url

    deployment = deployments.start(fleet, v2, user=bob)
    # Both hosts of the only batch are in flight (parallel): both finish, then both roll back.
    assert abort_while_first_host_checks(deployment, gate, bob) == "aborted"
    states = dict(deployment.steps.values_list("host_name", "state"))
    assert states == {"h1": "rolled_back", "h2": "rolled_back"}
    assert [r.current() for _, r in pairs] == [v1.bundle_sha256] * 2
    assert not RollingDeployment.objects.filter(pk=deployment.pk, state="succeeded").exists()
