"""Approving a rollout phase through the form, and the live page following the rollout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import RELEASE_MANAGER
from releases import publishing, rollouts, update
from releases.models import App
from tests.conftest import make_user
from tests.releases.conftest import publish

pytestmark = pytest.mark.browser

PLAN = [
    {"percent": 5, "hold_seconds": 0},
    {"percent": 25, "hold_seconds": 3600, "requires_approval": True},
]


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    cache.clear()
    update.clear_local()


@pytest.fixture
def waiting(transactional_db):
    app = App.objects.create(slug="shop", name="Shop")
    channel = publishing.create_channel(app, name="production")
    publish(app, "1.0.0")
    candidate = publish(app, "1.1.0")
    starter = make_user("starter", RELEASE_MANAGER)
    rollout = rollouts.start(channel, candidate, user=starter, phases=PLAN)
    # The default (blocking) metrics have no telemetry here: break-glass lets phase 1 end.
    rollouts.skip_analysis(rollout, reason="browser tests: no telemetry")
    rollouts.analyse(rollout.pk, now=timezone.now() + timedelta(seconds=1))
    rollout.refresh_from_db()
    assert rollout.state == "awaiting_approval"
    return rollout


def test_a_phase_is_approved_through_the_form_and_the_page_follows(page, log_in, waiting):
    approver = make_user("approver", RELEASE_MANAGER)
    log_in(approver)
    page.goto(f"/releases/rollouts/{waiting.pk}/")
    expect(page.get_by_text("awaiting approval").first).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approval recorded.")).to_be_visible()
    expect(page.get_by_test_id("percent")).to_have_text("25 %")
    waiting.refresh_from_db()
    rollouts.pause(waiting, reason="watching the support queue")  # someone else, elsewhere
    expect(page.locator("#live").get_by_text("paused").first).to_be_visible(timeout=8000)
    expect(page.locator("#live").get_by_text("watching the support queue").first).to_be_visible()


def test_the_rollout_page_has_no_console_or_csp_errors(page, page_errors, log_in, waiting):
    log_in(make_user("viewer-x", RELEASE_MANAGER))
    page.goto(f"/releases/rollouts/{waiting.pk}/")
    page.wait_for_timeout(3500)  # one HTMX refresh
    assert page_errors == []
