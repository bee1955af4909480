"""Host liveness: the controller's probe of idle hosts against real agents on loopback, the
claim between two controllers, and what the fleet page shows (up / down / unknown, drifted)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.utils import timezone

from console import controller
from fleet import agent, deployments, liveness, tasks
from fleet.models import Host, RollingDeployment
from tests.fleet.conftest import add_hosts, closed_port_url, make_fleet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _site(settings, live_server):
    settings.SITE_URL = live_server.url
    settings.FLEET_PROBE_SECONDS = 60
    settings.FLEET_PROBE_TIMEOUT = 2


class CountingHealth(BaseHTTPRequestHandler):
    """A host's health endpoint that counts the probes it gets (slow enough to overlap)."""

    hits: list[str]

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.hits.append(self.path)
        time.sleep(0.2)
        body = b'{"status": "ok", "version": "9.9.9", "sha256": "' + b"e" * 64 + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def counting_server():
    hits: list[str] = []
    handler = type("Handler", (CountingHealth,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def roll(fleet, release):
    deployment = deployments.start(fleet, release, user=None)
    tasks.drive_deployment(deployment.pk)
    deployment.refresh_from_db()
    return deployment


def test_the_controller_probes_idle_hosts_and_records_what_they_report(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    (up, up_agent), (empty, _) = add_hosts(fleet, agents, 2)
    agent.deploy(
        up_agent.config,
        {
            "version": "1.0.0",
            "sha256": v1.bundle_sha256,
            "url": deployments.bundle_download_url(v1),
        },
    )
    gone = Host.objects.create(fleet=fleet, name="h3", agent_url=closed_port_url().rstrip("/"))
    assert "fleet.probe" in {hook.name for hook in controller.hooks()}
    assert controller.tick(force=True)["fleet.probe"] == "ok"

    up.refresh_from_db()
    assert (up.last_probe_ok, up.reported_version, up.reported_sha256, up.last_error) == (
        True,
        "1.0.0",
        v1.bundle_sha256,
        "",
    )
    assert up.last_seen_at == up.last_probe_at and up.probe_claim_until is None
    empty.refresh_from_db()  # the agent answers, but nothing is deployed: seen, yet down
    assert (empty.last_probe_ok, empty.last_seen_at is not None) == (False, True)
    assert "503 empty" in empty.last_error
    gone.refresh_from_db()  # nothing answers: down, never seen, the reason kept
    assert (gone.last_probe_ok, gone.last_seen_at, gone.last_probe_at is not None) == (
        False,
        None,
        True,
    )
    assert "unreachable" in gone.last_error


def test_a_host_is_probed_again_only_after_the_interval(app, channel, counting_server):
    url, hits = counting_server
    fleet = make_fleet(app, channel)
    host = Host.objects.create(fleet=fleet, name="h1", agent_url=url)
    now = timezone.now()
    assert liveness.probe_due(now) == [host.pk]
    assert liveness.probe_due(now + timedelta(seconds=30)) == []
    assert liveness.probe_due(now + timedelta(seconds=61)) == [host.pk]
    assert hits == ["/health", "/health"]


def test_a_host_claimed_by_another_controller_is_left_alone(app, channel, counting_server):
    url, hits = counting_server
    fleet = make_fleet(app, channel)
    host = Host.objects.create(fleet=fleet, name="h1", agent_url=url)
    now = timezone.now()
    Host._base_manager.filter(pk=host.pk).update(probe_claim_until=now + timedelta(seconds=20))
    assert liveness.probe_due(now) == [] and hits == []
    # A claim whose controller died runs out.
    assert liveness.probe_due(now + timedelta(seconds=21)) == [host.pk]


def test_two_controllers_at_once_probe_each_host_once(app, channel, counting_server):
    url, hits = counting_server
    fleet = make_fleet(app, channel)
    hosts = [Host.objects.create(fleet=fleet, name=f"h{i}", agent_url=url) for i in range(4)]
    now = timezone.now()
    probed: list[list[int]] = []
    start = threading.Barrier(2)

    def controller_loop():
        try:
            start.wait()
            probed.append(liveness.probe_due(now))
        finally:
            connection.close()

    threads = [threading.Thread(target=controller_loop) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(pk for run in probed for pk in run) == sorted(h.pk for h in hosts)
    assert len(hits) == 4
    assert all(h.last_probe_ok for h in Host.objects.filter(pk__in=[h.pk for h in hosts]))


def test_one_tick_probes_a_bounded_batch_never_probed_first(
    app, channel, settings, counting_server
):
    url, _ = counting_server
    settings.FLEET_PROBE_BATCH = 2
    fleet = make_fleet(app, channel)
    old = Host.objects.create(fleet=fleet, name="a-old", agent_url=url)
    Host._base_manager.filter(pk=old.pk).update(
        last_probe_at=timezone.now() - timedelta(hours=1), last_probe_ok=True
    )
    new = [Host.objects.create(fleet=fleet, name=f"n{i}", agent_url=url) for i in range(2)]
    assert liveness.probe_due() == [h.pk for h in new]
    assert liveness.probe_due() == [old.pk]


def test_a_host_that_never_answers_costs_at_most_the_probe_timeout(app, channel, settings):
    settings.FLEET_PROBE_TIMEOUT = 0.5
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        fleet = make_fleet(app, channel, host_timeout=30)
        host = Host.objects.create(
            fleet=fleet, name="h1", agent_url=f"http://127.0.0.1:{silent.getsockname()[1]}"
        )
        started = time.monotonic()
        assert liveness.probe_due() == [host.pk]
        assert time.monotonic() - started < 5
    finally:
        silent.close()
    host.refresh_from_db()
    assert host.last_probe_ok is False and host.last_seen_at is None and host.last_error


def test_check_now_is_a_probe_too(login, bob, app, channel, agents):
    fleet = make_fleet(app, channel)
    host, _ = add_hosts(fleet, agents, 1)[0]
    login(bob).post(f"/fleet/web/hosts/{host.pk}/check/")
    host.refresh_from_db()
    assert host.last_probe_at is not None and host.last_probe_ok is False  # nothing deployed


def test_a_deployments_health_check_counts_as_a_probe(app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    host, _ = add_hosts(fleet, agents, 1)[0]
    assert roll(fleet, v1).state == "succeeded"
    host.refresh_from_db()
    assert (host.last_probe_ok, host.reported_sha256) == (True, v1.bundle_sha256)


def _row(page: str, name: str) -> str:
    start = page.index(f'data-host="{name}"')
    return page[start : page.index("</tr>", start)]


def test_the_page_shows_up_down_and_never_probed_honestly(login, dave, app, channel, v1, agents):
    fleet = make_fleet(app, channel)
    (_, up_agent), _, (fresh, _) = add_hosts(fleet, agents, 3)
    agent.deploy(
        up_agent.config,
        {
            "version": "1.0.0",
            "sha256": v1.bundle_sha256,
            "url": deployments.bundle_download_url(v1),
        },
    )
    now = timezone.now()
    Host._base_manager.filter(pk=fresh.pk).update(last_probe_at=now)  # claimed: not due
    liveness.probe_due(now)
    Host._base_manager.filter(pk=fresh.pk).update(last_probe_at=None, last_probe_ok=None)
    page = login(dave).get("/fleet/web/").content.decode()
    assert 'data-liveness="up"' in _row(page, "h1") and ">Up<" in _row(page, "h1")
    assert 'data-liveness="down"' in _row(page, "h2") and "503 empty" in _row(page, "h2")
    assert 'data-liveness="unknown"' in _row(page, "h3")
    assert "Unknown (never probed)" in _row(page, "h3") and "never" in _row(page, "h3")
    assert "drift is not judged" in page  # no deployment has succeeded yet


def test_a_probe_older_than_three_rounds_is_shown_as_unknown(login, dave, app, channel, agents):
    fleet = make_fleet(app, channel)
    host, _ = add_hosts(fleet, agents, 1)[0]
    Host._base_manager.filter(pk=host.pk).update(
        last_probe_at=timezone.now() - timedelta(minutes=10), last_probe_ok=True
    )
    row = _row(login(dave).get("/fleet/web/").content.decode(), "h1")
    assert 'data-liveness="unknown"' in row and "last probe is stale" in row


def test_a_host_running_another_sha_than_the_last_success_is_drifted(
    login, dave, app, channel, v1, v2, agents
):
    fleet = make_fleet(app, channel)
    pairs = add_hosts(fleet, agents, 2)
    assert roll(fleet, v1).state == "succeeded"
    # Someone deployed v2 to h2 by hand, outside the console.
    agent.deploy(
        pairs[1][1].config,
        {
            "version": "1.1.0",
            "sha256": v2.bundle_sha256,
            "url": deployments.bundle_download_url(v2),
        },
    )
    liveness.probe_due(timezone.now() + timedelta(seconds=61))
    page = login(dave).get("/fleet/web/").content.decode()
    assert "data-drifted" not in _row(page, "h1")
    assert 'data-drifted="true"' in _row(page, "h2") and "Drifted" in _row(page, "h2")
    assert v1.bundle_sha256[:12] in page  # the sha hosts should run


def test_drift_is_not_judged_while_a_deployment_is_active(app, channel, v1, v2, agents):
    fleet = make_fleet(app, channel)
    pairs = add_hosts(fleet, agents, 2)
    assert roll(fleet, v1).state == "succeeded"
    agent.deploy(
        pairs[0][1].config,
        {
            "version": "1.1.0",
            "sha256": v2.bundle_sha256,
            "url": deployments.bundle_download_url(v2),
        },
    )
    liveness.probe_due(timezone.now() + timedelta(seconds=61))
    hosts = list(fleet.hosts.order_by("name"))
    liveness.annotate_hosts(fleet, hosts)
    assert hosts[0].status.drifted and not hosts[1].status.drifted
    deployments.start(fleet, v2, user=None)  # pending: hosts are about to change
    assert RollingDeployment.objects.active().filter(fleet=fleet).exists()
    liveness.annotate_hosts(fleet, hosts)
    assert not hosts[0].status.drifted and hosts[0].status.state == "up"


def test_the_dashboard_card_counts_hosts_down_at_a_recent_probe(app, channel, bob, agents):
    from fleet.views import dashboard_card

    class R:
        user = bob

    fleet = make_fleet(app, channel)
    add_hosts(fleet, agents, 1)  # nothing deployed: its health answers 503
    Host.objects.create(fleet=fleet, name="h9", agent_url=closed_port_url().rstrip("/"))
    card = dashboard_card(R())
    assert dict(card.stats)["Hosts down"] == 0 and card.status == ""  # never probed: unknown
    liveness.probe_due()
    card = dashboard_card(R())
    assert (dict(card.stats)["Hosts down"], card.status, card.status_label) == (
        2,
        "warn",
        "2 hosts down",
    )
    # An old probe is no longer trusted either way.
    Host._base_manager.update(last_probe_at=timezone.now() - timedelta(hours=1))
    assert dict(dashboard_card(R()).stats)["Hosts down"] == 0


def test_a_rollback_updates_what_the_host_runs_but_not_the_probe_verdict(
    app, channel, v1, v2, agents
):
    fleet = make_fleet(app, channel, batch_size=2, failure_budget=0, host_timeout=1)
    pairs = add_hosts(fleet, agents, 2)
    assert roll(fleet, v1).state == "succeeded"
    pairs[1][1].config.app_health_url = closed_port_url()  # h2's app stops answering
    assert roll(fleet, v2).state == "rolled_back"
    h1 = Host.objects.get(name="h1")
    # h1 passed its check on v2 (a probe: up), then was rolled back to v1 (seen, runs v1).
    assert (h1.last_probe_ok, h1.reported_sha256) == (True, v1.bundle_sha256)
    assert h1.last_seen_at >= h1.last_probe_at
