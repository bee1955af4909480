"""Bundle download: immutable caching headers, ETag, ranges and lengths."""

import pytest

from releases import bundles
from tests.releases.conftest import publish


@pytest.fixture
def release(app):
    return publish(app, "1.0.0", {"index.js": bytes(range(256)) * 20})


@pytest.fixture
def data(release):
    return bundles.bundle_path(release.bundle_sha256).read_bytes()


def _get(client, release, **headers):
    return client.get(f"/api/v1/bundles/{release.bundle_sha256}.zip", **headers)


def test_the_whole_bundle_comes_with_its_length_and_hash_as_etag(client, release, data):
    response = _get(client, release)
    assert b"".join(response.streaming_content) == data
    assert (response["Content-Length"], response["ETag"]) == (
        str(len(data)),
        f'"{release.bundle_sha256}"',
    )


def test_the_bundle_is_cacheable_forever(client, release):
    assert _get(client, release)["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_range_gets_206_with_exactly_those_bytes(client, release, data):
    response = _get(client, release, HTTP_RANGE="bytes=10-19")
    assert (response.status_code, response["Content-Range"]) == (206, f"bytes 10-19/{len(data)}")
    assert b"".join(response.streaming_content) == data[10:20]


def test_an_open_ended_range_runs_to_the_end(client, release, data):
    response = _get(client, release, HTTP_RANGE="bytes=100-")
    assert response["Content-Length"] == str(len(data) - 100)


def test_a_suffix_range_gets_the_last_bytes(client, release, data):
    response = _get(client, release, HTTP_RANGE="bytes=-7")
    assert b"".join(response.streaming_content) == data[-7:]


def test_a_range_past_the_end_is_416(client, release, data):
    response = _get(client, release, HTTP_RANGE=f"bytes={len(data)}-")
    assert (response.status_code, response["Content-Range"]) == (416, f"bytes */{len(data)}")


def test_several_ranges_get_the_whole_body(client, release):
    assert _get(client, release, HTTP_RANGE="bytes=0-1,5-6").status_code == 200


def test_a_matching_etag_gets_304(client, release):
    response = _get(client, release, HTTP_IF_NONE_MATCH=f'"{release.bundle_sha256}"')
    assert response.status_code == 304


def test_an_unknown_hash_is_a_404(client, db):
    assert client.get(f"/api/v1/bundles/{'0' * 64}.zip").status_code == 404


def test_the_download_needs_no_sign_in(client, release):
    assert _get(client, release).status_code == 200
