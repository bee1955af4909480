"""The security patch pages: the form (real multipart upload through the releases upload
handler), bad input, the detail page with its live partial, the links from findings."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from releases import bundles
from security import patches, tasks
from security.models import PatchState, SecurityPatch
from tests.security.conftest import bundle
from tests.security.patch_support import FIXED, prepare


def form_data(finding, sources, urls, **extra) -> dict:
    return {
        "findings": [finding.pk],
        "channel": "production",
        "version": "1.0.1",
        "bundle": SimpleUploadedFile(
            "shop-1.0.1.zip", bundle({**FIXED, "index.js": "patched()"}), "application/zip"
        ),
        "changes": "",
        "notes": "lodash 4.17.21",
        "sources": [s.pk for s in sources],
        "health_urls": "\n".join(urls),
        "health_timeout": "2",
        "start_rollout": "on",
    } | extra


def test_the_form_suggests_the_next_patch_version_and_preselects(
    login, bob, app, vulnerable, sources
):
    response = login(bob).get(f"/security/patches/new/shop/?finding={vulnerable.pk}")
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["version"] == "1.0.1"
    assert [f.pk for f in form.initial["findings"]] == [vulnerable.pk]
    assert sorted(s.name for s in form.initial["sources"]) == ["shop-db", "shop-files"]
    assert form.initial["changes"] == "security: fix GHSA-1 in npm package lodash"
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert "GHSA-1 in npm/lodash 4.17.20" in html


def test_posting_the_form_stages_the_upload_and_queues_the_task(
    login, bob, app, vulnerable, sources, backend, django_capture_on_commit_callbacks
):
    client = login(bob)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/security/patches/new/shop/", form_data(vulnerable, sources, [f"{backend}/ok"])
        )
    patch = SecurityPatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/security/patches/{patch.pk}/"
    assert len(callbacks) == 1  # the task, queued once the patch is committed
    assert patch.state == PatchState.DRAFT and patch.requested_by == bob
    assert patch.bundle_name == "shop-1.0.1.zip"
    assert patch.health_urls == [f"{backend}/ok"] and patch.health_timeout == 2.0
    assert patches.staged_path(patch.bundle_sha256).exists()
    assert not list((bundles.bundle_dir() / "tmp").glob("*"))  # the handler's file was moved
    assert [c["type"] for c in patch.changes] == ["security"]
    # The worker's part, then the page.
    tasks.run_patch(patch.pk)
    page = client.get(f"/security/patches/{patch.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Succeeded" in html
    for backup in patch.backups.all():
        assert f'href="/backups/backups/{backup.pk}/"' in html
    patch.refresh_from_db()
    assert f'href="/security/scans/{patch.verify_scan_id}/"' in html
    assert f"{backend}/ok" in html and "200" in html
    assert f'href="/releases/rollouts/{patch.rollout_id}/"' in html
    assert "canary rollout" in html
    assert 'value="100"' in html  # the progress bar, full


def test_bad_input_re_renders_with_field_errors_and_changes_nothing(
    login, bob, app, vulnerable, sources, backend
):
    client = login(bob)
    response = client.post(
        "/security/patches/new/shop/",
        form_data(vulnerable, sources, [f"{backend}/ok"], version="0.1.0"),
    )
    assert response.status_code == 409  # as the publish form answers a lower version
    assert "lower than the latest release 1.0.0" in str(response.context["form"].errors["version"])
    response = client.post(
        "/security/patches/new/shop/", form_data(vulnerable, sources, ["not a url"])
    )
    assert response.status_code == 400
    assert "health_urls" in response.context["form"].errors
    response = client.post(
        "/security/patches/new/shop/",
        form_data(vulnerable, sources, [f"{backend}/ok"]) | {"findings": [], "sources": []},
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) >= {"findings", "sources"}
    response = client.post(
        "/security/patches/new/shop/",
        form_data(
            vulnerable,
            sources,
            [f"{backend}/ok"],
            bundle=SimpleUploadedFile("x.zip", b"not a zip", "application/zip"),
        ),
    )
    assert response.status_code == 400
    assert "bundle" in response.context["form"].errors
    assert SecurityPatch.objects.count() == 0
    assert not list(patches.staging_dir().glob("*.zip"))
    assert not list((bundles.bundle_dir() / "tmp").glob("*"))


def test_a_second_patch_while_one_runs_is_a_409_with_the_reason(
    login, bob, app, channel, vulnerable, sources, backend
):
    first = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    response = login(bob).post(
        "/security/patches/new/shop/",
        form_data(vulnerable, sources, [f"{backend}/ok"], version="1.0.2"),
    )
    assert response.status_code == 409
    assert "already has a security patch in progress" in response.content.decode()
    assert list(SecurityPatch.objects.values_list("pk", flat=True)) == [first.pk]


def test_the_live_partial_polls_while_active_and_stops_when_done(
    login, dave, bob, app, channel, vulnerable, sources, backend
):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/down"])
    client = login(dave)
    partial = client.get(f"/security/patches/{patch.pk}/", HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "<html" not in html and 'id="patch-live"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "Queued: waiting for a worker" in html
    tasks.run_patch(patch.pk)
    html = client.get(f"/security/patches/{patch.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' not in html
    assert "Rolled back" in html and "HTTP 503, expected 2xx" in html
    assert "sent back (ROLLED_BACK) to 1.0.0" in html
    listing = client.get("/security/patches/").content.decode()
    assert f'href="/security/patches/{patch.pk}/"' in listing and "Rolled back" in listing


def test_findings_link_to_the_patch_form_for_publishers_only(
    login, bob, carol, app, vulnerable, sources
):
    link = f"/security/patches/new/shop/?finding={vulnerable.pk}"
    assert link in login(bob).get(f"/security/findings/{vulnerable.pk}/").content.decode()
    assert link in login(bob).get("/security/").content.decode()
    assert link not in login(carol).get(f"/security/findings/{vulnerable.pk}/").content.decode()
    assert link not in login(carol).get("/security/").content.decode()


def test_cancel_through_the_page(login, bob, app, channel, vulnerable, sources, backend):
    patch = prepare(app, channel, vulnerable, bob, sources, [f"{backend}/ok"])
    client = login(bob)
    assert (
        "Cancel (not started yet)" in client.get(f"/security/patches/{patch.pk}/").content.decode()
    )
    response = client.post(f"/security/patches/{patch.pk}/cancel/", {"reason": "wrong file"})
    assert response.status_code == 302
    patch.refresh_from_db()
    assert patch.state == PatchState.FAILED
    again = client.post(f"/security/patches/{patch.pk}/cancel/")
    assert again.status_code == 302  # refused with a message: it is no longer queued
    patch.refresh_from_db()
    assert "wrong file" in patch.reason
