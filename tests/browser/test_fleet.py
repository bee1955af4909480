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
