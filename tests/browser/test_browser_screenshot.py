"""The dashboard screenshot shown in the README (docs/screenshot.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from console import liveness

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"


def test_it_writes_a_full_page_screenshot_of_the_dashboard(page, page_errors, log_in, alice):
    # A running worker and controller, as after `make run`: no red banner in the picture.
    liveness.beat("controller")
    liveness.beat("worker")
    log_in(alice)
    expect(page.locator("main h1").first).to_be_visible()

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)

    assert SCREENSHOT.stat().st_size > 10_000
    assert page_errors == []
