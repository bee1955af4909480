"""Bundles built in memory, bundle storage in a temporary folder, a clean answer cache."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.cache import cache

from releases import publishing, update
from releases.models import App


def make_zip(
    files: dict[str, bytes | str] | None = None,
    *,
    manifest: dict | None = None,
    with_manifest: bool = True,
) -> bytes:
    """A bundle: ``files`` plus an app.json (``manifest``, default {"name": "demo"})."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        if with_manifest:
            z.writestr(_entry("app.json"), json.dumps(manifest or {"name": "demo"}))
        for name, data in (files or {}).items():
            z.writestr(_entry(name), data)
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    """A fixed timestamp: the same files make the same bytes even across a clock tick."""
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


@pytest.fixture(autouse=True)
def _bundle_storage(settings, tmp_path):
    settings.RELEASES_BUNDLE_DIR = tmp_path / "bundles"
    settings.RELEASES_STATE_DIR = tmp_path / "state"
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


_counter = iter(range(1, 10**6))


def publish(app, version, files=None, *, author=None, manifest=None, **options):
    """Publish ``version`` with a unique bundle (unless ``files`` is given)."""
    if files is None:
        files = {"index.js": f"console.log({next(_counter)})"}
    data = make_zip(files, manifest=manifest)
    upload = publishing.Upload(version=version, chunks=[data], **options)
    return publishing.publish(app, upload, author=author)
