"""Findings in a real browser: the filter swaps the results over HTMX, an operator
acknowledges a finding through its form."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from releases.models import App
from security import scanning
from security.findings import reconcile
from tests.security.conftest import advisory, load_osv, lock_v3, publish

pytestmark = pytest.mark.browser


@pytest.fixture
def findings_data(settings, tmp_path, transactional_db, live_server):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    app = App.objects.create(slug="shop", name="Shop")
    load_osv(
        advisory("GHSA-crit", "lodash", ecosystem="npm", severity="CRITICAL"),
        advisory("GHSA-low", "left-pad", ecosystem="npm", severity="LOW"),
    )
    lock = {"package-lock.json": lock_v3({"lodash": "1.0.0", "left-pad": "1.0.0"})}
    reconcile([scanning.scan_release(publish(app, "1.0.0", lock))], closes=True)


def test_filter_findings_then_acknowledge_one(page, log_in, page_errors, carol, findings_data):
    log_in(carol)
    page.goto("/security/")
    results = page.locator("#results")
    expect(results).to_contain_text("GHSA-crit")
    expect(results).to_contain_text("GHSA-low")
    page.get_by_label("Severity").select_option("low")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"severity=low"))
    expect(results).not_to_contain_text("GHSA-crit")
    page.get_by_role("link", name="GHSA-low").click()
    page.get_by_label("Note").fill("pinning a patched fork this week")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acknowledged")
    expect(page.locator(".history")).to_contain_text("security.finding_acknowledged")
    assert page_errors == []
