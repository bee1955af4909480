"""The flags CI API with a real token: create (dark), read, kill; errors are JSON."""

from __future__ import annotations

import json

import pytest

from accounts.tokens import create_token
from flags.models import Flag

_tokens: dict[int, str] = {}  # one token per person and test


@pytest.fixture(autouse=True)
def _fresh_tokens():
    _tokens.clear()


def call(client, user, method, path, data=None):
    if user.pk not in _tokens:
        _tokens[user.pk] = create_token(user, "ci")[1]
    raw = _tokens[user.pk]
    kwargs = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    if data is not None:
        kwargs |= {"data": json.dumps(data), "content_type": "application/json"}
    return getattr(client, method)(f"/api/v1/{path}", **kwargs)


def test_a_release_manager_creates_reads_and_kills_a_flag(client, channel, bob):
    body = {
        "key": "layout",
        "min_version": "1.1.0",
        "variants": [{"name": "A", "weight": 50}, {"name": "B", "weight": 50}],
        "testers": {"t-1": "B"},
    }
    created = call(client, bob, "post", "apps/shop/channels/production/flags", body)
    assert created.status_code == 201, created.content
    flag = created.json()
    assert (flag["key"], flag["state"], flag["percent"], flag["testers"]) == (
        "layout",
        "draft",
        0.0,
        1,
    )
    assert call(client, bob, "get", f"flags/{flag['id']}").json()["killed"] is False
    killed = call(client, bob, "post", f"flags/{flag['id']}/kill", {"reason": "bad"})
    assert killed.status_code == 200 and killed.json()["killed"] is True
    again = call(client, bob, "post", f"flags/{flag['id']}/kill", {"reason": "bad"})
    assert (again.status_code, again.json()["error"]) == (409, "already_killed")


def test_bad_input_is_a_json_400_naming_the_field(client, channel, bob):
    bad = call(
        client,
        bob,
        "post",
        "apps/shop/channels/production/flags",
        {"key": "x", "min_version": "1.1.0", "variants": [{"name": "on", "weight": 90}]},
    )
    assert bad.status_code == 400
    assert (bad.json()["error"], bad.json()["field"]) == ("invalid_variants", "variants")
    dup = {"key": "x", "min_version": "1.1.0"}
    assert call(client, bob, "post", "apps/shop/channels/production/flags", dup).status_code == 201
    conflict = call(client, bob, "post", "apps/shop/channels/production/flags", dup)
    assert (conflict.status_code, conflict.json()["error"]) == (409, "key_exists")
    assert Flag.objects.count() == 1
    missing = call(client, bob, "post", "apps/shop/channels/nightly/flags", dup)
    assert missing.status_code == 404


def test_a_viewer_reads_but_cannot_create_or_kill(client, flag, dave):
    assert call(client, dave, "get", f"flags/{flag.pk}").status_code == 200
    body = {"key": "y", "min_version": "1.1.0"}
    refused = call(client, dave, "post", "apps/shop/channels/production/flags", body)
    assert refused.status_code == 403
    assert call(client, dave, "post", f"flags/{flag.pk}/kill", {"reason": "x"}).status_code == 403
    assert client.get(f"/api/v1/flags/{flag.pk}").status_code == 401
