"""Performance in a real browser: telemetry over HTTP, a baseline and an optimised candidate
taken through the buttons, CSP-clean."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from releases import publishing
from releases.models import App, Release
from tests.performance.conftest import publish
from tests.performance.test_resources import CSS, JS

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _bundles(settings, tmp_path):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    settings.PERFORMANCE_MIN_SAMPLES = 20


def test_a_release_manager_baselines_a_release_and_creates_an_optimised_candidate(
    page, page_errors, log_in, bob
):
    app = App.objects.create(slug="shop", name="Shop")
    channel = publishing.create_channel(app, name="production")
    publish(app, "1.0.0", {"index.js": JS, "style.css": CSS})
    events = [{"type": "launch", "device": "mobile"}] * 30 + [
        {"type": "vital", "name": "LCP", "value": 1800 + 10 * i, "id": f"l{i}", "device": "mobile"}
        for i in range(30)
    ]
    response = page.request.post(
        f"/api/v1/telemetry?key={channel.client_key}",
        data={"install_id": "browser-1", "version": "1.0.0", "events": events},
    )
    assert response.status == 202

    log_in(bob)
    page.locator("header.topbar nav a", has_text="Performance").click()
    page.get_by_role("link", name="Shop / production").click()
    expect(page.locator("main h1")).to_have_text("Shop / production")
    expect(page.locator(".badge-ok", has_text="good").first).to_be_visible()
    expect(page.locator("figure svg[role=img]")).to_have_count(1)
    page.get_by_role("link", name="1.0.0").first.click()
    page.get_by_role("button", name="Take a baseline now").click()
    expect(page.locator(".messages")).to_contain_text("Baseline of 1.0.0 taken")
    page.get_by_role("button", name="Measure savings").click()
    expect(page.locator("td", has_text="Minify JavaScript").first).to_be_visible()
    if os.environ.get("UPKEEP_SCREENSHOTS"):
        page.screenshot(path=os.environ["UPKEEP_SCREENSHOTS"], full_page=True)
    page.get_by_role("button", name="Create optimised candidate").click()
    expect(page.locator("main h1")).to_contain_text("1.0.1-optimized.1")
    assert Release.objects.filter(version="1.0.1-optimized.1").exists()
    assert page_errors == []
