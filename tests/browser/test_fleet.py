"""A release manager adds a host, rolls a release out and watches the progress bar fill."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from fleet import tasks
from fleet.models import Host, RollingDeployment
from releases import publishing
from releases.models import App
from tests.fleet.conftest import Agents, make_fleet
from tests.releases.conftest import publish

pytestmark = pytest.mark.browser


@pytest.fixture
def agents(tmp_path, monkeypatch):
    monkeypatch.setenv("UPKEEP_AGENT_QUIET", "1")
    pool = Agents(tmp_path / "hosts")
    yield pool
    pool.stop_all()


def test_add_a_host_deploy_and_watch_the_deployment_finish(
    page, log_in, page_errors, bob, agents, live_server, settings, tmp_path
):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.SITE_URL = live_server.url
    app = App.objects.create(slug="shop", name="Shop")
    channel = publishing.create_channel(app, name="production")
    v1 = publish(app, "1.0.0", files={"index.html": "<h1>one</h1>"})
    make_fleet(app, channel, batch_size=1)
    running = agents.start("b1", "0" * 64)
    log_in(bob)
    page.goto("/fleet/web/")
    page.get_by_label("Name").fill("b1")
    page.get_by_label("Agent URL").fill(running.url)
    page.get_by_role("button", name="Add host").click()
    host = Host.objects.get(name="b1")
    expect(page.locator(".messages")).to_contain_text(host.secret_sha256)
    running.config.token_sha256 = host.secret_sha256  # the agent is started with the hash

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Release").select_option(label=f"1.0.0 ({v1.bundle_sha256[:12]})")
    page.get_by_role("button", name="Deploy to 1 host").click()
    expect(page).to_have_url(re.compile(r"/fleet/deployments/\d+/$"))
    expect(page.locator("#deployment-live")).to_contain_text("0 of 1 hosts done")

    deployment = RollingDeployment.objects.get()

    def drive():
        try:
            tasks.drive_deployment(deployment.pk)
        finally:
            connection.close()

    worker = threading.Thread(target=drive)
    worker.start()
    worker.join(timeout=60)
    # The live partial polls every 2 s and swaps itself; no reload.
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "succeeded")
    expect(page.locator("#deployment-live")).to_contain_text("1 of 1 hosts done")
    expect(page.locator('tr[data-host="b1"]')).to_contain_text("Healthy")
    assert running.current() == v1.bundle_sha256
    assert page_errors == []


def test_hosts_show_liveness_and_the_fleet_is_deleted_by_typing_its_name(
    page, log_in, page_errors, bob, agents, live_server, settings, tmp_path
):
    from console import controller
    from fleet.models import Fleet
    from tests.fleet.conftest import add_hosts, closed_port_url

    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.SITE_URL = live_server.url
    app = App.objects.create(slug="shop", name="Shop")
    channel = publishing.create_channel(app, name="production")
    fleet = make_fleet(app, channel, batch_size=1)
    add_hosts(fleet, agents, 1)  # h1: an agent with nothing deployed yet
    unreachable = closed_port_url().rstrip("/")
    Host.objects.create(fleet=fleet, name="h2", agent_url=unreachable)  # nothing listens there
    log_in(bob)
    page.goto("/fleet/web/")
    expect(page.locator('tr[data-host="h1"]')).to_contain_text("Unknown (never probed)")

    controller.tick(force=True)  # the controller's round probes both
    page.reload()
    expect(page.locator('tr[data-host="h1"]')).to_have_attribute("data-liveness", "down")
    expect(page.locator('tr[data-host="h1"]')).to_contain_text("503 empty")
    expect(page.locator('tr[data-host="h2"]')).to_contain_text("unreachable")

    page.get_by_label("Type web to confirm").fill("wbe")
    page.get_by_role("button", name="Delete fleet").click()
    expect(page.locator(".messages")).to_contain_text("Not deleted")
    page.get_by_label("Type web to confirm").fill("web")
    page.get_by_role("button", name="Delete fleet").click()
    expect(page).to_have_url(re.compile(r"/fleet/$"))
    expect(page.locator(".messages")).to_contain_text("Deleted fleet “web”")
    assert not Fleet.objects.exists()
    assert page_errors == []
