"""Publishing a release through the form (drag-and-drop, upload with progress) and seeing its
analysis."""

from __future__ import annotations

import base64
import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from releases import update
from releases.models import App, Release
from tests.releases.conftest import make_zip, publish

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    cache.clear()
    update.clear_local()


def _drop(page, data: bytes, name: str) -> None:
    """Drop a file on the drop zone the way a person dragging it from the desktop would."""
    page.evaluate(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: "application/zip"}));
            const zone = document.querySelector("[data-dropzone]");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
        }""",
        [base64.b64encode(data).decode(), name],
    )


def test_a_release_manager_publishes_by_drag_and_drop_and_sees_the_analysis(
    page, page_errors, log_in, bob
):
    app = App.objects.create(slug="shop", name="Shop")
    publish(
        app,
        "1.0.0",
        {"index.js": "console.log('one')", "pkg/a.js": "a"},
        manifest={"subpackages": ["pkg"]},
    )
    log_in(bob)
    page.goto("/releases/shop/publish/")
    page.get_by_role("button", name="Next minor: 1.1.0").click()
    expect(page.locator("#id_version")).to_have_value("1.1.0")

    bundle = make_zip(
        {"index.js": "console.log('two');" * 50, "pkg/a.js": "a", "b.css": "x{}"},
        manifest={"subpackages": ["pkg"]},
    )
    _drop(page, bundle, "shop-1.1.0.zip")
    expect(page.locator("[data-dropzone-name]")).to_have_text("shop-1.1.0.zip")
    page.locator("#id_changes").fill("feature: a second screen")
    page.get_by_role("button", name="Publish", exact=True).click()

    expect(page).to_have_url(re.compile(r"/releases/shop/v/1\.1\.0/$"))
    expect(page.get_by_role("heading", name="Bundle analysis")).to_be_visible()
    expect(page.get_by_role("img", name="Treemap of files by package and size")).to_be_visible()
    expect(page.get_by_text("1 added")).to_be_visible()
    assert Release.objects.get(version="1.1.0").author == bob
    assert page_errors == []


def test_a_refused_upload_shows_the_reason_without_leaving_the_form(page, page_errors, log_in, bob):
    app = App.objects.create(slug="shop", name="Shop")
    publish(app, "2.0.0")
    log_in(bob)
    page.goto("/releases/shop/publish/")
    page.locator("#id_version").fill("1.0.0")
    page.locator("input[type=file]").set_input_files(
        {"name": "b.zip", "mimeType": "application/zip", "buffer": make_zip({"x.js": "1"})}
    )
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.locator("[data-upload-errors]")).to_contain_text("lower than the latest")
    expect(page).to_have_url(re.compile(r"/publish/$"))
    # The browser logs the expected 409 answer itself; nothing else may go wrong.
    assert [e for e in page_errors if "409 (Conflict)" not in e] == []
