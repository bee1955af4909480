"""The deploy agent over real HTTP: auth, download + verify, safe unpack, switch, rollback."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import stat
import threading
import urllib.error
import urllib.request
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fleet import agent
from tests.fleet.conftest import closed_port_url
from tests.releases.conftest import make_zip

SECRET = "ag_test-secret"
TOKEN_SHA = hashlib.sha256(SECRET.encode()).hexdigest()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def files(tmp_path):
    """A static file server for bundles: put(name, bytes) → (url, sha256)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def put(name: str, data: bytes) -> tuple[str, str]:
        (folder / name).write_bytes(data)
        return f"{base}/{name}", hashlib.sha256(data).hexdigest()

    yield put
    server.shutdown()
    server.server_close()


@pytest.fixture
def host(agents):
    return agents.start("solo", TOKEN_SHA)


def call(running, method, path, body=None, secret=SECRET):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    request = urllib.request.Request(running.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def deploy(running, files, name, data, version="1.0.0", **overrides):
    url, sha = files(name, data)
    body = {"version": version, "sha256": sha, "url": url, **overrides}
    return sha, call(running, "POST", "/deploy", body)


def test_it_unpacks_the_bundle_and_points_current_at_it(host, files):
    sha, (status, answer) = deploy(host, files, "a.zip", make_zip({"index.html": "hi"}))
    assert (status, answer["changed"], answer["sha256"]) == (200, True, sha)
    assert host.current() == sha
    assert (host.root / "current" / "index.html").read_text() == "hi"


def test_health_reports_the_running_version_without_auth(host, files):
    sha, _ = deploy(host, files, "a.zip", make_zip({"x": "1"}), version="2.0.0")
    status, answer = call(host, "GET", "/health", secret=None)
    assert (status, answer["version"], answer["sha256"]) == (200, "2.0.0", sha)


def test_health_is_503_when_nothing_is_deployed(host):
    status, answer = call(host, "GET", "/health", secret=None)
    assert (status, answer["status"]) == (503, "empty")


def test_health_is_503_when_the_apps_own_health_url_fails(agents, files):
    sick = agents.start("sick", TOKEN_SHA, app_health_url=closed_port_url())
    deploy(sick, files, "a.zip", make_zip({"x": "1"}))
    status, answer = call(sick, "GET", "/health", secret=None)
    assert (status, answer["status"]) == (503, "unhealthy")


def test_a_second_deploy_keeps_the_first_as_previous(host, files):
    first, _ = deploy(host, files, "a.zip", make_zip({"x": "1"}))
    second, (status, answer) = deploy(host, files, "b.zip", make_zip({"x": "2"}), "1.1.0")
    assert (status, answer["previous_sha256"]) == (200, first)
    assert (host.current(), host.previous()) == (second, first)


def test_deploying_the_running_release_again_changes_nothing(host, files):
    first, _ = deploy(host, files, "a.zip", make_zip({"x": "1"}))
    second, _ = deploy(host, files, "b.zip", make_zip({"x": "2"}), "1.1.0")
    _, (status, answer) = deploy(host, files, "b.zip", make_zip({"x": "2"}), "1.1.0")
    assert (status, answer["changed"]) == (200, False)
    assert (host.current(), host.previous()) == (second, first)


def test_rollback_goes_back_to_the_previous_release_once(host, files):
    first, _ = deploy(host, files, "a.zip", make_zip({"x": "1"}))
    second, _ = deploy(host, files, "b.zip", make_zip({"x": "2"}), "1.1.0")
    assert call(host, "POST", "/rollback", {"from_sha256": second})[1]["sha256"] == first
    status, answer = call(host, "POST", "/rollback", {"from_sha256": second})
    assert (status, answer["changed"], host.current()) == (200, False, first)


def test_rollback_without_an_earlier_release_is_refused(host, files):
    only, _ = deploy(host, files, "a.zip", make_zip({"x": "1"}))
    status, answer = call(host, "POST", "/rollback", {"from_sha256": only})
    assert (status, answer["error"], host.current()) == (409, "no_previous", only)


@pytest.mark.parametrize("secret", ["wrong", None])
def test_a_bad_or_missing_secret_is_refused(host, files, secret):
    url, sha = files("a.zip", make_zip({"x": "1"}))
    status, answer = call(
        host, "POST", "/deploy", {"version": "1", "sha256": sha, "url": url}, secret=secret
    )
    assert (status, answer["error"], host.current()) == (401, "unauthorized", "")


def test_status_needs_the_secret(host):
    assert call(host, "GET", "/status", secret="nope")[0] == 401
    assert call(host, "GET", "/status")[1]["agent_version"] == agent.AGENT_VERSION


def test_a_bundle_whose_sha_does_not_match_is_refused_and_nothing_is_kept(host, files):
    url, _ = files("a.zip", make_zip({"x": "1"}))
    body = {"version": "1.0.0", "sha256": "0" * 64, "url": url}
    status, answer = call(host, "POST", "/deploy", body)
    assert (status, answer["error"], host.current()) == (422, "sha_mismatch", "")
    assert not list((host.root / "downloads").iterdir())


def _zip(entries) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for info, data in entries:
            z.writestr(info, data)
    return buffer.getvalue()


def test_a_zip_with_path_traversal_is_refused(host, files, tmp_path):
    data = _zip([(zipfile.ZipInfo("app.json"), "{}"), (zipfile.ZipInfo("../../evil.sh"), "x")])
    _, (status, answer) = deploy(host, files, "evil.zip", data)
    assert (status, answer["error"], host.current()) == (422, "unsafe_path", "")
    assert not (host.root.parent / "evil.sh").exists()
    assert not [p for p in (host.root / "releases").iterdir()]


def test_a_zip_with_a_symlink_is_refused(host, files):
    link = zipfile.ZipInfo("passwd")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    _, (status, answer) = deploy(host, files, "link.zip", _zip([(link, "/etc/passwd")]))
    assert (status, answer["error"], host.current()) == (422, "symlink", "")


def test_a_zip_with_an_absolute_path_is_refused(host, files):
    _, (status, answer) = deploy(host, files, "abs.zip", _zip([(zipfile.ZipInfo("/tmp/x"), "x")]))
    assert (status, answer["error"]) == (422, "unsafe_path")


def test_bundles_from_an_origin_not_allowed_are_refused(agents, files):
    strict = agents.start("strict", TOKEN_SHA, allow_origins=("https://upkeep.example.test/",))
    _, (status, answer) = deploy(strict, files, "a.zip", make_zip({"x": "1"}))
    assert (status, answer["error"], strict.current()) == (403, "origin_not_allowed", "")


def test_a_download_error_is_reported_as_such(host):
    body = {"version": "1.0.0", "sha256": "a" * 64, "url": closed_port_url() + "b.zip"}
    status, answer = call(host, "POST", "/deploy", body)
    assert (status, answer["error"]) == (502, "download_failed")


def test_invalid_requests_get_400(host):
    assert (
        call(host, "POST", "/deploy", {"version": "1", "sha256": "xyz", "url": "http://a"})[0]
        == 400
    )
    assert (
        call(host, "POST", "/deploy", {"version": "1", "sha256": "a" * 64, "url": "file:///etc"})[0]
        == 400
    )


def test_the_command_line_refuses_a_missing_token_hash(tmp_path, monkeypatch):
    monkeypatch.delenv("UPKEEP_AGENT_TOKEN_SHA256", raising=False)
    with pytest.raises(SystemExit):
        agent.main(["--root", str(tmp_path / "r")])
