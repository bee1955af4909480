"""Real zips built in memory: OSV exports and release bundles with lock/requirements files."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.cache import cache

from releases import publishing, update
from releases.models import App
from security import osv

T = "2026-01-01T00:00:00Z"


def zip_bytes(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buffer.getvalue()


def advisory(
    osv_id: str,
    package: str,
    *,
    ecosystem: str = "PyPI",
    events=None,
    versions=None,
    aliases=(),
    modified: str = T,
    severity: str | None = "HIGH",
    summary: str = "",
    **extra,
) -> dict:
    doc = {
        "schema_version": "1.6.0",
        "id": osv_id,
        "modified": modified,
        "aliases": list(aliases),
        "summary": summary or f"{osv_id} summary",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": package},
                "ranges": [
                    {
                        "type": "ECOSYSTEM" if ecosystem == "PyPI" else "SEMVER",
                        "events": events if events is not None else [{"introduced": "0"}],
                    }
                ],
                "versions": list(versions or []),
            }
        ],
        **extra,
    }
    if severity:
        doc["database_specific"] = {"severity": severity}
    return doc


def osv_zip(*docs: dict) -> bytes:
    return zip_bytes({f"{d['id']}.json": json.dumps(d) for d in docs})


def load_osv(*docs: dict, user=None):
    data = osv_zip(*docs)
    return osv.import_export(io.BytesIO(data), filename="all.zip", size=len(data), user=user)


def bundle(files: dict[str, bytes | str]) -> bytes:
    return zip_bytes({"app.json": json.dumps({"name": "demo"}), **files})


_n = iter(range(1, 10**6))


def publish(app, version, files: dict | None = None, channel=None):
    files = dict(files or {})
    files.setdefault("index.js", f"console.log({next(_n)})")
    upload = publishing.Upload(version=version, chunks=[bundle(files)], channel=channel)
    return publishing.publish(app, upload)


def lock_v3(packages: dict[str, str]) -> str:
    entries = {"": {"name": "demo", "version": "1.0.0"}}
    for name, version in packages.items():
        entries[f"node_modules/{name}"] = {"version": version}
    return json.dumps({"name": "demo", "lockfileVersion": 3, "packages": entries})


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
