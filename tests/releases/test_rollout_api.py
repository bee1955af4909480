"""The rollouts CI API: start (201/400/404/409), read, abort."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.tokens import create_token
from releases import rollouts
from releases.models import Release, Rollout
from releases.openapi import DOCUMENT
from tests.releases.conftest import make_zip, publish


@pytest.fixture
def call(client, bob):
    _, raw = create_token(bob, "ci")

    def _call(method, path, data=None):
        return getattr(client, method)(
            path, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )

    return _call


@pytest.fixture
def releases(app, channel):
    return publish(app, "1.0.0"), publish(app, "1.1.0")


START = "/api/v1/apps/shop/channels/production/rollouts"


def test_starting_a_rollout_answers_201_with_its_state(call, releases):
    response = call("post", START, {"version": "1.1.0", "strategy": "canary"})
    body = response.json()
    assert response.status_code == 201
    assert (body["state"], body["phase"], body["percent"]) == ("running", 0, 5.0)


def test_custom_phases_and_metrics_are_kept(call, releases):
    body = call(
        "post",
        START,
        {
            "version": "1.1.0",
            "phases": [{"percent": 10, "hold_seconds": 60, "requires_approval": False}],
            "metrics": [{"metric": "crash_rate", "threshold": 0.2, "min_samples": 500}],
        },
    ).json()
    assert [p["percent"] for p in body["phases"]] == [10.0, 100.0]
    assert [m["metric"] for m in body["metrics"]] == ["crash_rate"]


@pytest.mark.parametrize(
    "data",
    [
        {"version": "1.1.0", "metrics": [{"metric": "vibes"}]},
        {"version": "1.1.0", "metrics": [{"metric": "crash_rate", "threshold": "high"}]},
        {"version": "1.1.0", "phases": [{"percent": 150}]},
        {"version": "1.1.0", "strategy": "big-bang"},
        {"phases": []},
    ],
)
def test_bad_requests_are_a_400(call, releases, data):
    assert call("post", START, data).status_code == 400


def test_an_unknown_version_is_a_404(call, releases):
    assert call("post", START, {"version": "9.9.9"}).status_code == 404


def test_a_second_rollout_on_the_channel_is_a_409(call, releases):
    call("post", START, {"version": "1.1.0"})
    response = call("post", START, {"version": "1.1.0"})
    assert response.status_code == 409 and response.json()["error"] == "rollout_active"


def test_a_viewer_token_cannot_start_a_rollout(client, dave, releases):
    _, raw = create_token(dave, "ci")
    response = client.post(
        START,
        {"version": "1.1.0"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403


def test_a_rollout_is_read_with_metrics_and_events(call, releases):
    pk = call("post", START, {"version": "1.1.0"}).json()["id"]
    body = call("get", f"/api/v1/rollouts/{pk}").json()
    assert {"id", "state", "phase", "percent", "metrics", "events"} <= set(body)
    assert body["events"][0]["action"] == "started"


def test_a_new_rollout_is_its_first_attempt(call, releases):
    assert call("post", START, {"version": "1.1.0"}).json()["attempt"] == 1


def test_a_restart_shows_the_next_attempt(call, releases, bob):
    pk = call("post", START, {"version": "1.1.0"}).json()["id"]
    call("post", f"/api/v1/rollouts/{pk}/abort", {"reason": "flaky"})
    rollouts.restart(Rollout.objects.get(pk=pk), reason="again", user=bob)
    body = call("get", f"/api/v1/rollouts/{pk}").json()
    assert (body["state"], body["attempt"]) == ("running", 2)


def test_the_document_describes_every_field_of_a_rollout(call, releases):
    body = call("post", START, {"version": "1.1.0"}).json()
    documented = set(DOCUMENT["components"]["schemas"]["Rollout"]["properties"])
    assert set(body) <= documented and documented - set(body) == {"blue_green"}


def test_a_pipeline_aborts_with_a_reason(call, releases):
    pk = call("post", START, {"version": "1.1.0"}).json()["id"]
    response = call("post", f"/api/v1/rollouts/{pk}/abort", {"reason": "e2e tests failed"})
    assert response.json()["state"] == "aborted"
    assert Rollout.objects.get(pk=pk).reason == "e2e tests failed"


def test_an_abort_without_a_reason_is_a_400(call, releases):
    pk = call("post", START, {"version": "1.1.0"}).json()["id"]
    assert call("post", f"/api/v1/rollouts/{pk}/abort", {}).status_code == 400


def test_aborting_twice_is_a_409(call, releases):
    pk = call("post", START, {"version": "1.1.0"}).json()["id"]
    call("post", f"/api/v1/rollouts/{pk}/abort", {"reason": "a"})
    assert call("post", f"/api/v1/rollouts/{pk}/abort", {"reason": "b"}).status_code == 409


def test_an_unknown_rollout_is_a_404(call, db):
    assert call("get", "/api/v1/rollouts/999999").status_code == 404


def test_a_hotfix_upload_on_a_reject_channel_is_a_409_naming_the_rollout(
    client, bob, call, releases
):
    call("post", START, {"version": "1.1.0"})
    _, raw = create_token(bob, "upload")
    bundle = SimpleUploadedFile("b.zip", make_zip({"a.js": "1"}), content_type="application/zip")
    response = client.post(
        "/api/v1/apps/shop/releases",
        {"version": "1.1.1", "bundle": bundle},
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 409 and "rollout" in response.json()["detail"]


def test_a_rollout_without_a_blocking_metric_is_a_400(call, releases):
    dry = [{"metric": "crash_rate", "threshold": 1, "dry_run": True}]
    for metrics in ([], dry):
        response = call("post", START, {"version": "1.1.0", "metrics": metrics})
        assert (response.status_code, response.json()["error"]) == (400, "no_blocking_metric")


def test_a_rollout_without_metrics_uses_the_defaults(call, releases):
    body = call("post", START, {"version": "1.1.0"}).json()
    assert {m["metric"] for m in body["metrics"]} >= {"crash_rate", "error_rate"}


def test_an_upload_whose_superseding_rollout_cannot_start_is_a_409_storing_nothing(
    client, bob, channel, releases
):
    channel.upload_policy = "supersede"
    channel.save()
    Rollout.objects.create(  # an older row whose metrics a rollout no longer accepts
        app_id=channel.app_id,
        channel=channel,
        release=releases[1],
        state="running",
        phases=[{"percent": 5, "hold_seconds": 60}, {"percent": 100}],
        metrics=[],
        salt="legacy",
        phase_started_at=timezone.now(),
    )
    _, raw = create_token(bob, "upload")
    bundle = SimpleUploadedFile("b.zip", make_zip({"a.js": "2"}), content_type="application/zip")
    response = client.post(
        "/api/v1/apps/shop/releases",
        {"version": "1.2.0", "bundle": bundle},
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert (response.status_code, response.json()["error"]) == (409, "rollout_not_superseded")
    assert not Release.objects.filter(version="1.2.0").exists()
