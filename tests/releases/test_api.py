"""The CI API: every status code the issue lists, each tested."""

import pytest

from accounts.tokens import create_token
from releases.models import App, Release
from tests.releases.conftest import make_zip, publish


@pytest.fixture
def api(client):
    """api(user) → a function making authenticated calls as ``user``'s token."""

    def for_user(user):
        _, raw = create_token(user, "ci")

        def call(method, path, data=None, **kwargs):
            kwargs.setdefault("content_type", "application/json")
            if kwargs["content_type"] is None:
                del kwargs["content_type"]
            return getattr(client, method)(path, data, HTTP_AUTHORIZATION=f"Bearer {raw}", **kwargs)

        return call

    return for_user


def _upload(call, version="1.0.0", bundle=None, **fields):
    import io

    data = {"version": version, **fields}
    if bundle is not False:
        f = io.BytesIO(bundle if bundle is not None else make_zip({"i.js": version}))
        f.name = "bundle.zip"
        data["bundle"] = f
    return call("post", "/api/v1/apps/shop/releases", data, content_type=None)


def test_creating_an_app_answers_201(api, bob):
    response = api(bob)("post", "/api/v1/apps", {"slug": "shop", "name": "Shop"})
    assert response.status_code == 201
    assert App.objects.get(slug="shop").owners.get() == bob


def test_an_existing_slug_is_a_409(api, bob, app):
    response = api(bob)("post", "/api/v1/apps", {"slug": "shop", "name": "Again"})
    assert (response.status_code, response.json()["error"]) == (409, "exists")


def test_a_bad_slug_is_a_400(api, bob):
    response = api(bob)("post", "/api/v1/apps", {"slug": "Not A Slug", "name": "x"})
    assert (response.status_code, response.json()["field"]) == (400, "slug")


def test_a_body_that_is_not_json_is_a_400(api, bob):
    response = api(bob)("post", "/api/v1/apps", "nope", content_type="text/plain")
    assert response.status_code == 400


def test_no_token_is_a_401(client, app):
    response = client.get("/api/v1/apps/shop")
    assert (response.status_code, response.json()["error"]) == (401, "unauthorized")


def test_a_bad_token_is_a_401(client, app):
    response = client.get("/api/v1/apps/shop", HTTP_AUTHORIZATION="Bearer upk_wrong")
    assert response.status_code == 401


def test_a_viewer_cannot_create_apps(api, dave):
    response = api(dave)("post", "/api/v1/apps", {"slug": "shop", "name": "Shop"})
    assert (response.status_code, response.json()["error"]) == (403, "forbidden")


def test_an_app_is_read_with_its_channels_and_keys(api, dave, channel):
    body = api(dave)("get", "/api/v1/apps/shop").json()
    assert body["channels"][0]["client_key"] == channel.client_key


def test_an_unknown_app_is_a_404(api, dave, db):
    assert api(dave)("get", "/api/v1/apps/nope").status_code == 404


def test_creating_a_channel_answers_201_with_its_client_key(api, bob, app):
    response = api(bob)("post", "/api/v1/apps/shop/channels", {"name": "beta"})
    assert response.status_code == 201
    assert response.json()["client_key"] == app.channels.get().client_key


def test_a_new_channel_is_gated_by_rollouts_unless_asked_otherwise(api, bob, app):
    call = api(bob)
    gated = call("post", "/api/v1/apps/shop/channels", {"name": "beta"}).json()
    immediate = call(
        "post", "/api/v1/apps/shop/channels", {"name": "dev", "release_gate": "immediate"}
    ).json()
    assert (gated["release_gate"], immediate["release_gate"]) == ("rollout", "immediate")
    assert app.channels.get(name="dev").release_gate == "immediate"


def test_an_unknown_release_gate_is_a_400_naming_the_field(api, bob, app):
    response = api(bob)(
        "post", "/api/v1/apps/shop/channels", {"name": "beta", "release_gate": "later"}
    )
    assert (response.status_code, response.json()["field"]) == (400, "release_gate")
    assert not app.channels.exists()


def test_the_app_shows_each_channels_release_gate(api, dave, channel):
    body = api(dave)("get", "/api/v1/apps/shop").json()
    assert body["channels"][0]["release_gate"] == "rollout"


def test_a_duplicate_channel_is_a_409(api, bob, channel):
    response = api(bob)("post", "/api/v1/apps/shop/channels", {"name": "production"})
    assert response.status_code == 409


