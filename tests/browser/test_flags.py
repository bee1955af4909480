"""The JS SDK's flag accessor in a real browser against the live update endpoint, and the kill
switch reaching it on the next check."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from flags import ramp
from releases import publishing, update
from releases.models import App
from tests.releases.conftest import publish

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path, live_server):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    settings.SITE_URL = live_server.url
    cache.clear()
    update.clear_local()


@pytest.fixture
def sdk_page(page):
    page.goto("/accounts/login/")
    page.add_script_tag(url="/static/sdk/upkeep.js")
    return page


def test_the_sdk_exposes_the_flags_of_the_last_answer(sdk_page, transactional_db):
    app = App.objects.create(slug="shop", name="Shop")
    channel = publishing.create_channel(app, name="production", release_gate="immediate")
    publish(app, "1.0.0")
    flag = ramp.create(channel, key="new-checkout", min_version="1.0.0")
    client_js = (
        f"new Upkeep.Client({{baseUrl: location.origin, key: {channel.client_key!r}, "
        "embeddedVersion: '1.0.0', runtime: '2.0.0', flushEveryMs: 0, storage})"
    )
    sdk_page.evaluate("() => { window.storage = Upkeep.memoryStorage(); }")
    install_id = sdk_page.evaluate(f"() => {{ window.c = {client_js}; return c.installId(); }}")
    before = sdk_page.evaluate(
        "async () => [c.flag('new-checkout'), (await c.checkForUpdate(), c.flag('new-checkout'))]"
    )
    assert before == [None, None]  # dark: not a tester yet
    ramp.edit(flag, row_version=flag.row_version, testers={install_id: "on"})
    on = sdk_page.evaluate(
        "async () => { await c.checkForUpdate(); return c.flag('new-checkout'); }"
    )
    assert on == "on"
    # Kept across a restart (a new client on the same storage), until the next check.
    again = sdk_page.evaluate(f"() => {client_js}.flag('new-checkout')")
    assert again == "on"
    ramp.kill(ramp.fresh(flag), reason="checkout errors")
    off = sdk_page.evaluate(
        "async () => { await c.checkForUpdate(); return c.flag('new-checkout'); }"
    )
    assert off is None
