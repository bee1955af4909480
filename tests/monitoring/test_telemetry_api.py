"""POST /api/v1/telemetry: the public ingestion endpoint clients report to."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from monitoring.models import Event, Install, Rollup
from tests.monitoring.conftest import iso


def batch(*events, version="1.2.0", install_id="install-1"):
    return {"install_id": install_id, "version": version, "events": list(events)}


def test_a_valid_batch_is_accepted_whole(channel, post_batch):
    response = post_batch(
        channel.client_key,
        batch(
            {"type": "launch"}, {"type": "crash"}, {"type": "vital", "name": "LCP", "value": 1800}
        ),
    )
    assert response.status_code == 202
    assert response.json() == {"accepted": 3}
    assert Event.objects.count() == 3


def test_it_counts_the_install_as_exposed_to_the_version(channel, post_batch):
    post_batch(channel.client_key, batch({"type": "launch"}))
    post_batch(channel.client_key, batch({"type": "launch"}))
    assert list(Install.objects.values_list("version", "install_id")) == [("1.2.0", "install-1")]


def test_an_unknown_key_is_404_and_stores_nothing(channel, post_batch):
    response = post_batch("ck_nope", batch({"type": "launch"}))
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_key"
    assert not Event.objects.exists()


def test_the_previous_key_works_until_it_expires(channel, post_batch):
    channel.previous_client_key = "ck_old"
    channel.previous_key_expires_at = timezone.now() + timedelta(hours=1)
    channel.save()
    assert post_batch("ck_old", batch({"type": "launch"})).status_code == 202
    channel.previous_key_expires_at = timezone.now() - timedelta(seconds=1)
    channel.save()
    assert post_batch("ck_old", batch({"type": "launch"})).status_code == 404


def test_one_bad_event_rejects_the_whole_batch_naming_it(channel, post_batch):
    response = post_batch(
        channel.client_key,
        batch({"type": "launch"}, {"type": "launch"}, {"type": "teleport"}, {"type": "crash"}),
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["index"]) == ("invalid_event", 2)
    assert "type must be one of" in body["detail"]
    assert not Event.objects.exists() and not Rollup.objects.exists()


def test_a_vital_needs_a_known_name_and_a_number(channel, post_batch):
    bad_name = post_batch(channel.client_key, batch({"type": "vital", "name": "FID", "value": 3}))
    bad_value = post_batch(
        channel.client_key, batch({"type": "vital", "name": "LCP", "value": "fast"})
    )
    assert bad_name.status_code == bad_value.status_code == 400
    assert "LCP, INP, CLS, FCP, TTFB" in bad_name.json()["detail"]
    assert "finite number" in bad_value.json()["detail"]


def test_an_api_event_needs_a_status_code(channel, post_batch):
    response = post_batch(channel.client_key, batch({"type": "api", "value": 120}))
    assert response.status_code == 400
    assert "status" in response.json()["detail"]


def test_timestamps_older_than_seven_days_are_rejected(channel, post_batch):
    old = iso(timezone.now() - timedelta(days=7, minutes=1))
    response = post_batch(channel.client_key, batch({"type": "launch", "at": old}))
    assert response.status_code == 400
    assert "7 days old" in response.json()["detail"]


def test_timestamps_more_than_five_minutes_ahead_are_rejected(channel, post_batch):
    ahead = iso(timezone.now() + timedelta(minutes=6))
    response = post_batch(channel.client_key, batch({"type": "launch", "at": ahead}))
    assert response.status_code == 400
    assert "in the future" in response.json()["detail"]


def test_epoch_milliseconds_are_accepted_as_time(channel, post_batch):
    at = timezone.now() - timedelta(minutes=3)
    response = post_batch(
        channel.client_key, batch({"type": "launch", "at": at.timestamp() * 1000})
    )
    assert response.status_code == 202
    assert abs(Event.objects.get().at - at) < timedelta(milliseconds=1)


def test_a_version_that_is_not_semver_is_refused(channel, post_batch):
    response = post_batch(channel.client_key, batch({"type": "launch"}, version="1.2"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_version"


def test_a_bad_install_id_is_refused(channel, post_batch):
    response = post_batch(channel.client_key, batch({"type": "launch"}, install_id="a b/c"))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_install_id"


def test_more_than_a_thousand_events_is_refused(channel, post_batch):
    response = post_batch(channel.client_key, batch(*[{"type": "launch"}] * 1001))
    assert response.status_code == 400
    assert response.json()["error"] == "too_many_events"


def test_an_empty_batch_is_refused(channel, post_batch):
    response = post_batch(channel.client_key, batch())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_batch"


def test_a_body_over_256_kib_is_413(channel, post_batch):
    huge = batch(*[{"type": "error", "name": "x" * 90, "route": "/" + "r" * 190}] * 1000)
    response = post_batch(channel.client_key, huge)
    assert response.status_code == 413
    assert not Event.objects.exists()


def test_invalid_json_is_400(channel, post_batch):
    response = post_batch(channel.client_key, b"{not json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"


def test_get_is_405(channel, client):
    response = client.get(f"/api/v1/telemetry?key={channel.client_key}")
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"


def test_a_cors_preflight_is_answered_for_any_origin(channel, client):
    response = client.options(
        f"/api/v1/telemetry?key={channel.client_key}", HTTP_ORIGIN="https://h5.example.com"
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_beacon_sent_as_text_plain_is_accepted(channel, client):
    body = '{"install_id": "i", "version": "1.0.0", "events": [{"type": "launch"}]}'
    response = client.post(
        f"/api/v1/telemetry?key={channel.client_key}", body, content_type="text/plain"
    )
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == "*"


def test_no_sign_in_or_csrf_token_is_needed(channel, post_batch, settings):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        f"/api/v1/telemetry?key={channel.client_key}",
        '{"install_id": "i", "version": "1.0.0", "events": [{"type": "launch"}]}',
        content_type="application/json",
    )
    assert response.status_code == 202
