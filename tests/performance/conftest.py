"""A channel with real releases (published through releases.publishing), telemetry posted to
the real ingest endpoint with the channel's key, and bundle storage in a temporary folder."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.cache import cache

from releases import publishing, update
from releases.models import App


def make_zip(files: dict[str, bytes | str], *, manifest: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in {"app.json": json.dumps(manifest or {"name": "demo"}), **files}.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buffer.getvalue()


def publish(app, version, files=None, **options):
    files = files if files is not None else {"index.js": f"console.log('{version}')"}
    upload = publishing.Upload(version=version, chunks=[make_zip(files)], **options)
    return publishing.publish(app, upload)


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
    settings.PERFORMANCE_MIN_SAMPLES = 20
    cache.clear()
    update.clear_local()
    yield
    cache.clear()
    update.clear_local()


@pytest.fixture
def app(db):
    return App.objects.create(slug="shop", name="Shop")


@pytest.fixture
def channel(app):
    return publishing.create_channel(app, name="production")


@pytest.fixture
def release(app, channel):
    return publish(app, "1.0.0")


@pytest.fixture
def post_batch(client):
    """post_batch(channel, install_id, version, events) posts one batch; asserts it was taken."""

    def _post(channel, install_id, version, events):
        response = client.post(
            f"/api/v1/telemetry?key={channel.client_key}",
            json.dumps({"install_id": install_id, "version": version, "events": events}),
            content_type="application/json",
        )
        assert response.status_code == 202, response.content
        return response

    return _post


@pytest.fixture
def vitals(post_batch):
    """vitals(channel, version, name, values, device=...) reports one value per install."""

    def _send(channel, version, name, values, *, device="mobile", prefix="i"):
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            events = [
                {
                    "type": "vital",
                    "name": name,
                    "value": v,
                    "id": f"v-{name}-{device}-{start + i}",
                    "device": device,
                }
                for i, v in enumerate(chunk)
            ]
            post_batch(channel, f"{prefix}-{device}-{name}-{start}", version, events)

    return _send
