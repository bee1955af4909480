"""Real zips built in memory: OSV exports and release bundles with lock/requirements files;
for the security patch tests a loopback health backend, a vulnerable app with a real finding and
real backup sources (a directory tree and a SQLite database)."""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
import zipfile

import pytest
from django.core.cache import cache

from releases import publishing, update
from releases.models import App
from security import osv
from tests.backups.conftest import add, make_sqlite, make_tree

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


# --------------------------------------------------------------------------- security patches

TESTER = "tester-install"
VULNERABLE = {"package-lock.json": lock_v3({"lodash": "4.17.20"})}
FIXED = {"package-lock.json": lock_v3({"lodash": "4.17.21"})}


class _Backend(http.server.BaseHTTPRequestHandler):
    """The mini program's backend: /ok 200, /down 503, /moved 302, /slow 200 after 1.5 s."""

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.5)
        status = {"/ok": 200, "/health": 204, "/down": 503, "/moved": 302, "/slow": 200}.get(
            self.path, 404
        )
        body = b"" if status == 204 else (b"fine" if status == 200 else b"nope")
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a probe that gave up (timeout) closes before the slow answer is written


@pytest.fixture
def backend():
    server = _QuietServer(("127.0.0.1", 0), _Backend)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


@pytest.fixture
def vulnerable(app, channel, data_dir):
    """shop 1.0.0 on production (rolled out to everyone) ships lodash 4.17.20, vulnerable to
    GHSA-1 (fixed in 4.17.21): one open finding."""
    from security import findings, scanning
    from security.models import Finding
    from tests.releases.rollout_support import rolled_out

    load_osv(
        advisory(
            "GHSA-1",
            "lodash",
            ecosystem="npm",
            events=[{"introduced": "0"}, {"fixed": "4.17.21"}],
        )
    )
    release = publish(app, "1.0.0", VULNERABLE, channel=channel)
    rolled_out(channel, release)
    publishing.set_testers(channel, [TESTER])
    channel.refresh_from_db()
    findings.reconcile([scanning.scan_release(release, channel=channel)], closes=True)
    return Finding.objects.get()


@pytest.fixture
def sources(app, tmp_path):
    """Two real sources of the app: a directory tree and a SQLite database."""
    return [
        add("shop-files", "directory", make_tree(tmp_path / "files"), app=app),
        add("shop-db", "sqlite", make_sqlite(tmp_path / "shop.sqlite3", rows=50), app=app),
    ]
