"""A release manager prepares a security patch from a finding in a real browser, uploads the
patched bundle, and the patch page shows the run's outcome once the task has driven it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from backups.models import Backup
from backups.registry import add_source
from releases import publishing
from releases.models import App, Release
from security import scanning
from security.findings import reconcile
from security.models import Finding, SecurityPatch
from security.tasks import run_patch
from tests.security.conftest import FIXED, VULNERABLE, advisory, bundle, load_osv, publish

pytestmark = pytest.mark.browser


@pytest.fixture
def finding(settings, tmp_path, transactional_db, live_server):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    app = App.objects.create(slug="shop", name="Shop")
    files = tmp_path / "shop-files"
    files.mkdir()
    (files / "orders.csv").write_text("id,total\n1,9.99\n")
    add_source(name="shop-files", kind="directory", location=str(files), app=app)
    channel = publishing.create_channel(app, name="production", release_gate="immediate")
    load_osv(
        advisory(
            "GHSA-lodash",
            "lodash",
            ecosystem="npm",
            severity="HIGH",
            events=[{"introduced": "0"}, {"fixed": "4.17.21"}],
        )
    )
    reconcile(
        [scanning.scan_release(publish(app, "1.0.0", VULNERABLE, channel=channel))], closes=True
    )
    return Finding.objects.get()


def test_prepare_a_patch_from_a_finding_and_read_its_outcome(
    page, log_in, page_errors, bob, finding, tmp_path
):
    patched = tmp_path / "patched.zip"
    patched.write_bytes(bundle({**FIXED, "index.js": "console.log('patched')"}))
    log_in(bob)
    page.goto(f"/security/findings/{finding.pk}/")
    page.get_by_role("link", name="Prepare security patch").click()
    expect(page.get_by_label("Version")).to_have_value("1.0.1")
    expect(page.get_by_label("shop-files")).to_be_checked()
    page.get_by_label("Bundle").set_input_files(str(patched))
    page.get_by_label("Changes").fill("security: update lodash to 4.17.21")
    page.get_by_role("button", name="Prepare and run the patch").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("1.0.1")
    patch = SecurityPatch.objects.get()
    run_patch(patch.pk)  # what the worker does after the commit
    patch.refresh_from_db()
    assert patch.state == "succeeded", patch.reason
    page.reload()
    expect(page.locator("main")).to_contain_text("Succeeded")
    assert Release.objects.get(version="1.0.1").disabled_at is None
    assert Backup.objects.get(source__name="shop-files").status == Backup.Status.COMPLETE
    # The app-wide audit after the patch no longer sees the vulnerable package.
    finding.refresh_from_db()
    assert finding.state == "fixed"
    assert page_errors == []