def test_a_bad_upload_policy_is_a_400(api, bob, app):
    response = api(bob)(
        "post", "/api/v1/apps/shop/channels", {"name": "beta", "upload_policy": "maybe"}
    )
    assert response.status_code == 400


def test_publishing_answers_201_with_hash_size_analysis_and_url(api, bob, app):
    response = _upload(api(bob), "1.0.0", changes='[{"type": "fix", "text": "crash"}]')
    body = response.json()
    assert response.status_code == 201
    release = Release.objects.get()
    assert (body["sha256"], body["size"]) == (release.bundle_sha256, release.bundle_size)
    assert body["analysis"]["totals"]["files"] == 2 and body["url"].startswith("http://")


def test_bad_semver_is_a_400(api, bob, app):
    response = _upload(api(bob), "1.0")
    assert (response.status_code, response.json()["field"]) == (400, "version")


def test_a_bad_zip_is_a_400(api, bob, app):
    response = _upload(api(bob), "1.0.0", bundle=b"not a zip")
    assert (response.status_code, response.json()["error"]) == (400, "bad_zip")


def test_a_missing_bundle_is_a_400(api, bob, app):
    assert _upload(api(bob), "1.0.0", bundle=False).status_code == 400


def test_a_bad_mandatory_flag_is_a_400(api, bob, app):
    assert _upload(api(bob), "1.0.0", mandatory="perhaps").json()["field"] == "mandatory"


def test_a_json_publish_instead_of_multipart_is_a_400(api, bob, app):
    response = api(bob)("post", "/api/v1/apps/shop/releases", {"version": "1.0.0"})
    assert response.status_code == 400


def test_a_duplicate_version_is_a_409_naming_the_latest(api, bob, app):
    call = api(bob)
    _upload(call, "1.2.0")
    response = _upload(call, "1.2.0", bundle=make_zip({"other.js": "x"}))
    assert response.status_code == 409
    assert "1.2.0" in response.json()["detail"]


def test_a_lower_version_is_a_409(api, bob, app):
    call = api(bob)
    _upload(call, "1.2.0")
    assert _upload(call, "1.1.0").json()["error"] == "version_not_greater"


def test_a_byte_identical_reupload_is_a_409(api, bob, app):
    call = api(bob)
    data = make_zip({"same.js": "1"})
    _upload(call, "1.0.0", bundle=data)
    assert _upload(call, "1.0.1", bundle=data).json()["error"] == "duplicate_bundle"


def test_a_viewer_cannot_publish(api, dave, app):
    assert _upload(api(dave), "1.0.0").status_code == 403


def test_publishing_to_an_unknown_app_is_a_404(api, bob, db):
    assert _upload(api(bob), "1.0.0").status_code == 404


def test_releases_are_listed_newest_first_and_paginated(api, dave, app):
    for version in ["1.0.0", "1.0.1-rc.1", "1.0.1", "1.1.0"]:
        publish(app, version)
    page = api(dave)("get", "/api/v1/apps/shop/releases?per_page=2").json()
    assert [r["version"] for r in page["results"]] == ["1.1.0", "1.0.1"]
    assert (page["total"], page["next"].endswith("page=2&per_page=2")) == (4, True)


def test_the_last_page_has_no_next(api, dave, app):
    publish(app, "1.0.0")
    page = api(dave)("get", "/api/v1/apps/shop/releases?page=1").json()
    assert page["next"] is None


def test_a_bad_page_is_a_400(api, dave, app):
    assert api(dave)("get", "/api/v1/apps/shop/releases?per_page=1000").status_code == 400


def test_the_list_pins_its_query_count(api, dave, app, django_assert_max_num_queries):
    for version in ["1.0.0", "1.1.0", "1.2.0"]:
        publish(app, version)
    call = api(dave)
    with django_assert_max_num_queries(8):
        call("get", "/api/v1/apps/shop/releases")


def test_a_wrong_method_is_a_405(api, dave, app):
    assert api(dave)("delete", "/api/v1/apps/shop").status_code == 405


def test_a_malformed_runtime_range_is_a_400(api, bob, app):
    response = _upload(api(bob), "1.0.0", runtime=">=2 <<3")
    assert (response.status_code, response.json()["field"]) == (400, "runtime")


def test_publishing_to_a_named_channel_records_it(api, bob, channel):
    response = _upload(api(bob), "1.0.0", channel="production")
    assert response.json()["channel"] == "production"


def test_an_unknown_channel_is_a_400(api, bob, app):
    assert _upload(api(bob), "1.0.0", channel="nope").json()["field"] == "channel"
