"""The rollouts API with strategy blue_green: start (201/400/409), read the slots and checks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tokens import create_token
from releases import bluegreen
from releases.models import Rollout
from releases.openapi import DOCUMENT
from tests.releases.conftest import publish
from tests.releases.rollout_support import rolled_out

START = "/api/v1/apps/shop/channels/production/rollouts"


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
    stable = rolled_out(channel, publish(app, "1.0.0"), now=timezone.now() - timedelta(days=1))
    return stable, publish(app, "1.1.0")


def test_a_blue_green_starts_staged_with_its_probes_and_window(call, releases):
    response = call(
        "post",
        START,
        {
            "version": "1.1.0",
            "strategy": "blue_green",
            "probes": ["http://127.0.0.1:9/health"],
            "window_seconds": 600,
        },
    )
    body = response.json()
    assert response.status_code == 201
    assert (body["strategy"], body["step"], body["percent"]) == ("blue_green", "staged", 0.0)
    assert (body["blue_green"]["probes"], body["blue_green"]["window_seconds"]) == (
        ["http://127.0.0.1:9/health"],
        600,
    )


def test_the_answer_names_the_live_and_the_idle_slot(call, releases):
    body = call("post", START, {"version": "1.1.0", "strategy": "blue_green"}).json()
    slots = body["blue_green"]
    assert (slots["live"], slots["blue"], slots["green"]) == ("blue", "1.0.0", "1.1.0")


def test_the_read_shows_the_health_check_results(call, releases):
    body = call("post", START, {"version": "1.1.0", "strategy": "blue_green"}).json()
    bluegreen.request_switch(Rollout.objects.get(pk=body["id"]))
    check = call("get", f"/api/v1/rollouts/{body['id']}").json()["blue_green"]["checks"][0]
    assert (check["passed"], check["bundle"]["ok"], check["probes"]) == (True, True, [])


@pytest.mark.parametrize(
    "extra",
    [
        {"probes": ["javascript:alert(1)"]},
        {"probes": [f"http://h/{n}" for n in range(11)]},
        {"window_seconds": "five minutes"},
        {"probe_timeout": 120},
        {"phases": [{"percent": 50}]},
    ],
)
def test_bad_blue_green_input_is_400_and_starts_nothing(call, releases, extra):
    response = call("post", START, {"version": "1.1.0", "strategy": "blue_green", **extra})
    assert response.status_code == 400 and "error" in response.json()
    assert not Rollout.objects.filter(release__version="1.1.0").exists()


def test_a_canary_with_blue_green_fields_is_400(call, releases):
    response = call("post", START, {"version": "1.1.0", "window_seconds": 300})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_field")


def test_without_an_earlier_live_release_it_is_409(call, app, channel):
    publish(app, "1.0.0")
    response = call("post", START, {"version": "1.0.0", "strategy": "blue_green"})
    assert (response.status_code, response.json()["error"]) == (409, "no_blue_slot")


def test_the_document_lists_the_blue_green_fields():
    body = DOCUMENT["paths"]["/apps/{slug}/channels/{name}/rollouts"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert set(bluegreen.OPTION_FIELDS) <= set(schema["properties"])
    assert schema["properties"]["strategy"]["enum"] == ["canary", "blue_green"]


def test_the_document_describes_what_the_read_answers(call, releases):
    body = call("post", START, {"version": "1.1.0", "strategy": "blue_green"}).json()
    documented = DOCUMENT["components"]["schemas"]["BlueGreen"]["properties"]
    assert set(documented) == set(body["blue_green"])
