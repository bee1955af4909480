"""The fleet CI API: start a rolling deployment with a token, read it back."""

from __future__ import annotations

import pytest

from accounts.tokens import create_token
from fleet.models import Host, RollingDeployment
from tests.fleet.conftest import make_fleet


@pytest.fixture
def fleet(app, channel, v1):
    fleet = make_fleet(app, channel)
    Host.objects.create(fleet=fleet, name="h1", agent_url="http://127.0.0.1:1")
    return fleet


_names = iter(range(10**6))


def post(client, user, path, body):
    token = create_token(user, f"ci-{next(_names)}")[1] if user else ""
    headers = {"Authorization": f"Bearer {token}"} if user else {}
    return client.post(path, body, content_type="application/json", headers=headers)


def test_a_release_manager_starts_a_deployment(client, bob, fleet):
    response = post(client, bob, "/api/v1/fleets/web/deployments", {"version": "1.0.0"})
    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["hosts_total"], body["steps"][0]["host"]) == ("pending", 1, "h1")
    assert RollingDeployment.objects.get().started_by == bob


def test_a_viewer_token_is_forbidden(client, dave, fleet):
    response = post(client, dave, "/api/v1/fleets/web/deployments", {"version": "1.0.0"})
    assert (response.status_code, response.json()["error"]) == (403, "forbidden")


def test_no_token_is_401(client, fleet):
    assert (
        post(client, None, "/api/v1/fleets/web/deployments", {"version": "1.0.0"}).status_code
        == 401
    )


@pytest.mark.parametrize(
    "path,body,status,code",
    [
        ("/api/v1/fleets/nope/deployments", {"version": "1.0.0"}, 404, "not_found"),
        ("/api/v1/fleets/web/deployments", {"version": "9.9.9"}, 404, "not_found"),
        ("/api/v1/fleets/web/deployments", {}, 400, "invalid_field"),
        ("/api/v1/fleets/web/deployments", {"version": "1.0.0", "x": 1}, 400, "invalid_field"),
    ],
)
def test_bad_requests_get_a_json_error(client, bob, fleet, path, body, status, code):
    response = post(client, bob, path, body)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert not RollingDeployment.objects.exists()


def test_a_second_deployment_while_one_runs_is_409(client, bob, fleet):
    post(client, bob, "/api/v1/fleets/web/deployments", {"version": "1.0.0"})
    response = post(client, bob, "/api/v1/fleets/web/deployments", {"version": "1.0.0"})
    assert (response.status_code, response.json()["error"]) == (409, "deployment_active")


def test_a_viewer_reads_a_deployment(client, bob, dave, fleet):
    pk = post(client, bob, "/api/v1/fleets/web/deployments", {"version": "1.0.0"}).json()["id"]
    token = create_token(dave, "read")[1]
    response = client.get(
        f"/api/v1/fleet-deployments/{pk}", headers={"Authorization": f"Bearer {token}"}
    )
    assert (response.status_code, response.json()["fleet"]) == (200, "web")
