"""Release health in a real browser: telemetry posted over HTTP shows up with charts, CSP-clean."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from releases.models import App, Channel

pytestmark = pytest.mark.browser


def test_a_viewer_follows_health_to_a_channel_and_sees_its_charts(page, page_errors, log_in, dave):
    app = App.objects.create(slug="shop", name="Shop")
    channel = Channel.objects.create(app=app, name="production")
    events = (
        [{"type": "launch", "device": "mobile"}] * 50
        + [{"type": "crash"}]
        + [
            {"type": "vital", "name": "LCP", "value": 2100 + i, "device": "mobile"}
            for i in range(8)
        ]
        + [{"type": "api", "value": 120, "status": 200}] * 5
    )
    response = page.request.post(
        f"/api/v1/telemetry?key={channel.client_key}",
        data={"install_id": "browser-1", "version": "1.0.0", "events": events},
    )
    assert response.status == 202

    log_in(dave)
    page.locator("header.topbar nav a", has_text="Health").click()
    page.get_by_role("link", name="Shop / production").click()
    expect(page.locator("main h1")).to_have_text("Shop / production")
    expect(page.locator("td", has_text="98.00 %")).to_be_visible()
    expect(page.locator("figure svg[role=img]")).to_have_count(4)
    if os.environ.get("UPKEEP_SCREENSHOTS"):
        page.screenshot(path=os.environ["UPKEEP_SCREENSHOTS"], full_page=True)
    assert page_errors == []
