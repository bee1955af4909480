"""Uploads stream into the bundle folder, are hashed on the way, and leave nothing behind."""

import hashlib
import io

from django.test import Client

from accounts.tokens import create_token
from releases import bundles
from releases.models import Release
from tests.conftest import PASSWORD
from tests.releases.conftest import make_zip


def _file(data: bytes) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = "bundle.zip"
    return f


def _api_upload(client, user, version, data):
    _, raw = create_token(user, "ci")
    return client.post(
        "/api/v1/apps/shop/releases",
        {"version": version, "bundle": _file(data)},
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )


def _temporary_files() -> list:
    tmp = bundles.bundle_dir() / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def test_the_stored_bundle_has_the_hash_of_the_uploaded_bytes(client, bob, app):
    data = make_zip({"index.js": "streamed"})
    _api_upload(client, bob, "1.0.0", data)
    release = Release.objects.get()
    assert release.bundle_sha256 == hashlib.sha256(data).hexdigest()
    assert bundles.bundle_path(release.bundle_sha256).read_bytes() == data


def test_a_published_upload_leaves_no_temporary_file(client, bob, app):
    _api_upload(client, bob, "1.0.0", make_zip({"a.js": "1"}))
    assert _temporary_files() == []


def test_a_refused_upload_leaves_no_temporary_file(client, bob, app):
    response = _api_upload(client, bob, "1.0", make_zip({"a.js": "1"}))
    assert response.status_code == 400
    assert _temporary_files() == []


def test_an_upload_over_the_limit_is_stopped_with_400(client, bob, app, settings):
    settings.RELEASES_MAX_UPLOAD_BYTES = 1000
    response = _api_upload(client, bob, "1.0.0", bytes(range(256)) * 20)
    assert (response.status_code, response.json()["error"]) == (400, "too_large")
    assert _temporary_files() == []


def test_the_form_refuses_an_upload_over_the_limit(login, bob, app, settings):
    settings.RELEASES_MAX_UPLOAD_BYTES = 1000
    response = login(bob).post(
        "/releases/shop/publish/", {"version": "1.0.0", "bundle": _file(bytes(range(256)) * 20)}
    )
    assert response.status_code == 400
    assert b"larger than 1000 bytes" in response.content


def test_the_publish_form_still_checks_csrf(bob, app):
    client = Client(enforce_csrf_checks=True)
    client.login(username="bob", password=PASSWORD)
    response = client.post(
        "/releases/shop/publish/", {"version": "1.0.0", "bundle": _file(make_zip())}
    )
    assert response.status_code == 403
    assert not Release.objects.exists()
