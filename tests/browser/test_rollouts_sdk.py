"""The JS SDK in a real browser: the bucketing vectors, update check, verified download, the
ready()/revert contract and batched telemetry against the live server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.cache import cache

from monitoring.models import Install, Rollup
from releases import publishing, update
from releases.models import App
from tests.releases.conftest import publish

pytestmark = pytest.mark.browser

API_DOC = Path(__file__).resolve().parents[2] / "releases" / "API.md"
VECTOR = re.compile(r"^\|\s*`([^`]*)`\s*\|\s*`([^`]*)`\s*\|\s*(\d+)\s*\|$")


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path, live_server):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    settings.SITE_URL = live_server.url
    cache.clear()
    update.clear_local()


@pytest.fixture
def sdk_page(page):
    page.goto("/accounts/login/")  # any page of the console's origin
    page.add_script_tag(url="/static/sdk/upkeep.js")
    return page


@pytest.fixture
def channel(transactional_db):
    app = App.objects.create(slug="shop", name="Shop")
    # The SDK's update flow, not the rollout gate: releases are let out at once.
    channel = publishing.create_channel(app, name="production", release_gate="immediate")
    publish(app, "1.0.0")
    publish(app, "1.1.0")
    return channel


def test_the_sdk_reproduces_every_published_bucketing_vector(sdk_page, transactional_db):
    vectors = [
        VECTOR.match(line).groups()
        for line in API_DOC.read_text().splitlines()
        if VECTOR.match(line)
    ]
    got = sdk_page.evaluate(
        "vectors => vectors.map(([salt, id]) => Upkeep.bucket(salt, id))", vectors
    )
    assert len(vectors) >= 20
    assert got == [int(bp) for _, _, bp in vectors]


def _client_js(channel) -> str:
    return (
        f"new Upkeep.Client({{baseUrl: location.origin, key: {channel.client_key!r}, "
        "embeddedVersion: '1.0.0', runtime: '2.0.0', flushEveryMs: 0, "
        "storage: Upkeep.memoryStorage()})"
    )


def test_an_update_is_verified_installed_and_reported(sdk_page, channel):
    result = sdk_page.evaluate(
        f"""async () => {{
            const c = {_client_js(channel)};
            const answer = await c.checkForUpdate();
            await c.download(answer);
            const run = c.startup();
            c.ready();
            const statuses = await c.flush();
            return {{version: run.version, statuses, id: c.installId()}};
        }}"""
    )
    assert (result["version"], result["statuses"]) == ("1.1.0", [202])
    assert Install.objects.filter(version="1.1.0", install_id=result["id"]).exists()
    assert Rollup.objects.filter(version="1.1.0", metric="install_ok").exists()


def test_a_release_that_never_gets_ready_is_reverted_and_never_retried(sdk_page, channel):
    result = sdk_page.evaluate(
        f"""async () => {{
            const c = {_client_js(channel)};
            await c.download(await c.checkForUpdate());
            const first = c.startup();          // launched with the "is loading" mark
            const second = c.startup();         // ready() never came: revert
            const again = await c.checkForUpdate();
            await c.flush();
            return {{first: first.version, second: second.version,
                     reverted: second.reverted, offered: again.version, why: again.skipped}};
        }}"""
    )
    assert (result["first"], result["second"], result["reverted"]) == ("1.1.0", "1.0.0", True)
    assert (result["offered"], result["why"]) == (None, "FAILED_BEFORE")
    assert Rollup.objects.filter(version="1.1.0", metric="install_failed").exists()


def test_a_bundle_with_the_wrong_hash_is_refused(sdk_page, channel):
    message = sdk_page.evaluate(
        f"""async () => {{
            const c = {_client_js(channel)};
            const answer = await c.checkForUpdate();
            try {{ await c.download(Object.assign({{}}, answer, {{sha256: "0".repeat(64)}})); }}
            catch (e) {{ return e instanceof Upkeep.IntegrityError ? "refused" : String(e); }}
            return "accepted";
        }}"""
    )
    assert message == "refused"
