"""The banner says when background processing is not running, and goes away when it is."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from console import liveness

pytestmark = pytest.mark.browser

BANNER = "Background processing is not running"


def test_the_banner_shows_until_the_worker_and_controller_beat(page, log_in, alice):
    log_in(alice)
    expect(page.get_by_text(BANNER)).to_be_visible()

    liveness.beat("controller")
    liveness.beat("worker")
    page.reload()
    expect(page.locator("header.topbar")).to_be_visible()
    expect(page.get_by_text(BANNER)).to_have_count(0)
